package rebuild

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// Changes is one debounced batch from the file watcher.
type Changes struct {
	Paths []string // absolute
	All   bool     // the watcher lost events: anything may have changed
	// Barriers are the barriers (see Loop.Barrier) whose sentinel the
	// watcher saw before this batch was handed over: every change made
	// before they were asked for is in this batch, an earlier one, or
	// their Pending.
	Barriers []Barrier
}

// Barrier is the watcher's answer to a barrier request.
type Barrier struct {
	ID      uint64
	Pending []string // changes seen but still in the watcher's open batch
	Err     string   // the barrier failed: the watcher could not tell
}

// Config is what the loop runs: a reload replaces it between rounds.
type Config struct {
	Graph  *petsfile.Graph
	Owners []Owner
	Skip   map[string]bool // paths owned by no service: the Petsfile and the files it loads
	Runner Runner
	Syncer Syncer // nil: nothing syncs
	Stamps Stamps // nil: freshness is not recorded
}

// Timing are the loop's time windows.
type Timing struct {
	// Settle is how long a reload that arrived waits before it is applied,
	// so that file batches from the same burst of writes (closing a quiet
	// window after the Petsfile's) join its round. 0: none.
	Settle time.Duration
	// CheckEvery is how often services are checked for crashes between
	// rounds; 0 means every second.
	CheckEvery time.Duration
	// FinishWithin bounds how long the step in hand may take to finish
	// once ctx ends (0: 10 seconds).
	FinishWithin time.Duration
}

// Request is a request from outside the loop: pets restart, pets list,
// pets wait (through the watching pets' socket).
type Request struct {
	Op    RequestOp
	Names []string // services, by name or display name ("name-tier"); none: every service the loop runs
	// Reply receives the answer, once: the restart's round when it has
	// finished, the status after a barrier, or the wait's outcome.
	Reply chan<- Reply
}

// RequestOp says what a Request asks.
type RequestOp int

const (
	// OpRestart restarts the services and bounces their dependents, in the
	// next round (after the round in progress, if any).
	OpRestart RequestOp = iota
	// OpStatus returns each service's state and freshness, counting every
	// change made before the request.
	OpStatus
	// OpWait replies once every service is ready and fresh, or at once
	// with an error when one is down and nothing is pending for it.
	OpWait
)

// Reply answers a Request.
type Reply struct {
	Status []Status
	Round  *Outcome // OpRestart: the round that restarted them
	Err    error
}

// Status is a service as the loop sees it.
type Status struct {
	Key       petsfile.Key
	State     events.State
	Freshness events.Freshness
	Files     []string // what differs (stale), sorted
	Reason    string   // why it is down, or stale without files
	Value     petsfile.Value
	Deps      []petsfile.Key // the services it depends on, in deps order
	Tier      string
}

// Loop restarts services as their files change: it takes batches of
// changed files, reloads and requests, plans a round for what is pending
// (Decide) and carries it out (Executor), one round at a time. Create it
// with the configuration that is up and the values of its services, then
// Run it.
type Loop struct {
	Config
	Values map[petsfile.Key]petsfile.Value // current values; owned by Run once it starts
	// Down are services that are down at the start (they failed to start):
	// like crashed ones, they start on their next change.
	Down map[petsfile.Key]bool
	// Started are the services this pets started (they were not running
	// before it): Run adds those its rounds start and forgets those they
	// stop. Unstarted are those it was to start (not running before it
	// either) and did not: a round that brings one up, whatever its step
	// (a reload restarts a changed service), moves it to Started.
	Started, Unstarted map[petsfile.Key]bool
	// Initial are changes made while no pets was watching (pets watch
	// attaching), InitialRestart services to restart for a reason of the
	// same kind: the first round takes them.
	Initial        map[petsfile.Key][]string
	InitialRestart map[petsfile.Key]string

	Changes <-chan Changes
	// Reloads (may be nil) brings new configurations, applied in order
	// between rounds. A nil Reload, or one with Err, says the Petsfile
	// changed but did not evaluate. Changes that came before a reload's
	// round join it: each service restarts once.
	Reloads <-chan *Reload
	// Coming (may be nil) says the Petsfile is being written (the first
	// event of its batch): batches wait for its reload (up to two
	// seconds), and join its round.
	Coming   <-chan struct{}
	Requests <-chan Request // may be nil
	// EnvChanges (may be nil) delivers the env files that changed: the
	// services that name them restart (in the next round).
	EnvChanges <-chan []string
	// Barrier (may be nil) asks the file watcher for a barrier: a later
	// Changes carries it (see Changes.Barriers).
	Barrier func(id uint64) error

	Events events.Sink
	// Lock (may be nil) is held around each step of a round: the
	// service's lock.
	Lock func(ctx context.Context, k petsfile.Key) (unlock func(), err error)
	// Parallel bounds how many steps of a round run at once (0: as many as
	// the graph allows; 1: one at a time).
	Parallel int
	Timing   Timing
}

