package rebuild

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// Executor carries plans out, one step at a time, in plan order, and emits
// an event for every state change. Its fields are set before use.
type Executor struct {
	Graph  *petsfile.Graph // whose Deps say what each service is started with
	Runner Runner
	Syncer Syncer  // may be nil: nothing syncs
	Owners []Owner // the services' sync rules, for seeding after a deploy
	Stamps Stamps  // may be nil: freshness is not recorded
	Events events.Sink
	// Lock, if set, is held around each step: the service's own lock, so
	// that a round and a pets up in another terminal never start the same
	// service at once.
	Lock func(ctx context.Context, k petsfile.Key) (unlock func(), err error)
	// FinishWithin is how long the step in hand may go on once ctx ends
	// (stopping half-way would leave a service neither running nor
	// recorded); after it, it is cancelled too. 0: cancelled at once.
	FinishWithin time.Duration
	// KeepGoing: a failed step skips only the steps that need it. Without
	// it, the first failure ends the plan: the rest is skipped.
	KeepGoing bool
	// Parallel bounds how many steps run at once (0: as many as the plan
	// allows; 1: one at a time, in plan order).
	Parallel int

	// began and ended (may be nil) are told, with its index, when a step
	// begins and when it has ended (the loop's view of a round in flight).
	began, ended func(i int)
}

// StepResult is how one step went.
type StepResult struct {
	Step
	Result   events.Result
	Took     time.Duration
	Err      error
	Skipped  string     // why it did not run ("api-local failed", "interrupted")
	Fallback string     // why a sync became a restart
	Synced   bool       // it synced (no restart)
	Report   SyncReport // what the sync did
	// BuildFailed says its build step failed: nothing else was done to
	// the service (what ran before still runs).
	BuildFailed bool
}

// Outcome is a plan carried out.
type Outcome struct {
	N     int
	Plan  Plan
	Steps []StepResult
	Took  time.Duration
}

// Failed returns the steps that failed.
func (o Outcome) Failed() []StepResult {
	var out []StepResult
	for _, s := range o.Steps {
		if s.Result == events.ResultFailed {
			out = append(out, s)
		}
	}
	return out
}

// Run carries out plan, numbered n for its events, updating values (the
// services' current values: a dependency's value is what its dependents are
// started with). Each step begins as soon as the steps it comes After have
// finished, side by side with the others that may (at most Parallel at a
// time); dependency order is kept exactly. When ctx ends, the steps in hand
// may finish (FinishWithin) and the others are skipped as interrupted; the
// first step always begins (the round was announced: a Ctrl-C that follows
// the announcement lets it finish).
func (x *Executor) Run(ctx context.Context, n int, plan Plan, values map[petsfile.Key]petsfile.Value) Outcome {
	t0 := time.Now()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	defer context.AfterFunc(ctx, func() {
		if x.FinishWithin <= 0 {
			cancelWork()
			return
		}
		x.emit(events.Event{Type: events.RoundInterrupted, Round: n, GraceMs: ms(x.FinishWithin),
			Reason: "pets is stopping; the step in progress may finish"})
		time.AfterFunc(x.FinishWithin, cancelWork)
	})()

	out := Outcome{N: n, Plan: plan, Steps: make([]StepResult, len(plan.Steps))}
	steps := plan.Steps
	defer x.prefork(steps)()
	finished := make([]bool, len(steps))
	begun := make([]bool, len(steps))
	var sh shared
	done := make(chan int)
	running, begunAny := 0, false
	stop := false // a failure ended the plan (without KeepGoing)
	limit := x.Parallel
	if limit <= 0 {
		limit = len(steps)
	}
	// ready says whether step i may begin: every step it comes after has
	// finished.
	ready := func(i int) bool {
		for _, j := range steps[i].After {
			if !finished[j] {
				return false
			}
		}
		return true
	}
	for {
		// Settle what can be settled without running: skips, and the
		// interrupted; begin what may begin.
		progress := true
		for progress {
			progress = false
			for i, s := range steps {
				if finished[i] || begun[i] || !ready(i) {
					continue
				}
				r := StepResult{Step: s}
				for _, j := range s.Needs {
					switch res := out.Steps[j].Result; {
					case res == events.ResultFailed:
						r.Skipped = steps[j].Key.String() + " failed"
					case (res == events.ResultSkipped || res == events.ResultInterrupted) && r.Skipped == "":
						r.Skipped = steps[j].Key.String() + " did not run"
					}
				}
				switch {
				case ctx.Err() != nil && begunAny:
					r.Result, r.Skipped = events.ResultInterrupted, "interrupted"
				case stop:
					r.Result, r.Skipped = events.ResultSkipped, "an earlier step failed"
				case r.Skipped != "":
					r.Result = events.ResultSkipped
				case running >= limit:
					continue
				default:
					begun[i], begunAny = true, true
					running++
					if x.began != nil {
						x.began(i)
					}
					go func(i int, r StepResult) { // owned by Run: it waits for every step to finish
						x.step(ctx, work, n, &r, values, &sh)
						out.Steps[i] = r
						done <- i
					}(i, r)
					continue
				}
				out.Steps[i], finished[i], progress = r, true, true
				if x.ended != nil {
					x.ended(i)
				}
			}
		}
		if running == 0 {
			break
		}
		i := <-done
		running--
		finished[i] = true
		if out.Steps[i].Result == events.ResultFailed && !x.KeepGoing {
			stop = true
		}
		if x.ended != nil {
			x.ended(i)
		}
	}
	sh.keeps.Wait()
	out.Took = time.Since(t0)
	return out
}

