package petsfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// loader evaluates files once each and detects load cycles. It is used by one
// goroutine (Load's); Starlark loads are sequential.
type loader struct {
	ctx     context.Context
	project *Project
	host    Host
	goCmd   string
	root    string // directory of the root Petsfile
	names   string // what display names are relative to (Options.NamesFrom, else root)
	cache   map[string]*entry
	stack   []string // display names of the files being evaluated, outermost first
	lock    *lockFile
}

type entry struct {
	globals starlark.StringDict
	err     error
	done    bool
}

const goGetScheme = "go-get://"

// displayName is how a file is named in positions: relative to
// Options.NamesFrom (else the root Petsfile's directory), unless the
// absolute path is shorter.
func (l *loader) displayName(abs string) string {
	if rel, err := filepath.Rel(l.names, abs); err == nil && len(rel) < len(abs) {
		return rel
	}
	return abs
}

// exec evaluates the file at abs (once per Load) and returns its globals.
func (l *loader) exec(abs string) (starlark.StringDict, error) {
	if e, ok := l.cache[abs]; ok {
		if !e.done {
			name := l.displayName(abs)
			chain := []string{name}
			for i := len(l.stack) - 1; i >= 0 && l.stack[i] != name; i-- {
				chain = append([]string{l.stack[i]}, chain...)
			}
			chain = append([]string{name}, chain...)
			return nil, fmt.Errorf("load cycle: %s", strings.Join(chain, " -> "))
		}
		return e.globals, e.err
	}
	e := &entry{}
	l.cache[abs] = e
	l.stack = append(l.stack, l.displayName(abs))
	e.globals, e.err = l.execUncached(abs)
	l.stack = l.stack[:len(l.stack)-1]
	e.done = true
	return e.globals, e.err
}

func (l *loader) execUncached(abs string) (starlark.StringDict, error) {
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read Petsfile: %w", err)
	}
	p := l.project
	name := l.displayName(abs)
	dir := filepath.Dir(abs)
	p.files[name] = abs
	p.srcs[name] = src
	p.Files = append(p.Files, abs)
	sum := sha256.Sum256(src)
	p.Sums[abs] = hex.EncodeToString(sum[:])

	thread := p.newThread(l.ctx, l.host, Key{})
	thread.Load = func(t *starlark.Thread, module string) (starlark.StringDict, error) {
		target, err := l.resolve(dir, module)
		if err != nil {
			return nil, err
		}
		return l.exec(target)
	}
	thread.SetLocal(localRegister, func(t *starlark.Thread, s *Service) error { return l.register(s) })

	var globals starlark.StringDict
	err = p.evaluate(l.ctx, thread, func() (err error) {
		globals, err = starlark.ExecFileOptions(fileOptions, thread, name, src, p.predeclared())
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, ok := globals["dir"]; !ok {
		globals["dir"] = starlark.String(dir)
	}
	globals.Freeze()
	return globals, nil
}

var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       false,
}

// schemePattern matches a module string that starts with a URL scheme.
var schemePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// resolve maps a load() module string, written in a file in dir, to the
// absolute path of a Petsfile. As in 2018 pets, a path without a scheme is
// relative to dir ("./" optional: "lib", "../shared", "../"), or absolute;
// a directory means its Petsfile.
func (l *loader) resolve(dir, module string) (string, error) {
	if strings.HasPrefix(module, goGetScheme) {
		modDir, err := l.goGet(strings.TrimPrefix(module, goGetScheme))
		if err != nil {
			return "", err
		}
		return petsfileIn(modDir, module)
	}
	if m := schemePattern.FindString(module); m != "" {
		return "", fmt.Errorf("load %q: unsupported scheme %q; load a path (relative to this file's directory, or absolute) or \"go-get://host/path\"", module, m)
	}
	if module == "" {
		return "", fmt.Errorf("load \"\": empty path; write a path relative to this file's directory, e.g. load(\"lib\", ...)")
	}
	p := filepath.FromSlash(module)
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return petsfileIn(p, module)
}

func petsfileIn(p, module string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("load %q: %w", module, err)
	}
	if fi.IsDir() {
		p = filepath.Join(p, FileName)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("load %q: the directory has no %s", module, FileName)
		}
	}
	return p, nil
}

func (l *loader) register(s *Service) error {
	p := l.project
	if prev, ok := p.services[s.Key]; ok {
		return fmt.Errorf("service %s is registered twice: first at %s, again at %s", s.Key, prev.Pos, s.Pos)
	}
	s.File = p.files[fileOf(s.Pos)]
	s.Dir = filepath.Dir(s.File)
	p.services[s.Key] = s
	p.order = append(p.order, s.Key)
	return nil
}

// fileOf returns the file part of a "file:line:col" position.
func fileOf(pos string) string {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos
	}
	j := strings.LastIndexByte(pos[:i], ':')
	if j < 0 {
		return pos[:i]
	}
	return pos[:j]
}