// Run handles changes until ctx ends or the Changes channel closes, and
// returns once no round is running. Then l.Config and l.Values are the
// configuration that ran last and its services' values.
func (l *Loop) Run(ctx context.Context) error {
	r := l.start(ctx)
	defer r.check.Stop()
	if l.Started == nil {
		l.Started = map[petsfile.Key]bool{}
	}
	if l.Unstarted == nil {
		l.Unstarted = map[petsfile.Key]bool{}
	}
	defer func() { l.Config, l.Values = r.cfg, r.values }()
	if len(l.Initial)+len(l.InitialRestart) > 0 {
		for k, ps := range l.Initial {
			r.gen++
			r.coveredBy(k, ps, r.gen)
			r.pend.paths[k] = ps
		}
		for k, why := range l.InitialRestart {
			r.pend.restart[k] = why
		}
		in := r.input()
		r.pend = newPending()
		r.launch(Decide(in), nil, "changed while no pets was watching")
	}
	for {
		select {
		case c, ok := <-r.changes:
			if !ok {
				r.changes = nil
				break
			}
			r.changed(c)
		case rl, ok := <-r.reloads:
			if !ok {
				r.reloads = nil
				r.hold.closed()
				break
			}
			r.reloaded(rl)
		case <-r.coming:
			r.hold.expect(time.Now())
			r.configChanging()
		case <-r.holdTimer():
			r.holdT = nil
			r.hold.tick(time.Now())
		case <-r.backoffC:
			r.backoffC = nil // a crashed service's backoff is over: next plans its restart
		case q := <-l.Requests:
			r.request(q)
		case files := <-l.EnvChanges:
			r.envChanged(files)
		case d := <-r.done:
			r.finished(d)
		case <-r.check.C:
			r.checkCrashes()
		case <-ctx.Done():
			if r.inflight != nil {
				r.finished(<-r.done) // the round notices the cancellation and returns
			}
			r.closeRequests(ctx.Err())
			return ctx.Err()
		}
		r.releaseHeld()
		r.next()
		if r.inflight == nil && r.changes == nil {
			r.closeRequests(errors.New("the watch loop ended"))
			return nil
		}
	}
}

// run is one Run: everything in it is owned by Run's goroutine, except what
// flight and board guard themselves.
type run struct {
	l        *Loop
	ctx      context.Context
	cfg      Config
	values   map[petsfile.Key]petsfile.Value
	pend     pending
	down     map[petsfile.Key]bool
	hold     holder
	holdT    *time.Timer // fires at holdAt, the holder's deadline; nil if none
	holdAt   time.Time
	inflight *flight
	n        int
	done     chan roundDone
	check    *time.Ticker

	changes <-chan Changes
	reloads <-chan *Reload
	coming  <-chan struct{}

	board       *board
	gen         int                             // counts batches, for freshness (see board)
	dirty       map[petsfile.Key]map[string]int // changed paths not handled yet, with the gen they came in
	config      map[petsfile.Key]string         // services whose configuration is changing: why
	configFiles []string                        // the Petsfiles that changed, while any config entry is set
	away        map[petsfile.Key]bool           // stopped outside this pets (pets down): left alone until they run again
	buildFailed map[petsfile.Key]string         // whose last build failed, the previous version running: the error's first line
	unknown     map[petsfile.Key]bool           // no stamp (an older pets started it): what it runs is unknown until its next step
	crashes     map[petsfile.Key]Crash          // crashed services that restart by themselves, until they do
	lastStart   map[petsfile.Key]time.Time      // when each last became ready, for the backoff's reset
	announced   map[petsfile.Key]time.Time      // the backoff said of each (its restart time)
	backoffC    <-chan time.Time                // fires when the next backoff is over
	tries       map[petsfile.Key]int            // the attempt of each one's last crash
	barrier     uint64
	asked       map[uint64]Request // status and wait requests waiting for their barrier
	restarts    []pendingRestart
	waits       []Request // OpWait, after their barrier, until satisfied
}

type pendingRestart struct {
	q     Request
	round int // 0: not yet planned
}

// pending are the changes no round has taken yet.
type pending struct {
	paths   map[petsfile.Key][]string
	all     map[petsfile.Key]bool
	restart map[petsfile.Key]string
}

func newPending() pending {
	return pending{paths: map[petsfile.Key][]string{}, all: map[petsfile.Key]bool{}, restart: map[petsfile.Key]string{}}
}

func (p pending) empty() bool { return len(p.paths)+len(p.all)+len(p.restart) == 0 }

// flight is the round running. Its step marks are written by the round's
// goroutine and read by the loop's.
type flight struct {
	n      int
	plan   Plan
	reload *Reload
	gen    int // the batches up to this one were planned

	mu    sync.Mutex
	begun map[int]bool
	ended map[int]bool
}

// covers says whether k's step in this round has yet to begin and will
// read every file of k when it does (a start, restart or bounce: not a
// sync, which sends only the files it was planned with).
func (f *flight) covers(k petsfile.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.plan.Steps {
		if s.Key == k && !f.begun[i] && s.Kind != events.StepSync && s.Kind != events.StepStop {
			return true
		}
	}
	return false
}

// begunKeys are the services whose step has begun.
func (f *flight) begunKeys() map[petsfile.Key]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[petsfile.Key]bool{}
	for i := range f.begun {
		out[f.plan.Steps[i].Key] = true
	}
	return out
}

// inHand says whether k has a step in this round that has not ended.
func (f *flight) inHand(k petsfile.Key) bool { return f.stepOf(k) != "" }

// stepOf is the kind of k's step in this round that has not ended ("" if
// none).
func (f *flight) stepOf(k petsfile.Key) events.StepKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.plan.Steps {
		if s.Key == k && !f.ended[i] {
			return s.Kind
		}
	}
	return ""
}

