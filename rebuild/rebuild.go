// Package rebuild is the engine. It decides, and carries out, everything
// pets does to services: bringing a graph up (pets up), each round of the
// watch loop (the owners of changed files restarted or synced, their
// dependents bounced in dependency order), Petsfile reloads, pets restart.
//
// A round is data before it is action: Decide is a pure function from what
// changed (files, crashes, requests, the configuration) to a Plan of steps
// with their reasons and the edges between them; an Executor carries the
// plan out and emits an event (package events) for every state change. The
// watch session (Session) feeds the loop (Loop) with batches of changed
// files, Petsfile reloads and requests; the loop holds the pending changes
// and runs one round at a time.
//
// It knows services, not files or processes: a Runner (the local
// supervisor, package supervise), a Syncer (package sync) and a Stamps
// (package fresh) do the work, behind the small interfaces below; cmd/pets
// wires them.
package rebuild

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// Runner brings one service up or down.
type Runner interface {
	// Check says how k is (without changing it), and its value if it runs.
	Check(ctx context.Context, k petsfile.Key) (petsfile.Value, Health)
	// Alive is the cheap check the watch loop runs between rounds: whether
	// k's processes still run (without connecting to it); if not, exit says
	// how its main process ended ("" where that is not known).
	Alive(ctx context.Context, k petsfile.Key) (alive bool, exit string)
	// Build runs k's build step (nil if it has none) while whatever runs
	// under k's name keeps running; it returns its failure with the end of
	// its output.
	Build(ctx context.Context, k petsfile.Key) error
	// Up starts k (replacing whatever runs under k's name) with its
	// dependencies' values, in deps order, and returns once it is ready.
	Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error)
	// Down stops k and waits until it is gone.
	Down(ctx context.Context, k petsfile.Key) error
}

// Recorder is a Runner that can say, without connecting to them, which of
// keys are recorded (running, starting or failed): not those pets down has
// stopped. One call reads the record once.
type Recorder interface {
	Recorded(keys ...petsfile.Key) map[petsfile.Key]bool
}

// Gater is a Runner whose Up can stop what runs under k's name before the
// step is ready to start the new instance: it starts nothing before gate
// is closed. The executor notes what the step starts from and says it is
// starting while the old instance stops.
type Gater interface {
	UpAfter(ctx context.Context, k petsfile.Key, deps []petsfile.Value, gate <-chan struct{}) (petsfile.Value, error)
}

// Preforker is a Runner that can get ready, before a round's first step,
// for the starts the round will make (supervise: each one's next waiter,
// forked and held), so that each overlaps the steps before its own: first
// are those of the steps that begin at once, got ready now; later those of
// the steps that wait for others, got ready one after another in the
// background (many at once would take the cores the first steps need).
// drop lets go of what no start took; the round calls it when it ends.
type Preforker interface {
	PreforkNext(first, later []petsfile.Key) (drop func())
}

// Health is how a service is, as its Runner sees it.
type Health int

const (
	Absent    Health = iota // not running (never started, or stopped)
	Healthy                 // up and ready, started from its current definition
	Redefined               // up and ready, but its definition changed since it started
	Dead                    // recorded, but its processes are gone (it crashed, or failed to start)
)

// Syncer copies changed files into a running service (its Kubernetes
// pods) instead of restarting it, and keeps the pods in step with what the
// service was deployed with. Implemented by package sync.
type Syncer interface {
	// Sync sends each rule's files (absolute; deleted ones are deleted)
	// into its pods, runs the rules' triggered commands and restarts the
	// container process if a rule asks.
	Sync(ctx context.Context, k petsfile.Key, files []RuleFiles) (SyncReport, error)
	// Changed records paths of k that changed but are not synced (the
	// service restarts instead): a pod that outlives the restart still
	// needs their deletions.
	Changed(k petsfile.Key, paths []string)
	// Deployed says k's provider is about to run again: its pods may hold
	// the image's files.
	Deployed(k petsfile.Key)
	// Seed sends each rule's whole tree, and the Paths given with it (a
	// build's outputs, which ignore files may exclude from the tree), into
	// the pods of k that do not hold them since k was deployed.
	Seed(ctx context.Context, k petsfile.Key, files []RuleFiles) (SyncReport, error)
	// Follow keeps k's pods in step as they are replaced (a new pod gets
	// the trees as soon as it is ready) until ctx ends; report is told of
	// each new pod served, or of a problem.
	Follow(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule, report func(SyncReport, error)) error
	// Holding says which pods hold the trees, as a stamp records them
	// (opaque to the engine; see Stamps.Pods).
	Holding(k petsfile.Key, rules []petsfile.SyncRule) []string
	// Unseeded lists the ready pods of k's rules that do not hold their
	// trees (yet): what runs there is not what is on disk.
	Unseeded(ctx context.Context, k petsfile.Key, rules []petsfile.SyncRule) ([]string, error)
}

// SyncReport says what a sync did.
type SyncReport struct {
	Files int      // files copied
	Gone  int      // files deleted
	Pods  []string // namespace/name of each pod written to
	Ran   []string // commands run in the containers ("restart": the process was restarted)
	Took  time.Duration
}