// Round carries out plan as round n (see Run), and emits round.planned
// before and round.finished after it (why is their reason: "files changed",
// "reload", "pets restart"); an empty plan is no round.
func (x *Executor) Round(ctx context.Context, n int, why string, plan Plan, values map[petsfile.Key]petsfile.Value) Outcome {
	out, finished := x.round(ctx, n, why, plan, values)
	if finished != nil {
		x.emit(*finished)
	}
	return out
}

// round is Round but for round.finished, which it returns (nil: no
// round) for the caller to emit once it has taken the outcome in (the
// watch loop: so that what a reader asks after round.finished, freshness
// included, already counts the round).
func (x *Executor) round(ctx context.Context, n int, why string, plan Plan, values map[petsfile.Key]petsfile.Value) (Outcome, *events.Event) {
	if len(plan.Steps) == 0 {
		return Outcome{N: n, Plan: plan}, nil
	}
	ev := events.Event{Type: events.RoundPlanned, Round: n, Steps: stepEvents(plan.Steps, nil), Reason: why}
	ev.SetFiles(plan.Paths)
	x.emit(ev)
	out := x.Run(ctx, n, plan, values)
	ev = events.Event{Type: events.RoundFinished, Round: n, Steps: stepEvents(plan.Steps, out.Steps), TookMs: ms(out.Took), Reason: why}
	ev.SetFiles(plan.Paths)
	return out, &ev
}

// prefork tells a Runner that is a Preforker which services steps will
// start, restart or bounce (first: those of steps that begin at once), and
// returns what lets go of what it got ready and no step took (for Run to
// call when the round ends).
func (x *Executor) prefork(steps []Step) (drop func()) {
	p, ok := x.Runner.(Preforker)
	if !ok {
		return func() {}
	}
	var first, later []petsfile.Key
	for _, s := range steps {
		switch {
		case s.Kind != events.StepStart && s.Kind != events.StepRestart && s.Kind != events.StepBounce:
		case len(s.After) == 0:
			first = append(first, s.Key)
		default:
			later = append(later, s.Key)
		}
	}
	if len(first)+len(later) == 0 {
		return func() {}
	}
	return p.PreforkNext(first, later)
}

// shared is what the steps of one Run share.
type shared struct {
	mu    sync.Mutex     // guards values while steps run side by side
	keeps sync.WaitGroup // the stamps being recorded (see up)
}

// step carries out one step on work (a context that outlives ctx for a
// while), filling r.
func (x *Executor) step(ctx, work context.Context, n int, r *StepResult, values map[petsfile.Key]petsfile.Value, sh *shared) {
	if x.Lock != nil {
		unlock, err := x.Lock(work, r.Key)
		if err != nil {
			r.Result, r.Err = events.ResultFailed, err
			return
		}
		defer unlock()
	}
	k := r.Key
	if rc, ok := x.Runner.(Recorder); ok && r.Running && !rc.Recorded(k)[k] {
		// pets down stopped it after the round was planned: a restart,
		// bounce or sync would start it again.
		r.Result, r.Skipped = events.ResultSkipped, "stopped meanwhile by pets down"
		return
	}
	st := time.Now()
	defer func() { r.Took = time.Since(st) }()
	switch r.Kind {
	case events.StepStop:
		err := x.Runner.Down(work, k)
		sh.mu.Lock()
		delete(values, k)
		sh.mu.Unlock()
		r.Result, r.Err = result(ctx, err), err
		if err == nil {
			x.emit(events.Event{Type: events.ServiceStopped, Service: k.String(), State: events.Stopped, Round: n, Reason: r.Reason})
		}
		return
	case events.StepSync:
		if r.Step.Build && !x.build(work, n, r) {
			return
		}
		if x.sync(work, n, r) {
			return
		}
		if r.Step.Build {
			return // a sync of a build's outputs failed: a redeploy would not help (and is never done)
		}
		// Fall back to a restart; r.Fallback says why.
	default:
		if r.Step.Build && !x.build(work, n, r) {
			return
		}
	}
	if x.Syncer != nil && r.Step.Fallback != "" {
		// A change outside its sync rules: these files are not synced,
		// and a pod that outlives the restart still needs their deletions.
		x.Syncer.Changed(k, r.Paths)
	}
	x.up(ctx, work, n, r, values, sh)
}