type roundDone struct {
	out      Outcome
	values   map[petsfile.Key]petsfile.Value
	reload   *Reload
	finished *events.Event // round.finished, emitted once the loop has taken the round in
}

func (l *Loop) start(ctx context.Context) *run {
	every := l.Timing.CheckEvery
	if every == 0 {
		every = time.Second
	}
	r := &run{
		l: l, ctx: ctx, cfg: l.Config, values: l.Values,
		pend: newPending(), down: map[petsfile.Key]bool{},
		hold:    holder{settle: l.Timing.Settle},
		done:    make(chan roundDone, 1),
		check:   time.NewTicker(every),
		changes: l.Changes, reloads: l.Reloads, coming: l.Coming,
		board:       newBoard(l.Events),
		dirty:       map[petsfile.Key]map[string]int{},
		away:        map[petsfile.Key]bool{},
		buildFailed: map[petsfile.Key]string{},
		unknown:     map[petsfile.Key]bool{},
		crashes:     map[petsfile.Key]Crash{}, lastStart: map[petsfile.Key]time.Time{}, announced: map[petsfile.Key]time.Time{}, tries: map[petsfile.Key]int{},
		config: map[petsfile.Key]string{},
		asked:  map[uint64]Request{},
	}
	if r.values == nil {
		r.values = map[petsfile.Key]petsfile.Value{}
	}
	for k := range l.Down {
		r.down[k] = true
	}
	if r.cfg.Stamps != nil {
		for _, k := range r.cfg.Graph.Order {
			if !r.down[k] && !r.cfg.Stamps.Known(k) {
				r.unknown[k] = true
			}
		}
	}
	r.board.init(r.cfg.Graph, r.values, r.down)
	return r
}

// changed takes a batch: its owners become pending, unless a reload is due
// (then it is held for it).
func (r *run) changed(c Changes) {
	r.lookAway(c)
	r.gen++
	r.markDirty(c.Paths, c.All, r.gen)
	if c.All {
		r.emit(events.Event{Type: events.WatchOverflow})
	}
	if r.hold.holding() {
		var begun map[petsfile.Key]bool
		if r.inflight != nil && r.inflight.reload != nil {
			begun = r.inflight.begunKeys()
		}
		r.hold.hold(Changes{Paths: c.Paths, All: c.All}, begun)
	} else {
		r.take(c, nil)
	}
	for _, b := range c.Barriers {
		r.barrierSeen(b)
	}
}

// lookAway looks again (see look) at the services away (stopped by pets
// down) that own a file of c: one that runs again (pets up) takes the
// change, rather than wait for the next check.
func (r *run) lookAway(c Changes) {
	if len(r.away) == 0 {
		return
	}
	var keys []petsfile.Key
	owned := Own(r.cfg.Owners, r.cfg.Skip, c.Paths)
	for _, k := range r.cfg.Graph.Order {
		if _, ok := owned[k]; (ok || c.All) && r.away[k] {
			keys = append(keys, k)
		}
	}
	if r.look(keys) {
		r.answerWaits()
	}
}

// take makes a batch's owners pending, except those for which fresh says a
// reload's restart that began after the change covered them, and those the
// running round has yet to (re)start (it will read the edit).
func (r *run) take(c Changes, fresh map[petsfile.Key]bool) {
	var owned map[petsfile.Key][]string
	if c.All {
		owned = map[petsfile.Key][]string{}
		for _, k := range r.cfg.Graph.Order {
			owned[k] = nil
		}
	} else {
		owned = Own(r.cfg.Owners, r.cfg.Skip, c.Paths)
	}
	for k, ps := range owned {
		if r.away[k] {
			continue // stopped by pets down: its files do not start it again
		}
		if fresh[k] {
			r.clean(k, ps) // a reload's round restarted it after this change
			continue
		}
		if r.inflight != nil && r.inflight.covers(k) {
			r.coveredBy(k, ps, r.inflight.gen)
			continue
		}
		r.pend.paths[k] = append(r.pend.paths[k], ps...)
		if c.All {
			r.pend.all[k] = true
		}
	}
}

// reloaded takes a new configuration (nil or with Err: the Petsfile does
// not evaluate).
func (r *run) reloaded(rl *Reload) {
	if rl == nil || rl.Err != nil {
		r.hold.arrived(nil, time.Now())
		// The previous configuration keeps running: what it runs is not
		// what the Petsfile on disk says (it says nothing that works).
		why := "the Petsfile does not evaluate"
		if rl != nil {
			why += ": " + firstLine(rl.Err.Error())
			r.configFiles = dedupe(append(r.configFiles, rl.Files...))
		}
		for _, k := range r.cfg.Graph.Order {
			r.config[k] = why
			r.staleNow(k, nil)
		}
		r.answerWaits()
		return
	}
	r.hold.arrived(rl, time.Now())
}

// releaseHeld takes the held batches once nothing holds them any more.
func (r *run) releaseHeld() {
	for _, h := range r.hold.release() {
		r.take(h.c, h.fresh)
	}
}