// Add is r and o together.
func (r SyncReport) Add(o SyncReport) SyncReport {
	return SyncReport{Files: r.Files + o.Files, Gone: r.Gone + o.Gone, Pods: append(append([]string(nil), r.Pods...), o.Pods...),
		Ran: append(append([]string(nil), r.Ran...), o.Ran...), Took: r.Took + o.Took}
}

// Info is the report as the events schema has it.
func (r SyncReport) Info() *events.SyncInfo {
	pods := append([]string(nil), r.Pods...)
	sort.Strings(pods)
	return &events.SyncInfo{Files: r.Files, Deleted: r.Gone, Pods: compact(pods), Ran: r.Ran}
}

func compact(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// Stamps keeps what each running instance was started or synced from, so
// that pets can tell whether what runs is what is on disk. Implemented by
// package fresh.
type Stamps interface {
	// Take notes k's watch set as it is now, before a step reads it: paths
	// are the files known to have changed since k's last stamp (all: they
	// are unknown). It may return an older snapshot, never one that vouches
	// for newer content than the step read (a snapshot taken after the step
	// marks what changed since as unsure). The returned keep records the
	// stamp once the step has succeeded (possibly later, for a first step
	// whose snapshot is taken after the start).
	Take(k petsfile.Key, paths []string, all bool) (keep func())
	// Drift says which files of k's watch set and configuration differ on
	// disk from what k was started or synced from; known is false when pets
	// cannot tell (no stamp, or one of an older pets).
	Drift(ctx context.Context, k petsfile.Key) (files []string, known bool, err error)
	// Pods records which pods hold k's sync rules' trees (Syncer.Holding)
	// in k's stamp, so that a replaced pod is found stale without a pets
	// watching.
	Pods(k petsfile.Key, holding []string)
	// Known says whether k has a stamp at all (a record of an older pets
	// has none: what it runs is unknown until its next start).
	Known(k petsfile.Key) bool
}

// Engine brings a graph up: pets up, and a watch session's first start.
type Engine struct {
	Runner Runner
	Syncer Syncer // may be nil
	Owners []Owner
	Stamps Stamps // may be nil
	Events events.Sink
	// KeepGoing (for the watch loop): a failed service is reported and
	// skipped with its dependents, the rest still start, and nothing is
	// rolled back. Up then returns a *KeepGoingError listing the failures.
	KeepGoing bool
	// Lock (may be nil) is held around each step: the service's lock.
	Lock func(ctx context.Context, k petsfile.Key) (unlock func(), err error)
	// Parallel bounds how many services start (or stop) at once (0: as
	// many as the graph allows: each as soon as what it depends on is
	// ready; 1: one at a time).
	Parallel int

	// Started are, after Up, the services it started that were not
	// running before (not those it restarted or bounced): what pets up
	// --watch stops on Ctrl-C. Unstarted are those it was to start (not
	// running before either) that failed or were skipped: whichever round
	// of the watch brings one up has started it too (Loop.Unstarted).
	Started, Unstarted map[petsfile.Key]bool
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
	what := "services"
	if len(names) == 1 {
		what = "service"
	}
	return fmt.Sprintf("%d %s failed to start: %s", len(names), what, strings.Join(names, ", "))
}

// UpError is a failed Up: which service failed, and what was rolled back.
type UpError struct {
	Key        petsfile.Key
	Err        error
	RolledBack []petsfile.Key
}

func (e *UpError) Error() string { return fmt.Sprintf("%s failed: %v", e.Key, e.Err) }
func (e *UpError) Unwrap() error { return e.Err }

// Up brings g up in order. A service is reused when it is up, runs its
// current definition (else it restarts), its files have not drifted since
// it started, and
// none of its dependencies was (re)started by this call; otherwise it is
// (re)started (or synced, if its drift is covered by its sync rules) with
// its dependencies' current values. If one fails, everything this call
// started is stopped again, dependents first, and services that were
// already up are left alone.
func (e *Engine) Up(ctx context.Context, g *petsfile.Graph) (map[petsfile.Key]petsfile.Value, error) {
	values := map[petsfile.Key]petsfile.Value{}
	in := Input{Graph: g, Owners: e.Owners, Start: map[petsfile.Key]string{}, Changed: map[petsfile.Key][]string{}, CanSync: e.Syncer != nil, Now: time.Now()}
	in.Redefined = map[petsfile.Key]bool{}
	reused := map[petsfile.Key]bool{}
	stamped := map[petsfile.Key]bool{} // reused, with a stamp to compare (else its freshness stays unknown)
	for _, k := range g.Order {
		v, h := e.Runner.Check(ctx, k)
		switch h {
		case Redefined:
			in.Redefined[k] = true
			continue
		case Healthy:
		default:
			in.Start[k] = "requested"
			continue
		}
		values[k] = v
		reused[k] = true
		if e.Stamps == nil {
			continue
		}
		files, known, err := e.Stamps.Drift(ctx, k)
		if err == nil && known {
			stamped[k] = true
			if len(files) > 0 {
				in.Changed[k] = files
			}
		}
	}
	plan := Decide(in)
	for i := range plan.Steps {
		s := &plan.Steps[i]
		if len(in.Changed[s.Key]) > 0 && s.Kind != events.StepBounce {
			s.Reason += " while no pets was watching"
		}
	}
	stepOf := map[petsfile.Key]bool{}
	for _, s := range plan.Steps {
		stepOf[s.Key] = true
	}
	for _, k := range g.Order {
		if reused[k] && !stepOf[k] {
			v := values[k]
			if stamped[k] {
				// It runs what the Petsfile now says (its definition is
				// unchanged) and what is on disk. (Without a stamp to
				// compare, pets cannot tell: it stays unknown.)
				e.Stamps.Take(k, nil, false)()
			}
			e.emit(events.Event{Type: events.ServiceReused, Service: k.String(), State: events.Ready, Host: v.Host(), PID: v.PID})
		}
	}
	x := &Executor{Graph: g, Runner: e.Runner, Syncer: e.Syncer, Owners: e.Owners, Stamps: e.Stamps, Events: e.Events, KeepGoing: e.KeepGoing, Lock: e.Lock, Parallel: e.Parallel}
	out := x.Run(ctx, 0, plan, values)
	var kg *KeepGoingError
	// What this call started, all of it before any failure is looked at:
	// side by side, a step after a failed one in the plan may have become
	// ready after the failure, and a rollback must stop it too.
	var started []petsfile.Key
	e.Started, e.Unstarted = map[petsfile.Key]bool{}, map[petsfile.Key]bool{}
	for _, r := range out.Steps {
		if r.Kind == events.StepStart {
			if r.Result == events.ResultOK {
				e.Started[r.Key] = true
			} else {
				e.Unstarted[r.Key] = true
			}
		}
		if r.Result == events.ResultOK && !r.Synced {
			started = append(started, r.Key)
		}
	}
	for _, r := range out.Steps {
		switch {
		case r.Result == events.ResultOK:
		case r.Result == events.ResultFailed || r.Result == events.ResultInterrupted && r.Err != nil:
			if !e.KeepGoing || ctx.Err() != nil {
				return values, &UpError{Key: r.Key, Err: r.Err, RolledBack: e.rollback(g, started)}
			}
			if kg == nil {
				kg = &KeepGoingError{Failed: map[petsfile.Key]error{}}
			}
			kg.Failed[r.Key] = r.Err
		case r.Result == events.ResultSkipped && kg != nil:
			kg.Skipped = append(kg.Skipped, r.Key)
		case r.Result == events.ResultInterrupted && !e.KeepGoing:
			return values, &UpError{Key: r.Key, Err: ctx.Err(), RolledBack: e.rollback(g, started)}
		}
	}
	if kg != nil {
		return values, kg
	}
	return values, nil
}

// Restart restarts keys and bounces the services of g that depend on them,
// in order: the round a watching pets would run for a change to their
// files (pets restart, with no pets watching). A service that is down
// starts.
func (e *Engine) Restart(ctx context.Context, g *petsfile.Graph, keys []petsfile.Key) Outcome {
	values := map[petsfile.Key]petsfile.Value{}
	down := map[petsfile.Key]bool{}
	for _, k := range g.Order {
		if v, h := e.Runner.Check(ctx, k); h == Healthy || h == Redefined {
			values[k] = v
		} else {
			down[k] = true
		}
	}
	restart := map[petsfile.Key]string{}
	for _, k := range keys {
		restart[k] = "restarted by pets restart"
	}
	plan := Decide(Input{Graph: g, Owners: e.Owners, Restart: restart, Down: down, Now: time.Now()})
	x := &Executor{Graph: g, Runner: e.Runner, Syncer: e.Syncer, Owners: e.Owners, Stamps: e.Stamps, Events: e.Events, KeepGoing: true, Lock: e.Lock, Parallel: e.Parallel}
	return x.Round(ctx, 0, "pets restart", plan, values)
}

// rollback stops started services, dependents first. It uses a fresh
// context: the caller's may be the reason for the rollback (Ctrl-C).
func (e *Engine) rollback(g *petsfile.Graph, started []petsfile.Key) []petsfile.Key {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plan := Decide(Input{Remove: started, Old: g})
	for i := range plan.Steps {
		plan.Steps[i].Reason = "rollback"
	}
	x := &Executor{Graph: g, Runner: e.Runner, Events: e.Events, KeepGoing: true, Lock: e.Lock, Parallel: e.Parallel}
	out := x.Run(ctx, 0, plan, map[petsfile.Key]petsfile.Value{})
	var done []petsfile.Key
	for _, r := range out.Steps {
		if r.Result == events.ResultOK {
			done = append(done, r.Key)
		}
	}
	return done
}

func (e *Engine) emit(ev events.Event) {
	if e.Events != nil {
		e.Events.Emit(ev)
	}
}