// build runs r's service's build step; false (r set failed) if it failed:
// what ran before still runs.
func (x *Executor) build(work context.Context, n int, r *StepResult) bool {
	k := r.Key
	x.emit(events.Event{Type: events.ServiceBuilding, Service: k.String(), State: events.Building, Round: n, Reason: r.Reason})
	st := time.Now()
	err := x.Runner.Build(work, k)
	if err == nil {
		return true
	}
	r.Result, r.Err, r.BuildFailed = events.ResultFailed, err, true
	x.emit(events.Event{Type: events.BuildFailed, Service: k.String(), Round: n, Error: err.Error(), TookMs: ms(time.Since(st))})
	return false
}

// sync syncs a sync step's files (and, after a build, the build's outputs
// the rules cover); false (with r.Fallback set) if it failed.
func (x *Executor) sync(work context.Context, n int, r *StepResult) bool {
	k := r.Key
	var keep func()
	if x.Stamps != nil {
		keep = x.Stamps.Take(k, r.Paths, false)
	}
	files := r.Step.Sync
	if r.Step.Build {
		files = withOutputs(files, x.owner(k).BuildOutputs)
	}
	rep, err := x.Syncer.Sync(work, k, files)
	if err != nil {
		r.Fallback = "sync failed: " + oneLine(err)
		slog.Debug("rebuild: sync failed", "service", k, "err", err)
		x.emit(events.Event{Type: events.SyncFailed, Service: k.String(), Round: n, Error: err.Error(), Reason: r.Reason})
		return false
	}
	if keep != nil {
		keep()
		x.Stamps.Pods(k, x.Syncer.Holding(k, x.rules(k)))
	}
	r.Result, r.Synced, r.Report = events.ResultOK, true, rep
	x.emit(events.Event{Type: events.SyncDone, Service: k.String(), Round: n, Reason: r.Reason, TookMs: ms(rep.Took), Sync: rep.Info()})
	return true
}

// up (re)starts r's service with its dependencies' current values, then
// seeds its pods if it has sync rules.
func (x *Executor) up(ctx, work context.Context, n int, r *StepResult, values map[petsfile.Key]petsfile.Value, sh *shared) {
	k := r.Key
	rules := x.rules(k)
	syncs := x.Syncer != nil && len(rules) > 0
	gate, keep := x.begin(n, r, syncs)
	// A syncing service's pods get its files as soon as they are ready,
	// while it starts: an image may hold no application code at all (the
	// files bring it), and then it could not become ready without them.
	type seeded struct {
		rep SyncReport
		err error
	}
	var early chan seeded
	seedCtx, stopSeed := context.WithCancel(work)
	defer stopSeed()
	if syncs {
		early = make(chan seeded, 1)
		go func() { // owned by up: it waits for it below, or cancels it
			rep, err := x.Syncer.Seed(seedCtx, k, x.seedFiles(k))
			early <- seeded{rep, err}
		}()
	}
	sh.mu.Lock()
	deps := x.depValues(k, values)
	sh.mu.Unlock()
	st := time.Now()
	var v petsfile.Value
	var err error
	if gate != nil {
		v, err = x.Runner.(Gater).UpAfter(work, k, deps, gate)
		<-gate // *keep is set
	} else {
		v, err = x.Runner.Up(work, k, deps)
	}
	took := time.Since(st)
	if err != nil {
		stopSeed()
		if early != nil {
			<-early
		}
		r.Result, r.Err = result(ctx, err), err
		x.emit(events.Event{Type: events.ServiceFailed, Service: k.String(), State: events.Failed, Round: n, Error: err.Error(), TookMs: ms(took)})
		return
	}
	sh.mu.Lock()
	values[k] = v
	sh.mu.Unlock()
	r.Result = events.ResultOK
	switch keep := *keep; {
	case keep != nil && early != nil:
		keep() // before the seed below records which pods hold the files
	case keep != nil:
		// Recorded while the dependents start (it writes a manifest and
		// state.json): Run waits for it before it returns, so the round's
		// end counts it.
		sh.keeps.Add(1)
		go func() { // owned by Run: it waits for sh.keeps
			defer sh.keeps.Done()
			keep()
		}()
	}
	x.emit(events.Event{Type: events.ServiceReady, Service: k.String(), State: events.Ready, Round: n, TookMs: ms(took), Host: v.Host(), PID: v.PID})
	if early != nil {
		// The pods that replaced the old ones, if the early seed gave its
		// files to old ones (a redeploy), get them now.
		first := <-early
		rep, err := x.Syncer.Seed(work, k, x.seedFiles(k))
		rep = first.rep.Add(rep)
		if first.err != nil && err == nil && len(rep.Pods) == 0 {
			err = first.err
		}
		if x.Stamps != nil {
			x.Stamps.Pods(k, x.Syncer.Holding(k, rules))
		}
		if err != nil {
			x.emit(events.Event{Type: events.SyncFailed, Service: k.String(), Round: n, Reason: "syncing its files at deploy failed (pets tries again at the next sync)", Error: err.Error()})
			return
		}
		x.emit(events.Event{Type: events.SyncDone, Service: k.String(), Round: n, Reason: "at deploy", TookMs: ms(rep.Took), Sync: rep.Info()})
	}
}