// next starts a round if none runs and one is due: a reload that has
// settled, else the pending changes.
func (r *run) next() {
	if r.inflight != nil || r.ctx.Err() != nil {
		return
	}
	if rl := r.hold.due(); rl != nil {
		r.startReload(rl)
		return
	}
	if len(r.hold.queued) > 0 || r.pend.empty() && len(r.crashes) == 0 {
		return
	}
	why := "files changed"
	for _, reason := range r.pend.restart {
		if why == "files changed" || reason == "restarted by pets restart" {
			why = reason
		}
	}
	if why == "restarted by pets restart" {
		why = "pets restart"
	}
	only := r.pend.empty() // only crashed services restart
	plan := Decide(r.input())
	if r.recheck(plan) {
		plan = Decide(r.input())
	}
	r.hold1(plan.Holds)
	var crashed []string
	for _, s := range plan.Steps {
		if _, ok := r.crashes[s.Key]; ok && s.Kind == events.StepStart && len(s.Paths) == 0 {
			crashed = append(crashed, s.Key.String()+" "+s.Reason)
		}
		delete(r.crashes, s.Key) // restarting: no backoff to wait out
	}
	if len(plan.Steps) == 0 {
		return
	}
	if only {
		why = strings.Join(crashed, "; ")
	}
	r.pend = newPending()
	r.launch(plan, nil, why)
}

// hold1 announces the backoffs the plan holds (once each) and arms the
// timer for the first to end.
func (r *run) hold1(holds []Hold) {
	var first time.Time
	for _, h := range holds {
		if !r.announced[h.Key].Equal(h.Until) {
			r.announced[h.Key] = h.Until
			c := r.crashes[h.Key]
			r.emit(events.Event{Type: events.ServiceBackoff, Service: h.Key.String(), State: events.Backoff, Exit: c.Exit,
				DelayMs: ms(time.Until(h.Until)), Reason: h.Reason})
		}
		if first.IsZero() || h.Until.Before(first) {
			first = h.Until
		}
	}
	if !first.IsZero() {
		r.backoffC = time.After(time.Until(first))
	}
}

// input is the planner's input for the pending changes.
func (r *run) input() Input {
	return Input{
		Graph: r.cfg.Graph, Owners: r.cfg.Owners,
		Changed: r.pend.paths, Lost: r.pend.all, Restart: r.pend.restart,
		Down: r.down, Away: r.away, Crashed: r.crashes, CanSync: r.cfg.Syncer != nil, Now: time.Now(),
	}
}

// startReload applies a new configuration: removed services stop, added
// ones start, changed ones restart, with the changes that came before (held
// or pending) in the same round.
func (r *run) startReload(rl *Reload) {
	old := r.cfg.Graph
	syncer := r.cfg.Syncer
	r.cfg = rl.Config
	if r.cfg.Syncer == nil {
		r.cfg.Syncer = syncer
	}
	for _, k := range append(append([]petsfile.Key(nil), rl.Removed...), rl.Added...) {
		delete(r.down, k)
	}
	// What changed before this round joins it: pending changes of services
	// that remain, and held batches owned with the new owners.
	inGraph := map[petsfile.Key]bool{}
	for _, k := range r.cfg.Graph.Order {
		inGraph[k] = true
	}
	held := newPending()
	for k, ps := range r.pend.paths {
		if inGraph[k] {
			held.paths[k] = ps
		}
	}
	for k := range r.pend.all {
		if inGraph[k] {
			held.all[k] = true
		}
	}
	for k, why := range r.pend.restart {
		if inGraph[k] {
			held.restart[k] = why
		}
	}
	r.pend = newPending()
	for _, c := range r.hold.join(r.n + 1) { // launch numbers it r.n+1
		if c.All {
			for _, k := range r.cfg.Graph.Order {
				held.all[k] = true
			}
			continue
		}
		for k, ps := range Own(r.cfg.Owners, r.cfg.Skip, c.Paths) {
			held.paths[k] = append(held.paths[k], ps...)
		}
	}
	in := Input{
		Graph: r.cfg.Graph, Owners: r.cfg.Owners,
		Changed: held.paths, Lost: held.all, Restart: held.restart, Down: r.down, Away: r.away,
		Start: map[petsfile.Key]string{}, Redefined: map[petsfile.Key]bool{},
		Remove: rl.Removed, Old: old, CanSync: r.cfg.Syncer != nil, Now: time.Now(),
	}
	for _, k := range rl.Added {
		in.Start[k] = "added to the Petsfile"
	}
	for _, k := range rl.Changed {
		in.Redefined[k] = true
	}
	// Unchanged services run what the new configuration says.
	for _, k := range rl.Unchanged {
		if r.cfg.Stamps != nil && !r.down[k] {
			r.cfg.Stamps.Take(k, nil, false)()
		}
		r.configDone(k)
	}
	plan := Decide(in)
	if r.recheck(plan) {
		for k := range r.away {
			delete(held.paths, k)
			delete(held.all, k)
		}
		plan = Decide(in) // in's Down and Away are r's: looked at again
	}
	why := "reload"
	if rl.Same {
		why = "files changed" // nothing to report of the reload: the round is the held changes'
	}
	r.launch(plan, rl, why)
}

