package state

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/windmilleng/pets/proc"
)

// WatcherConflict is RegisterWatcher's refusal: a live watching pets already
// watches some of the services.
type WatcherConflict struct {
	PID      int      // the watching pets
	Services []string // the services both would watch
	Socket   string   // where that pets takes requests
}

func (e *WatcherConflict) Error() string {
	verb := "is"
	if len(e.Services) > 1 {
		verb = "are"
	}
	return fmt.Sprintf("%s %s already watched by pets (pid %d); stop that one first, or use pets restart / pets list, which talk to it",
		strings.Join(e.Services, ", "), verb, e.PID)
}

// RegisterWatcher records w, a watching pets, unless a live one already
// watches any of w.Services (then the error is a *WatcherConflict). Entries
// of watchers that have gone are dropped on the way. A zero w.Start is
// filled in from the running process, a zero w.Started with now. An entry
// with w's identity is replaced (a watcher that re-registers after its
// Petsfile changed). unregister removes the entry of w's identity.
func (d *Dir) RegisterWatcher(w Watcher) (unregister func() error, err error) {
	if w.PID <= 0 {
		return nil, fmt.Errorf("register watcher: no pid")
	}
	if w.Start == 0 {
		st, err := proc.StartTime(w.PID)
		if err != nil {
			return nil, fmt.Errorf("register watcher: start time of pid %d: %w", w.PID, err)
		}
		w.Start = st
	}
	if w.Started.IsZero() {
		w.Started = time.Now()
	}
	w.Services = slices.Clone(w.Services)
	err = d.Update(func(f *File) error {
		f.Watchers = live(f.Watchers)
		for _, o := range f.Watchers {
			if o.Identity == w.Identity {
				continue
			}
			var both []string
			for _, s := range w.Services {
				if slices.Contains(o.Services, s) {
					both = append(both, s)
				}
			}
			if len(both) > 0 {
				return &WatcherConflict{PID: o.PID, Services: both, Socket: o.Socket}
			}
		}
		f.Watchers = slices.DeleteFunc(f.Watchers, func(o Watcher) bool { return o.Identity == w.Identity })
		f.Watchers = append(f.Watchers, w)
		return nil
	})
	var conflict *WatcherConflict
	if errors.As(err, &conflict) {
		return nil, conflict
	}
	if err != nil {
		return nil, fmt.Errorf("register watcher: %w", err)
	}
	id := w.Identity
	return func() error {
		err := d.Update(func(f *File) error {
			f.Watchers = slices.DeleteFunc(live(f.Watchers), func(o Watcher) bool { return o.Identity == id })
			return nil
		})
		if err != nil {
			return fmt.Errorf("unregister watcher: %w", err)
		}
		return nil
	}, nil
}

// WatcherOf returns the live watcher that watches service ("name-tier").
func (d *Dir) WatcherOf(service string) (Watcher, bool, error) {
	ws, err := d.LiveWatchers()
	if err != nil {
		return Watcher{}, false, err
	}
	for _, w := range ws {
		if slices.Contains(w.Services, service) {
			return w, true, nil
		}
	}
	return Watcher{}, false, nil
}

// LiveWatchers returns the recorded watchers whose process still runs (pid
// and start time), in the order they registered.
func (d *Dir) LiveWatchers() ([]Watcher, error) {
	f, err := d.Read()
	if err != nil {
		return nil, err
	}
	return live(f.Watchers), nil
}

// live returns the watchers of ws whose process still runs.
func live(ws []Watcher) []Watcher {
	var out []Watcher
	for _, w := range ws {
		if proc.Alive(w.Identity) {
			out = append(out, w)
			continue
		}
		// Killed (kill -9) before it could remove its socket: remove it.
		if fi, err := os.Lstat(w.Socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(w.Socket)
		}
	}
	return out
}

// PruneWatchers forgets the watching pets that are gone (and removes their
// sockets).
func (d *Dir) PruneWatchers() error {
	return d.Update(func(f *File) error {
		f.Watchers = live(f.Watchers)
		return nil
	})
}