// begin notes what r's step starts from (Stamps.Take; *keep records it) and
// says the step starts, before the new instance starts: while the old one
// stops (gate is closed once both are done), where the runner can do that
// (Gater) and the service syncs no pods (syncs); else now (gate is nil).
func (x *Executor) begin(n int, r *StepResult, syncs bool) (gate chan struct{}, keep *func()) {
	k := r.Key
	keep = new(func())
	note := func() {
		if x.Stamps != nil {
			// Without the changed paths (a start, a requested restart,
			// lost events), the whole watch set is read again; a bounce
			// reads what its last stamp says plus nothing new.
			*keep = x.Stamps.Take(k, r.Paths, len(r.Paths) == 0 && r.Kind != events.StepBounce)
		}
		if syncs {
			x.Syncer.Deployed(k)
		}
		x.emit(events.Event{Type: events.ServiceStarting, Service: k.String(), State: events.Starting, Round: n, Reason: reason(r)})
	}
	if _, gated := x.Runner.(Gater); !gated || syncs {
		note()
		return nil, keep
	}
	gate = make(chan struct{})
	go func() { // owned by up: it waits for gate
		defer close(gate)
		note()
	}()
	return gate, keep
}

// depValues returns the current values of k's dependencies, in deps order.
func (x *Executor) depValues(k petsfile.Key, values map[petsfile.Key]petsfile.Value) []petsfile.Value {
	deps := x.Graph.Deps[k]
	out := make([]petsfile.Value, len(deps))
	for i, d := range deps {
		out[i] = values[d]
	}
	return out
}

func (x *Executor) rules(k petsfile.Key) []petsfile.SyncRule { return x.owner(k).Sync }

// seedFiles is what a seed of k sends: its rules' trees, plus the build
// outputs they cover as they are now.
func (x *Executor) seedFiles(k petsfile.Key) []RuleFiles { return seedFiles(x.owner(k)) }

func seedFiles(o Owner) []RuleFiles {
	files := make([]RuleFiles, len(o.Sync))
	for i, r := range o.Sync {
		files[i].Rule = r
	}
	if len(o.BuildOutputs) > 0 {
		files = withOutputs(files, o.BuildOutputs)
	}
	return files
}

func (x *Executor) owner(k petsfile.Key) Owner {
	for _, o := range x.Owners {
		if o.Key == k {
			return o
		}
	}
	return Owner{}
}

// withOutputs adds to each rule's files the files the globs outputs match
// now (a build's outputs) that it covers.
func withOutputs(files []RuleFiles, outputs []string) []RuleFiles {
	var found []string
	for _, g := range outputs {
		ms, _ := doublestar.FilepathGlob(filepath.FromSlash(g), doublestar.WithFilesOnly())
		found = append(found, ms...)
	}
	out := make([]RuleFiles, len(files))
	for i, rf := range files {
		split, _ := Cover([]petsfile.SyncRule{rf.Rule}, found)
		out[i] = RuleFiles{Rule: rf.Rule, Paths: dedupe(append(append([]string(nil), rf.Paths...), split[0].Paths...))}
	}
	return out
}

func (x *Executor) emit(e events.Event) {
	if x.Events != nil {
		x.Events.Emit(e)
	}
}

// reason is why a step (re)starts its service, for its starting event.
func reason(r *StepResult) string {
	if r.Fallback != "" && !strings.Contains(r.Reason, "outside its sync rules") {
		return r.Reason + " (" + r.Fallback + ")"
	}
	return r.Reason
}

// result is how a step that returned err ended: interrupted if ctx ended.
func result(ctx context.Context, err error) events.Result {
	switch {
	case err == nil:
		return events.ResultOK
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return events.ResultInterrupted
	}
	return events.ResultFailed
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// oneLine makes an error one line for a round's report: a multi-line error
// (an exec's script, then advice) is told by its last line, the advice.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