// launch starts a round for plan on its own goroutine (a reload's even if
// the plan is empty, to report the reload in order).
func (r *run) launch(plan Plan, rl *Reload, why string) {
	if len(plan.Steps) == 0 && rl == nil {
		return
	}
	if rc, ok := r.cfg.Runner.(Recorder); ok {
		keys := make([]petsfile.Key, len(plan.Steps))
		for i, s := range plan.Steps {
			keys[i] = s.Key
		}
		recorded := rc.Recorded(keys...)
		for i, s := range plan.Steps {
			// What pets down stops from now on is not started again by
			// this round. (A service not recorded now, one that never
			// started or that pets down stopped before, is started.)
			plan.Steps[i].Running = s.Kind != events.StepStart && s.Kind != events.StepStop && recorded[s.Key]
		}
	}
	r.n++
	f := &flight{n: r.n, plan: plan, reload: rl, gen: r.gen, begun: map[int]bool{}, ended: map[int]bool{}}
	r.inflight = f
	for i := range r.restarts {
		if r.restarts[i].round == 0 {
			r.restarts[i].round = r.n
		}
	}
	values := make(map[petsfile.Key]petsfile.Value, len(r.values))
	for k, v := range r.values {
		values[k] = v
	}
	within := r.l.Timing.FinishWithin
	if within == 0 {
		within = 10 * time.Second
	}
	x := &Executor{
		Graph: r.cfg.Graph, Runner: r.cfg.Runner, Syncer: r.cfg.Syncer, Owners: r.cfg.Owners, Stamps: r.cfg.Stamps,
		Events: r.board, Lock: r.l.Lock, FinishWithin: within, KeepGoing: true, Parallel: r.l.Parallel,
		began: func(i int) {
			f.mu.Lock()
			f.begun[i] = true
			f.mu.Unlock()
		},
		ended: func(i int) {
			f.mu.Lock()
			f.ended[i] = true
			f.mu.Unlock()
		},
	}
	go func() { // owned by Run: it waits for done before returning
		out, fin := x.round(r.ctx, f.n, why, plan, values)
		r.done <- roundDone{out: out, values: values, reload: rl, finished: fin}
	}()
}

// finished takes a round's outcome back into the loop.
func (r *run) finished(d roundDone) {
	f := r.inflight
	r.inflight = nil
	r.values = d.values
	if d.reload != nil {
		r.hold.finished(d.out)
	}
	for _, s := range d.out.Steps {
		if s.Result == events.ResultOK || s.Kind == events.StepStop {
			delete(r.buildFailed, s.Key) // built (or synced, or stopped) since
		}
		switch {
		case s.Kind == events.StepStart && s.Result == events.ResultOK,
			s.Kind != events.StepStop && s.Result == events.ResultOK && !s.Synced && r.l.Unstarted[s.Key]:
			r.l.Started[s.Key] = true
			delete(r.l.Unstarted, s.Key)
		case s.Kind == events.StepStart:
			r.l.Unstarted[s.Key] = true // not running before, and not started
		case s.Kind == events.StepStop && s.Result == events.ResultOK:
			delete(r.l.Started, s.Key)
			delete(r.l.Unstarted, s.Key)
		}
		if s.Kind != events.StepStop && (s.Result == events.ResultOK || s.Err != nil) {
			// Stopped by pets down, then started by pets restart: this
			// pets' again.
			delete(r.away, s.Key)
		}
		switch {
		case s.Kind == events.StepStop && s.Result == events.ResultOK:
			delete(r.down, s.Key)
			delete(r.dirty, s.Key)
			delete(r.config, s.Key)
		case s.Result == events.ResultOK:
			if s.Kind != events.StepSync {
				r.lastStart[s.Key] = time.Now()
			}
			delete(r.down, s.Key)
			delete(r.unknown, s.Key)
			r.handled(s.Key, f.gen)
			r.configDone(s.Key)
		case s.BuildFailed && !r.down[s.Key]:
			// Its build failed: the previous version still runs (and is
			// stale); the next change to its files builds again.
			r.buildFailed[s.Key] = "its build failed"
			if s.Err != nil {
				r.buildFailed[s.Key] += ": " + firstLine(s.Err.Error())
			}
		case s.Err != nil && strings.HasPrefix(s.Reason, "crashed") && r.ctx.Err() == nil:
			// Restarting after a crash failed: the crash loop goes on.
			r.down[s.Key] = true
			r.crashed(s.Key, firstLine(s.Err.Error()), true)
		case s.Err != nil:
			r.down[s.Key] = true // reported with the round; retried on its next change
		}
	}
	// The round is taken in: it is finished for readers (its services'
	// freshness and states are those of after it).
	if d.finished != nil {
		r.emit(*d.finished)
	}
	if d.reload != nil && !d.reload.Same {
		rl := d.reload
		ev := events.Event{Type: events.ReloadApplied, Reload: &events.ReloadInfo{
			Added: keyStrings(rl.Added), Removed: keyStrings(rl.Removed), Changed: keyStrings(rl.Changed), Unchanged: keyStrings(rl.Unchanged)},
			TookMs: ms(time.Since(rl.Noticed))}
		if len(d.out.Steps) > 0 {
			ev.Round = d.out.N
		}
		ev.SetFiles(rl.Files)
		r.emit(ev)
	}
	keep := r.restarts[:0]
	for _, p := range r.restarts {
		if p.round == d.out.N {
			out := d.out
			var err error
			if failed := out.Failed(); len(failed) > 0 {
				err = fmt.Errorf("%s failed", failed[0].Key)
			}
			p.q.Reply <- Reply{Round: &out, Err: err, Status: r.statusOf(p.q.Names)}
			continue
		}
		keep = append(keep, p)
	}
	r.restarts = keep
	r.answerWaits()
}

// envChanged restarts the services that name one of files as an env file.
func (r *run) envChanged(files []string) {
	for _, o := range r.cfg.Owners {
		for _, f := range files {
			if slices.Contains(o.EnvFiles, f) && !r.away[o.Key] {
				r.pend.restart[o.Key] = "env file " + filepath.Base(f) + " changed"
				r.gen++
				r.coveredBy(o.Key, []string{f}, r.gen)
			}
		}
	}
}

