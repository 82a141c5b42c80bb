package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// DownAll stops the named recorded services (all when names is empty) and
// every recorded service that depends on them, dependents first. It says on w
// what it stops and how each ended.
func DownAll(ctx context.Context, dir *state.Dir, names []string, grace time.Duration, w io.Writer) error {
	f, err := dir.Read()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if len(names) == 0 && len(f.Services) == 0 {
		fmt.Fprintln(w, "Nothing is running.")
		return nil
	}
	if len(names) == 0 {
		for n := range f.Services {
			want[n] = true
		}
	}
	for _, n := range names {
		name := n
		if _, ok := f.Services[n]; !ok {
			// Accept the display name "name-tier" too.
			for _, s := range f.Services {
				if s.Key() == n {
					name = s.Name
				}
			}
		}
		if _, ok := f.Services[name]; !ok {
			var running []string
			for _, s := range f.Services {
				running = append(running, s.Key())
			}
			sort.Strings(running)
			hint := "nothing is running"
			if len(running) > 0 {
				hint = fmt.Sprintf("running: %v", running)
			}
			return &petsfile.UsageError{Msg: fmt.Sprintf("%s is not running", n), Hint: hint}
		}
		want[name] = true
		for _, d := range f.Dependents(name) {
			want[d] = true
		}
	}
	sorted := f.Sorted()
	var errs []error
	for i := len(sorted) - 1; i >= 0; i-- {
		rec := sorted[i]
		if !want[rec.Name] {
			continue
		}
		fmt.Fprintf(w, "Stopping %s\n", rec.Key())
		how, err := StopService(ctx, dir, rec, grace)
		for _, h := range how {
			if h == proc.Killed {
				fmt.Fprintf(w, "  %s ignored SIGTERM; killed after %s\n", rec.Key(), grace)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", rec.Key(), err))
		}
	}
	return errors.Join(errs...)
}
