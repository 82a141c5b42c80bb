// Package rebuild is the engine: given a resolved service graph it brings
// services up in dependency order, each waiting until the one before it is
// ready, and (in the watch loop) restarts the owners of changed files and
// bounces their dependents in the same order.
//
// It knows services, not files or processes: a Runner (implemented by the
// local supervisor in package supervise, wired in cmd/pets) does the work.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// Runner brings one service up or down.
type Runner interface {
	// Running returns the value of k if it is up and ready now.
	Running(ctx context.Context, k petsfile.Key) (petsfile.Value, bool)
	// Up starts k (replacing whatever runs under k's name) with its
	// dependencies' values, in deps order, and returns once it is ready.
	Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error)
	// Down stops k and waits until it is gone.
	Down(ctx context.Context, k petsfile.Key) error
}

// Event reports progress.
type Event struct {
	Key    petsfile.Key
	Kind   EventKind
	Took   time.Duration
	Err    error
	Reason string
}

// EventKind says what happened to a service.
type EventKind int

const (
	Reused  EventKind = iota // already up and ready; left alone
	Started                  // started and ready
	Failed                   // its provider or readiness failed
	Stopped                  // stopped during rollback
	Skipped                  // not started: a dependency failed (KeepGoing)
)

// Engine drives a Runner.
type Engine struct {
	Runner Runner
	Report func(Event) // may be nil
	// KeepGoing (for the watch loop): a failed service is reported and
	// skipped with its dependents, the rest still start, and nothing is
	// rolled back. Up then returns a *KeepGoingError listing the failures.
	KeepGoing bool
}

// KeepGoingError lists the services that failed, or were skipped because a
// dependency failed, in a KeepGoing Up.
type KeepGoingError struct {
	Failed  map[petsfile.Key]error
	Skipped []petsfile.Key
}

func (e *KeepGoingError) Error() string {
	var names []string
	for k := range e.Failed {
		names = append(names, k.String())
	}
	sort.Strings(names)
	return fmt.Sprintf("%d services failed to start: %s", len(names), strings.Join(names, ", "))
}

func (e *Engine) report(ev Event) {
	if e.Report != nil {
		e.Report(ev)
	}
}

// UpError is a failed Up: which service failed, and what was rolled back.
type UpError struct {
	Key        petsfile.Key
	Err        error
	RolledBack []petsfile.Key
}

func (e *UpError) Error() string { return fmt.Sprintf("%s failed: %v", e.Key, e.Err) }
func (e *UpError) Unwrap() error { return e.Err }

// Up brings g up in order. A service is reused when it is up and none of its
// dependencies was (re)started by this call; otherwise it is (re)started with
// its dependencies' current values. If one fails, everything this call
// started is stopped again, dependents first, and services that were already
// up are left alone.
func (e *Engine) Up(ctx context.Context, g *petsfile.Graph) (map[petsfile.Key]petsfile.Value, error) {
	values := map[petsfile.Key]petsfile.Value{}
	fresh := map[petsfile.Key]bool{}
	var started []petsfile.Key
	var kg *KeepGoingError
	for _, k := range g.Order {
		depFresh, depFailed := false, false
		deps := make([]petsfile.Value, len(g.Deps[k]))
		for i, d := range g.Deps[k] {
			deps[i] = values[d]
			depFresh = depFresh || fresh[d]
			if kg != nil {
				_, f := kg.Failed[d]
				depFailed = depFailed || f || slices.Contains(kg.Skipped, d)
			}
		}
		if depFailed {
			kg.Skipped = append(kg.Skipped, k)
			e.report(Event{Key: k, Kind: Skipped, Reason: "a dependency failed"})
			continue
		}
		if !depFresh {
			if v, ok := e.Runner.Running(ctx, k); ok {
				values[k] = v
				e.report(Event{Key: k, Kind: Reused})
				continue
			}
		}
		t0 := time.Now()
		v, err := e.Runner.Up(ctx, k, deps)
		if err != nil {
			e.report(Event{Key: k, Kind: Failed, Err: err, Took: time.Since(t0)})
			if e.KeepGoing && ctx.Err() == nil {
				if kg == nil {
					kg = &KeepGoingError{Failed: map[petsfile.Key]error{}}
				}
				kg.Failed[k] = err
				continue
			}
			rolled := e.rollback(started)
			return values, &UpError{Key: k, Err: err, RolledBack: rolled}
		}
		values[k] = v
		fresh[k] = true
		started = append(started, k)
		e.report(Event{Key: k, Kind: Started, Took: time.Since(t0)})
	}
	if kg != nil {
		return values, kg
	}
	return values, nil
}

// rollback stops started services in reverse order. It uses a fresh context:
// the caller's may be the reason for the rollback (Ctrl-C).
func (e *Engine) rollback(started []petsfile.Key) []petsfile.Key {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var done []petsfile.Key
	for i := len(started) - 1; i >= 0; i-- {
		k := started[i]
		err := e.Runner.Down(ctx, k)
		e.report(Event{Key: k, Kind: Stopped, Err: err, Reason: "rollback"})
		if err == nil || errors.Is(err, context.Canceled) {
			done = append(done, k)
		}
	}
	return done
}