// request takes a request from outside.
func (r *run) request(q Request) {
	switch q.Op {
	case OpRestart:
		keys, err := r.known(q.Names)
		if err != nil {
			q.Reply <- Reply{Err: err}
			return
		}
		for _, k := range keys {
			r.pend.restart[k] = "restarted by pets restart"
		}
		r.restarts = append(r.restarts, pendingRestart{q: q})
	case OpStatus, OpWait:
		if _, err := r.known(q.Names); err != nil {
			q.Reply <- Reply{Err: err}
			return
		}
		r.barrier++
		id := r.barrier
		r.asked[id] = q
		if r.l.Barrier == nil {
			r.barrierSeen(Barrier{ID: id})
			return
		}
		if err := r.l.Barrier(id); err != nil {
			r.barrierSeen(Barrier{ID: id, Err: err.Error()})
		}
	}
}

// barrierSeen answers the status or wait request waiting for barrier b:
// every change made before it was asked for has been seen.
func (r *run) barrierSeen(b Barrier) {
	q, ok := r.asked[b.ID]
	if !ok {
		return
	}
	delete(r.asked, b.ID)
	r.gen++
	r.markDirty(b.Pending, false, r.gen)
	if b.Err != "" {
		// The watcher cannot say it has seen every change made before the
		// question: what looks fresh may not be.
		why := "the watcher could not confirm it had seen every change: " + b.Err
		if q.Op == OpWait {
			q.Reply <- Reply{Err: errors.New(why)}
			return
		}
		st := r.statusOf(q.Names)
		for i := range st {
			if st[i].Freshness == events.Fresh {
				st[i].Freshness, st[i].Reason = events.Unknown, why
			}
		}
		q.Reply <- Reply{Status: st}
		return
	}
	if q.Op == OpStatus {
		q.Reply <- Reply{Status: r.statusOf(q.Names)}
		return
	}
	r.waits = append(r.waits, q)
	r.answerWaits()
}

// answerWaits replies to the waits that are satisfied, or cannot be.
func (r *run) answerWaits() {
	keep := r.waits[:0]
	for _, q := range r.waits {
		st := r.statusOf(q.Names)
		done, err := true, error(nil)
		for _, s := range st {
			switch {
			case (s.State == events.Failed || s.State == events.Crashed) && !r.pendingFor(s.Key):
				err = fmt.Errorf("%s %s: %s; a change to its files restarts it", s.Key, s.State, s.Reason)
			case s.State == events.Stopped:
				err = fmt.Errorf("%s is not running: %s", s.Key, s.Reason)
			case r.buildFailed[s.Key] != "" && !r.pendingFor(s.Key):
				err = fmt.Errorf("%s is stale: %s; it still runs the previous version, and a change to its files builds again", s.Key, r.buildFailed[s.Key])
			case strings.HasPrefix(r.config[s.Key], "the Petsfile does not evaluate") && !r.hold.holding():
				err = fmt.Errorf("%s is stale: %s; fix it and save it again", s.Key, r.config[s.Key])
			case s.State != events.Ready || s.Freshness != events.Fresh:
				done = false
			}
		}
		if err != nil || done {
			q.Reply <- Reply{Status: st, Err: err}
			continue
		}
		keep = append(keep, q)
	}
	r.waits = keep
}

// pendingFor says whether something is due to (re)start or sync k: a
// pending change, a reload to come, or the round in progress.
func (r *run) pendingFor(k petsfile.Key) bool {
	if len(r.pend.paths[k]) > 0 || r.pend.all[k] || r.pend.restart[k] != "" || r.hold.holding() {
		return true
	}
	return r.inflight != nil && r.inflight.inHand(k)
}

// statusOf are the named services' states and freshness (all when names
// is empty).
func (r *run) statusOf(names []string) []Status {
	keys, _ := r.known(names)
	out := make([]Status, 0, len(keys))
	for _, k := range keys {
		st := Status{Key: k, Value: r.values[k], Deps: r.cfg.Graph.Deps[k], Tier: k.Tier}
		st.State, st.Reason = r.board.state(k)
		files := make([]string, 0, len(r.dirty[k]))
		for p := range r.dirty[k] {
			files = append(files, p)
		}
		sort.Strings(files)
		switch {
		case st.State != events.Ready && st.State != events.Starting:
			st.Freshness = events.Unknown
		case len(files) > 0:
			st.Freshness, st.Files = events.Stale, files
		case r.config[k] != "":
			st.Freshness, st.Reason, st.Files = events.Stale, r.config[k], slices.Clone(r.configFiles) // the loop sorts its own in place
		case r.unknown[k]:
			st.Freshness, st.Reason = events.Unknown, "started by an older pets: what it runs is unknown until its next restart"
		case r.inflight != nil && r.inflight.inHand(k):
			st.Freshness, st.Reason = events.Stale, "being restarted"
			switch r.inflight.stepOf(k) {
			case events.StepBounce:
				st.Reason = "to be bounced: a service it depends on restarted"
			case events.StepSync:
				st.Reason = "being synced"
			}
		default:
			st.Freshness, st.Reason = r.podsFresh(k)
		}
		out = append(out, st)
	}
	return out
}

