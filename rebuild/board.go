package rebuild

import (
	"sync"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// board is the loop's sink: it passes every event on, and keeps from them
// each service's state (and why it is down) for status requests. It also
// says when a service goes stale or fresh, once per change of mind. It is
// used from the loop's goroutine and the round's.
type board struct {
	out events.Sink

	mu      sync.Mutex // guards the maps, keyed by display name ("name-tier")
	states  map[string]events.State
	before  map[string]events.State // the state before a build began
	why     map[string]string
	isStale map[string]bool
}

var _ events.Sink = (*board)(nil)

func newBoard(out events.Sink) *board {
	return &board{out: out, states: map[string]events.State{}, before: map[string]events.State{}, why: map[string]string{}, isStale: map[string]bool{}}
}

// init records the services that are up (values) or down at the start.
func (b *board) init(g *petsfile.Graph, values map[petsfile.Key]petsfile.Value, down map[petsfile.Key]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range g.Order {
		if down[k] {
			b.states[k.String()], b.why[k.String()] = events.Failed, "it failed to start"
		} else {
			b.states[k.String()] = events.Ready
		}
	}
}

// Emit passes e on, noting state changes.
func (b *board) Emit(e events.Event) {
	if k := e.Service; k != "" {
		b.mu.Lock()
		{
			switch e.Type {
			case events.ServiceStarting, events.ServiceReady, events.ServiceReused:
				b.states[k], b.why[k] = e.State, ""
			case events.ServiceBuilding:
				if st, ok := b.states[k]; ok {
					b.before[k] = st
				} else {
					b.before[k] = events.Stopped
				}
				b.states[k] = events.Building
			case events.BuildFailed:
				if b.before[k] == events.Ready {
					b.states[k], b.why[k] = events.Ready, "its build failed; still running the previous version"
				} else {
					b.states[k], b.why[k] = events.Failed, "its build failed: "+firstLine(e.Error)
				}
			case events.ServiceBackoff:
				b.states[k], b.why[k] = events.Backoff, e.Reason
			case events.ServiceFailed:
				b.states[k], b.why[k] = events.Failed, firstLine(e.Error)
			case events.ServiceCrashed:
				why := "its processes are gone"
				if e.Exit != "" {
					why = "it exited (" + e.Exit + ")"
				}
				b.states[k], b.why[k] = events.Crashed, why
			case events.ServiceStopped:
				delete(b.states, k)
				b.why[k] = e.Reason
				delete(b.isStale, k)
			}
		}
		b.mu.Unlock()
	}
	if b.out != nil {
		b.out.Emit(e)
	}
}

// state is k's state and why it is down.
func (b *board) state(k petsfile.Key) (events.State, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.states[k.String()]
	if !ok {
		why := b.why[k.String()]
		if why == "" {
			why = "not running"
		}
		return events.Stopped, why
	}
	return st, b.why[k.String()]
}

// stale says k runs what is no longer on disk (paths may be nil: its
// configuration), once until it is fresh again.
func (b *board) stale(k petsfile.Key, paths []string) {
	b.mu.Lock()
	was := b.isStale[k.String()]
	b.isStale[k.String()] = true
	b.mu.Unlock()
	if !was {
		e := events.Event{Type: events.ServiceStale, Service: k.String(), Freshness: events.Stale}
		e.SetFiles(paths)
		b.Emit(e)
	}
}

// fresh says k runs what is on disk again.
func (b *board) fresh(k petsfile.Key) {
	b.mu.Lock()
	was := b.isStale[k.String()]
	delete(b.isStale, k.String())
	b.mu.Unlock()
	if was {
		b.Emit(events.Event{Type: events.ServiceFresh, Service: k.String(), Freshness: events.Fresh})
	}
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
