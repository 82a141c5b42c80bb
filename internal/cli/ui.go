package cli

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/ui"
)

func newUICmd(g *globals) *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:   "ui [SERVICE]",
		Short: "Print (or open) the address of the watching pets' status page",
		Long: `Print the address of the status page of the pets that watches this
Petsfile's services (pets up --watch, pets watch), or the named service,
with its access token: the page refuses requests without it. The token is
new for each watching pets and kept in the state directory, readable only
by you (ui-PID.token). With --open, open it in the browser too.

The page shows the services and their dependencies, each one's state,
freshness, address and last ready-in time, with a restart button; the last
rounds and their steps; the last Petsfile reload or its error; each
service's log tail, with a filter box. It listens on 127.0.0.1 only (port
10350, or the next free one; pets up --watch --ui-port N chooses, 0 turns it
off).`,
		Example: `  pets ui
  pets ui --open
  pets ui backend`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, st, err := g.readState()
			if err != nil {
				return err
			}
			w, err := g.uiWatcher(dir, st, args)
			if err != nil {
				return err
			}
			if w.UI == "" {
				return &petsfile.UsageError{Msg: fmt.Sprintf("the pets watching %s (pid %d) serves no status page", strings.Join(w.Services, ", "), w.PID),
					Hint: "it was started with --ui-port 0, or its page could not listen (its first lines say why)"}
			}
			token, err := ui.ReadToken(dir.Path, w.PID)
			if err != nil {
				return err
			}
			url := w.UI + "?token=" + token
			fmt.Fprintln(g.stdout, url)
			if open {
				if err := openBrowser(url); err != nil {
					fmt.Fprintf(g.stderr, "pets: could not open a browser (%v); open the address above\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&g.file, "file", "f", "", "path of the Petsfile (default: ./Petsfile or the nearest parent's)")
	cmd.Flags().BoolVar(&open, "open", false, "open the page in the browser")
	return cmd
}

// uiWatcher finds the watching pets of the named service, else of the
// Petsfile (else, outside any project, the only one there is).
func (g *globals) uiWatcher(dir *state.Dir, st *state.File, args []string) (state.Watcher, error) {
	if len(args) == 1 {
		key := args[0]
		if rec, ok := recordOf(st, key); ok {
			key = rec.Key()
		}
		w, ok, err := dir.WatcherOf(key)
		if err != nil {
			return state.Watcher{}, err
		}
		if !ok {
			return state.Watcher{}, &petsfile.UsageError{Msg: "no pets watches " + args[0], Hint: "start one with pets up --watch, or pets watch"}
		}
		return w, nil
	}
	live, err := dir.LiveWatchers()
	if err != nil {
		return state.Watcher{}, err
	}
	path, perr := g.petsfilePath()
	var mine []state.Watcher
	if perr == nil {
		for _, w := range live {
			if w.Petsfile == path {
				mine = append(mine, w)
			}
		}
	} else {
		mine = live
	}
	switch {
	case len(mine) == 1:
		return mine[0], nil
	case len(mine) == 0 && perr == nil:
		return state.Watcher{}, &petsfile.UsageError{Msg: "no pets watches the services of " + path, Hint: "start one with pets up --watch, or pets watch"}
	case len(mine) == 0:
		return state.Watcher{}, perr
	}
	var which []string
	for _, w := range mine {
		which = append(which, fmt.Sprintf("pid %d watches %s", w.PID, strings.Join(w.Services, ", ")))
	}
	return state.Watcher{}, &petsfile.UsageError{Msg: fmt.Sprintf("%d pets watch these services (%s)", len(mine), strings.Join(which, "; ")), Hint: "name a service: pets ui SERVICE"}
}

// openBrowser opens url in the user's browser, best effort: it does not
// wait for the browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}