// podsFresh says whether every ready pod of k (if it syncs) holds its
// files: a replaced pod that was not given them yet runs the image's.
func (r *run) podsFresh(k petsfile.Key) (events.Freshness, string) {
	rules := r.rules(k)
	if r.cfg.Syncer == nil || len(rules) == 0 {
		return events.Fresh, ""
	}
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	pods, err := r.cfg.Syncer.Unseeded(ctx, k, rules)
	switch {
	case err != nil:
		return events.Unknown, "cannot tell whether its pods have its files: " + err.Error()
	case len(pods) > 0:
		return events.Stale, "pod " + strings.Join(pods, ", ") + " has not had its files yet"
	}
	return events.Fresh, ""
}

func (r *run) policy(k petsfile.Key) string {
	for _, o := range r.cfg.Owners {
		if o.Key == k {
			return o.RestartPolicy
		}
	}
	return ""
}

func (r *run) rules(k petsfile.Key) []petsfile.SyncRule {
	for _, o := range r.cfg.Owners {
		if o.Key == k {
			return o.Sync
		}
	}
	return nil
}

// known resolves requested services, by name or display name (none: all),
// against the graph.
func (r *run) known(names []string) ([]petsfile.Key, error) {
	if len(names) == 0 {
		return r.cfg.Graph.Order, nil
	}
	var out []petsfile.Key
	for _, n := range names {
		found := false
		for _, k := range r.cfg.Graph.Order {
			if k.Name == n || k.String() == n {
				out, found = append(out, k), true
				break
			}
		}
		if !found {
			return out, fmt.Errorf("%s is not watched by this pets (it watches %s)", n, keyList(r.cfg.Graph.Order))
		}
	}
	return out, nil
}

// checkCrashes looks, between rounds, for services whose processes are
// gone: each is reported once, and starts again on its next change.
func (r *run) checkCrashes() {
	if r.inflight != nil {
		return
	}
	r.look(r.cfg.Graph.Order)
	// Every time, not only when a look changed something: what a wait
	// waits for may change outside the loop (a replaced pod given its
	// files by the session's follower), and this is when it is seen.
	r.answerWaits()
}

// look takes in how keys are now, as the Runner sees them, and says
// whether any was not as the loop thought: one stopped outside this pets
// (pets down) is away, and left alone until it runs again; one started
// again outside it is watched again; one whose processes are gone crashed.
// checkCrashes looks at every service between rounds; a round looks again
// at the services it plans for (see recheck), since a pets down may have
// come after the last look.
func (r *run) look(keys []petsfile.Key) (changed bool) {
	for _, k := range keys {
		if r.away[k] {
			// Started again by another pets (pets up): watched again.
			if v, h := r.cfg.Runner.Check(r.ctx, k); h == Healthy || h == Redefined {
				delete(r.away, k)
				delete(r.down, k)
				r.values[k] = v
				r.emit(events.Event{Type: events.ServiceReused, Service: k.String(), State: events.Ready, Host: v.Host(), PID: v.PID,
					Reason: "started again outside this pets; watched again"})
				changed = true
			}
			continue
		}
		if r.down[k] {
			continue
		}
		alive, exit := r.cfg.Runner.Alive(r.ctx, k)
		if alive || r.ctx.Err() != nil {
			continue
		}
		changed = true
		if _, h := r.cfg.Runner.Check(r.ctx, k); h == Absent {
			// Not crashed: stopped and unrecorded by another pets (pets
			// down). Leave it alone: a change to its files must not undo
			// the stop.
			r.away[k] = true
			delete(r.dirty, k)
			delete(r.pend.paths, k) // its changes are no round's files
			delete(r.pend.all, k)
			r.emit(events.Event{Type: events.ServiceStopped, Service: k.String(), State: events.Stopped,
				Reason: "stopped outside this pets (pets down); it is left alone until it runs again"})
			continue
		}
		r.down[k] = true
		next := "it restarts by itself (restart policy on-failure)"
		if r.policy(k) == petsfile.RestartNo {
			next = "it restarts on the next change to its files"
		}
		r.emit(events.Event{Type: events.ServiceCrashed, Service: k.String(), State: events.Crashed, Exit: exit, Reason: next})
		if r.policy(k) != petsfile.RestartNo {
			r.crashed(k, exit, false)
		}
	}
	return changed
}

// recheck looks again (see look) at the running services plan has steps
// for (restarts, syncs, bounces: not starts or stops), just before it
// runs: what pets down stopped since the last look is left alone, not
// started again by its next change or its dependency's. It says whether
// the plan must be decided again.
func (r *run) recheck(plan Plan) bool {
	var keys []petsfile.Key
	for _, s := range plan.Steps {
		if s.Kind != events.StepStop && s.Kind != events.StepStart {
			keys = append(keys, s.Key)
		}
	}
	if !r.look(keys) {
		return false
	}
	r.answerWaits()
	return true
}

// crashed notes a crash of k: the first in a row, unless k crashed before
// and ran less than BackoffReset since (or its restart after the last crash
// failed: again is true).
func (r *run) crashed(k petsfile.Key, exit string, again bool) {
	now := time.Now()
	attempt := 0
	if prev, ok := r.tries[k]; ok && (again || now.Sub(r.lastStart[k]) < BackoffReset) {
		attempt = prev + 1
	}
	r.crashes[k] = Crash{At: now, Attempt: attempt, Exit: exit}
	r.tries[k] = attempt
}

