package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

func (g *globals) openState() (*state.Dir, error) {
	dir := g.stateDir
	if dir == "" {
		var err error
		if dir, err = state.DefaultDir(); err != nil {
			return nil, err
		}
	}
	d, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	d.Removed = func() {
		fmt.Fprintf(g.stderr, "pets: %s was removed while pets ran; pets writes back what it had recorded there, so that no service it started runs unrecorded\n", d.Path+string(os.PathSeparator)+"state.json")
	}
	return d, nil
}

// petsfilePath is -f, else the Petsfile in the current directory or a
// parent: an absolute path, as the record and the watchers have it (a
// directory given with -f stands for its Petsfile). It is the one place a
// Petsfile's path is resolved: every command compares what it returns.
func (g *globals) petsfilePath() (string, error) {
	if g.file != "" {
		fi, err := os.Stat(g.file)
		if err != nil {
			return "", &petsfile.UsageError{Msg: "cannot read the Petsfile given with -f: " + err.Error(), Hint: "check the path"}
		}
		abs, err := filepath.Abs(g.file)
		if err != nil {
			return "", fmt.Errorf("resolve -f %s: %w", g.file, err)
		}
		if fi.IsDir() {
			abs = filepath.Join(abs, petsfile.FileName)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	p, err := petsfile.Find(wd)
	if errors.Is(err, petsfile.ErrNotFound) {
		return "", &petsfile.UsageError{
			Msg:  "no Petsfile in " + wd + " or any parent directory",
			Hint: "cd into your project, pass -f path/to/Petsfile, or try the example: make demo",
		}
	}
	return p, err
}

// loadProject evaluates the Petsfile. The pets binary hands the command
// over to pets-kube here when the Petsfile live-syncs into pods (nothing is
// started yet); pets-kube's first load then skips the top-level run() calls
// and the output that pets did already.
func (g *globals) loadProject(ctx context.Context, host petsfile.Host) (*petsfile.Project, error) {
	path, err := g.petsfilePath()
	if err != nil {
		return nil, err
	}
	out := &loadOutput{w: g.stderr, quiet: g.handedOver}
	if g.handedOver {
		g.handedOver = false
		host = ranAlready{host}
	}
	project, err := petsfile.Load(ctx, path, loadOptions(host, out))
	out.quiet = false
	if err == nil && needsKube(project) {
		if _, light := g.kube.(kubeBinary); light {
			return nil, handOver()
		}
	}
	return project, err
}

// loadOptions are every command's: positions name files as the user can
// open them from where pets runs (bad/Petsfile:3:5 for -f bad/Petsfile).
func loadOptions(host petsfile.Host, stderr io.Writer) petsfile.Options {
	wd, _ := os.Getwd() // "": relative to the Petsfile's directory
	return petsfile.Options{Host: host, Stderr: stderr, NamesFrom: wd}
}

// loadOutput is print()'s output: dropped while quiet (the first load of a
// command handed over, which pets printed already).
type loadOutput struct {
	w     io.Writer
	quiet bool // set only while Load runs, on the goroutine that calls it
}

func (o *loadOutput) Write(p []byte) (int, error) {
	if o.quiet {
		return len(p), nil
	}
	return o.w.Write(p)
}

// ranAlready is the top-level host of a Petsfile that pets evaluated just
// before it handed the command over: its run() calls succeeded there.
type ranAlready struct{ petsfile.Host }

func (ranAlready) Run(context.Context, petsfile.Command) error { return nil }

// readState opens the state directory and reads the record.
func (g *globals) readState() (*state.Dir, *state.File, error) {
	dir, err := g.openState()
	if err != nil {
		return nil, nil, err
	}
	f, err := dir.Read()
	return dir, f, err
}

// running returns the services of project that run now, by name, with the
// tier each runs at (sorted names): what pets watch and pets restart work
// on.
func running(project *petsfile.Project, st *state.File) (names []string, tiers map[string]string) {
	tiers = map[string]string{}
	for _, rec := range st.Services {
		if _, ok := project.Service(petsfile.Key{Name: rec.Name, Tier: rec.Tier}); ok {
			tiers[rec.Name] = rec.Tier
			names = append(names, rec.Name)
		}
	}
	sort.Strings(names)
	return names, tiers
}