// configChanging notes that the Petsfile is being written: until its
// reload applies, what runs may not be what it says.
func (r *run) configChanging() {
	for _, k := range r.cfg.Graph.Order {
		if r.config[k] == "" {
			r.config[k] = "the Petsfile changed; its reload is not applied yet"
			r.staleNow(k, nil)
		}
	}
}

// configDone notes that k runs what the Petsfile on disk says.
func (r *run) configDone(k petsfile.Key) {
	if r.config[k] == "" {
		return
	}
	delete(r.config, k)
	if len(r.config) == 0 {
		r.configFiles = nil
	}
	r.freshNow(k)
}

// markDirty notes changed paths (of batch gen) as not yet handled, for
// each owner; all marks every service.
func (r *run) markDirty(paths []string, all bool, gen int) {
	owned := Own(r.cfg.Owners, r.cfg.Skip, paths)
	if all {
		for _, k := range r.cfg.Graph.Order {
			if _, ok := owned[k]; !ok {
				owned[k] = []string{"(files may have changed: events were lost)"}
			}
		}
	}
	for _, p := range paths {
		if r.cfg.Skip[p] {
			// The Petsfile or a file it loads: a reload is coming.
			r.configFiles = dedupe(append(r.configFiles, p))
			r.configChanging()
		}
	}
	for k, ps := range owned {
		if !r.away[k] {
			r.coveredBy(k, ps, gen)
		}
	}
}

// coveredBy records paths of k as dirty until a step of k planned after
// batch gen succeeds (gen 0: already handled).
func (r *run) coveredBy(k petsfile.Key, paths []string, gen int) {
	if gen == 0 {
		return
	}
	d := r.dirty[k]
	if d == nil {
		d = map[string]int{}
		r.dirty[k] = d
	}
	for _, p := range paths {
		if old, ok := d[p]; !ok || old > gen {
			d[p] = gen
		}
	}
	r.staleNow(k, paths)
}

// clean clears paths of k: a step that began after they changed has
// succeeded.
func (r *run) clean(k petsfile.Key, paths []string) {
	for _, p := range paths {
		delete(r.dirty[k], p)
	}
	if len(r.dirty[k]) == 0 {
		delete(r.dirty, k)
	}
	r.freshNow(k)
}

// handled clears k's changes planned at or before gen: its step succeeded.
func (r *run) handled(k petsfile.Key, gen int) {
	for p, g := range r.dirty[k] {
		if g <= gen {
			delete(r.dirty[k], p)
		}
	}
	if len(r.dirty[k]) == 0 {
		delete(r.dirty, k)
	}
	r.freshNow(k)
}

func (r *run) staleNow(k petsfile.Key, paths []string) { r.board.stale(k, paths) }

func (r *run) freshNow(k petsfile.Key) {
	if len(r.dirty[k]) == 0 && r.config[k] == "" && !r.down[k] {
		r.board.fresh(k)
	}
}

// holdTimer fires at the holder's next deadline (nil: none).
func (r *run) holdTimer() <-chan time.Time {
	t, ok := r.hold.deadline()
	if !ok {
		if r.holdT != nil {
			r.holdT.Stop()
			r.holdT = nil
		}
		return nil
	}
	if r.holdT != nil && !t.Equal(r.holdAt) {
		r.holdT.Stop() // the deadline moved (a reload came: it settles now)
		r.holdT = nil
	}
	if r.holdT == nil {
		r.holdT, r.holdAt = time.NewTimer(time.Until(t)), t
	}
	return r.holdT.C
}

func (r *run) closeRequests(err error) {
	for _, p := range r.restarts {
		p.q.Reply <- Reply{Err: err}
	}
	for _, q := range r.asked {
		q.Reply <- Reply{Err: err}
	}
	for _, q := range r.waits {
		q.Reply <- Reply{Err: err}
	}
	r.restarts, r.waits, r.asked = nil, nil, map[uint64]Request{}
}

func (r *run) emit(e events.Event) { r.board.Emit(e) }

// StepEvents are a round's steps, with their results, as the events
// schema has them.
func StepEvents(o Outcome) []events.Step { return stepEvents(o.Plan.Steps, o.Steps) }

// stepEvents turns steps (and, if given, their results) into the events
// schema's steps.
func stepEvents(steps []Step, results []StepResult) []events.Step {
	out := make([]events.Step, len(steps))
	for i, s := range steps {
		e := events.Step{Kind: s.Kind, Service: s.Key.String(), Reason: s.Reason}
		for _, j := range s.After {
			e.After = append(e.After, steps[j].Key.String())
		}
		if results != nil {
			res := results[i]
			e.Result, e.TookMs, e.Skipped, e.Fallback, e.BuildFailed = res.Result, ms(res.Took), res.Skipped, res.Fallback, res.BuildFailed
			if e.Fallback == "" && s.Fallback != "" && !res.Synced {
				e.Fallback = s.Fallback
			}
			if res.Err != nil {
				e.Error = res.Err.Error()
			}
			if res.Synced {
				e.Kind, e.Sync = events.StepSync, res.Report.Info()
			} else if s.Kind == events.StepSync {
				e.Kind = events.StepRestart // it fell back to a restart
			}
		}
		out[i] = e
	}
	return out
}

func keyStrings(ks []petsfile.Key) []string {
	if len(ks) == 0 {
		return nil
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}

func keyList(ks []petsfile.Key) string {
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		s += k.String()
	}
	return s
}
