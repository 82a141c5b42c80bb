package rebuild

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// Changes is one debounced batch from the file watcher.
type Changes struct {
	Paths []string // absolute
	All   bool     // the watcher lost events: anything may have changed
}

// Round is one pass of the loop: the services whose files changed were
// restarted, then their dependents bounced, in dependency order.
type Round struct {
	N        int
	Paths    []string // the changed files that caused it
	Services []Result // in the order they were handled
	Took     time.Duration
}

// Result is what happened to one service in a round.
type Result struct {
	Key      petsfile.Key
	Changed  bool   // its own files changed (else it is a dependent being bounced)
	Skipped  string // why it was not restarted ("" if it was)
	Synced   bool   // its changes were synced into it instead of a restart
	Sync     SyncReport
	Fallback string // why a service with sync rules was restarted instead ("" if not)
	Took     time.Duration
	Err      error
}

// Loop restarts services as their files change. Create it with the graph
// that is up and the values of its services, then Run it.
type Loop struct {
	Runner  Runner
	Graph   *petsfile.Graph
	Values  map[petsfile.Key]petsfile.Value // current values; owned by Run once it starts
	Owners  []Owner
	Skip    map[string]bool // paths owned by no service (the Petsfile and its loads)
	Changes <-chan Changes

	// Report is called after every round; Crashed when a service is found
	// dead between rounds (once per crash). Both may be nil. They are called
	// from Run's goroutines, one at a time.
	Report  func(Round)
	Crashed func(petsfile.Key)
	// Started is called (may be nil) when a round begins, with its owners;
	// syncing holds those whose changes are to be synced, not restarted.
	Started func(n int, owners []petsfile.Key, syncing map[petsfile.Key]bool)
	// CheckEvery is how often services are checked for crashes between
	// rounds; 0 means every second.
	CheckEvery time.Duration

	// Failed (may be nil) are services that are down at the start (they
	// failed to start): like crashed ones, they start on their next change.
	Failed map[petsfile.Key]bool

	// Syncer (may be nil) syncs changes covered by a service's sync rules
	// instead of restarting it.
	Syncer Syncer

	// FinishWithin bounds how long the service in hand may take to finish
	// its restart or sync once ctx ends (0: 10 seconds); after it, it is
	// cancelled too. Interrupted (may be nil) is called when ctx ends
	// during a round, from another goroutine.
	FinishWithin time.Duration
	Interrupted  func(within time.Duration)

	// Reloads (may be nil) brings new configurations, applied in order
	// between rounds; Reloaded (may be nil) reports each once applied. A nil
	// Reload says the Petsfile changed but did not evaluate. Changes that
	// came before a reload's round join it: each service restarts once.
	Reloads  <-chan *Reload
	Reloaded func(ReloadResult)
	// ReloadComing (may be nil) says the Petsfile is being written (the
	// first event of its batch): batches wait for its reload (up to two
	// seconds), and join its round.
	ReloadComing <-chan struct{}
	// ReloadSettle (0: none) is how long a reload that arrived waits before
	// it is applied, so that file batches from the same burst of writes
	// (closing a quiet window after the Petsfile's) are held for it too.
	ReloadSettle time.Duration
}

// roundState is shared between Run's select loop and the round goroutine:
// the loop asks whether a service's restart has begun yet.
type roundState struct {
	mu    sync.Mutex
	begun map[petsfile.Key]bool
	todo  map[petsfile.Key]bool
}

func (r *roundState) pending(k petsfile.Key) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.todo[k] && !r.begun[k]
}

// begunNow copies the set of services whose restart has begun.
func (r *roundState) begunNow() map[petsfile.Key]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[petsfile.Key]bool, len(r.begun))
	for k := range r.begun {
		out[k] = true
	}
	return out
}

func (r *roundState) begin(k petsfile.Key) {
	r.mu.Lock()
	r.begun[k] = true
	r.mu.Unlock()
}

// Run handles changes until ctx ends or the Changes channel closes, and
// returns once no round is running.
func (l *Loop) Run(ctx context.Context) error {
	every := l.CheckEvery
	if every == 0 {
		every = time.Second
	}
	check := time.NewTicker(every)
	defer check.Stop()

	// Owned by this goroutine: pending, paths, crashed, n, inflight, reloads.
	// l.Graph, l.Owners, l.Skip, l.Runner and l.Values change only between
	// rounds (the round goroutine hands them back through done).
	var reloads []*Reload
	var stash []stashed         // changes seen while a reload was queued, running or expected
	reloading := false          // the running round is a reload's
	var expect <-chan time.Time // a reload is coming: due before this
	var settle <-chan time.Time // the queued reloads wait for this (nil: they may start)
	pending := map[petsfile.Key]bool{}
	var paths []string
	ownPaths := map[petsfile.Key][]string{} // per owner; nil entry with all[k]: unknown (overflow)
	all := map[petsfile.Key]bool{}
	crashed := map[petsfile.Key]bool{}
	for k := range l.Failed {
		crashed[k] = true
	}
	n := 0
	var inflight *roundState
	done := make(chan Round, 1)
	changes := l.Changes

	startReload := func() {
		n++
		r := reloads[0]
		reloads = reloads[1:]
		old := l.Graph
		l.Runner, l.Graph, l.Owners, l.Skip = r.Runner, r.Graph, r.Owners, r.Skip
		if r.Syncer != nil {
			l.Syncer = r.Syncer
		}
		for _, k := range append(append([]petsfile.Key(nil), r.Removed...), r.Added...) {
			delete(crashed, k)
		}
		// What changed before this round joins it (pending changes, and
		// held ones that came before it began): each service restarts or
		// syncs once, in dependency order, with the new configuration.
		held := &heldChanges{paths: map[petsfile.Key][]string{}, all: map[petsfile.Key]bool{}}
		for k := range pending {
			if _, ok := r.Graph.Deps[k]; ok {
				held.add(k, ownPaths[k], all[k])
			}
		}
		pending, paths, ownPaths, all = map[petsfile.Key]bool{}, nil, map[petsfile.Key][]string{}, map[petsfile.Key]bool{}
		keep := stash[:0]
		for _, st := range stash {
			switch {
			case st.round != -1:
				keep = append(keep, st)
			case st.c.All:
				for _, k := range r.Graph.Order {
					held.add(k, nil, true)
				}
			default:
				for k, ps := range Own(r.Owners, r.Skip, st.c.Paths) {
					held.add(k, ps, false)
				}
			}
		}
		stash = keep
		for k := range held.paths {
			if crashed[k] {
				held.all[k] = true // down: it restarts, nothing to sync into
				delete(crashed, k)
			}
		}
		rs := &roundState{begun: map[petsfile.Key]bool{}, todo: map[petsfile.Key]bool{}}
		inflight = rs
		reloading = true
		values := make(map[petsfile.Key]petsfile.Value, len(l.Values))
		for k, v := range l.Values {
			values[k] = v
		}
		go func(n int) {
			res := l.apply(ctx, r, old, rs, values, n, held)
			if l.Reloaded != nil {
				l.Reloaded(res)
			}
			l.Values = values
			done <- res.Round
		}(n)
	}
	start := func() {
		n++
		owners := make([]petsfile.Key, 0, len(pending))
		for _, k := range l.Graph.Order {
			if pending[k] {
				owners = append(owners, k)
			}
		}
		rs := &roundState{begun: map[petsfile.Key]bool{}, todo: map[petsfile.Key]bool{}}
		plan := planFor(l.Graph, owners)
		for _, k := range plan {
			rs.todo[k] = true
		}
		inflight = rs
		values := make(map[petsfile.Key]petsfile.Value, len(l.Values))
		for k, v := range l.Values {
			values[k] = v
		}
		roundPaths := paths
		byOwner := map[petsfile.Key][]string{}
		for _, k := range owners {
			// A service that lost events, or is down (crashed, failed),
			// restarts: there is nothing running to sync into.
			if !all[k] && !crashed[k] {
				byOwner[k] = ownPaths[k]
			}
		}
		for _, k := range owners {
			delete(crashed, k)
		}
		pending, paths, ownPaths, all = map[petsfile.Key]bool{}, nil, map[petsfile.Key][]string{}, map[petsfile.Key]bool{}
		if l.Started != nil {
			syncing := map[petsfile.Key]bool{}
			for k, ps := range byOwner {
				syncing[k] = l.Syncer != nil && covers(l.syncRules(k), ps)
			}
			l.Started(n, owners, syncing)
		}
		go func(n int) {
			r := l.roundWith(ctx, l.Runner, l.Graph, rs, n, owners, plan, roundPaths, values, byOwner)
			if l.Report != nil {
				l.Report(r)
			}
			l.Values = values // the select loop does not read l.Values while a round runs
			done <- r
		}(n)
	}

	next := func() {
		switch {
		case ctx.Err() != nil:
		case len(reloads) > 0:
			if settle == nil {
				startReload()
			}
		case len(pending) > 0:
			start()
		}
	}

	// take owns a batch of changes: its owners become pending, unless a
	// running round has yet to begin them, or fresh says a reload's restart
	// that began after the change already covered them.
	take := func(c Changes, fresh map[petsfile.Key]bool) {
		var owned map[petsfile.Key][]string
		if c.All {
			owned = map[petsfile.Key][]string{}
			for _, k := range l.Graph.Order {
				owned[k] = nil
			}
		} else {
			owned = Own(l.Owners, l.Skip, c.Paths)
		}
		for k, ps := range owned {
			if fresh[k] {
				continue // a reload restarted it after this change
			}
			if inflight != nil && inflight.pending(k) {
				continue // its restart has not begun: it will see this edit
			}
			pending[k] = true
			paths = append(paths, ps...)
			ownPaths[k] = append(ownPaths[k], ps...)
			if c.All {
				all[k] = true
			}
		}
	}

	// release owns the stashed changes once no reload is queued, running or
	// expected; last is the reload round that just ended (nil if none).
	release := func(last *Round) {
		if reloading || len(reloads) > 0 || expect != nil {
			return
		}
		restarted := map[petsfile.Key]bool{}
		if last != nil {
			for _, res := range last.Services {
				if res.Skipped == "" && res.Err == nil {
					restarted[res.Key] = true
				}
			}
		}
		for _, st := range stash {
			fresh := map[petsfile.Key]bool{}
			if last != nil && st.round <= last.N {
				for k := range restarted {
					if st.round < last.N || !st.begun[k] {
						fresh[k] = true
					}
				}
			}
			take(st.c, fresh)
		}
		stash = nil
	}

	for {
		select {
		case c, ok := <-changes:
			if !ok {
				changes = nil
				if inflight == nil {
					return nil
				}
				continue
			}
			if len(reloads) > 0 || reloading || expect != nil {
				// The owners are about to change: own these with the new ones.
				st := stashed{c: c, round: -1}
				if reloading && inflight != nil {
					st.round, st.begun = n, inflight.begunNow()
				}
				stash = append(stash, st)
				continue
			}
			take(c, nil)
			if inflight == nil {
				next()
			}
		case r, ok := <-l.Reloads:
			if !ok {
				l.Reloads = nil
				expect = nil
				release(nil)
				if inflight == nil {
					next()
				}
				continue
			}
			expect = nil
			if r == nil { // the Petsfile changed but did not evaluate
				release(nil)
			} else {
				reloads = append(reloads, r)
				if l.ReloadSettle > 0 && settle == nil {
					settle = time.After(l.ReloadSettle)
				}
			}
			if inflight == nil {
				next()
			}
		case <-settle:
			settle = nil
			if inflight == nil {
				next()
			}
		case _, ok := <-l.ReloadComing:
			if !ok {
				l.ReloadComing = nil
				continue
			}
			if expect == nil {
				expect = time.After(reloadWait)
			}
		case <-expect: // no reload came
			expect = nil
			release(nil)
			if inflight == nil {
				next()
			}
		case r := <-done:
			inflight = nil
			if reloading {
				reloading = false
				release(&r)
			}
			for _, res := range r.Services {
				if res.Err != nil {
					crashed[res.Key] = true // reported with the round; retried on its next change
				}
			}
			next()
			if inflight == nil && (changes == nil || ctx.Err() != nil) {
				return ctx.Err()
			}
		case <-check.C:
			if inflight != nil {
				continue
			}
			for _, k := range l.Graph.Order {
				if crashed[k] {
					continue
				}
				if !l.alive(ctx, k) && ctx.Err() == nil {
					crashed[k] = true
					if l.Crashed != nil {
						l.Crashed(k)
					}
				}
			}
		case <-ctx.Done():
			if inflight == nil {
				return ctx.Err()
			}
			<-done // the round notices the cancellation and returns
			return ctx.Err()
		}
	}
}

// heldChanges are the changes a reload round takes in: per service its
// changed paths, or all[k] when they are unknown (or it must restart).
type heldChanges struct {
	paths map[petsfile.Key][]string
	all   map[petsfile.Key]bool
	every []string // all the paths, for the round's line
}

func (h *heldChanges) add(k petsfile.Key, ps []string, all bool) {
	h.paths[k] = append(h.paths[k], ps...)
	h.every = append(h.every, ps...)
	if all {
		h.all[k] = true
	}
}

// stashed is a batch of changes held while a reload was due: round is the
// reload round running when it came (-1: none had begun), begun the
// services whose restart in that round had begun.
type stashed struct {
	c     Changes
	round int
	begun map[petsfile.Key]bool
}

// reloadWait is how long batches wait for a reload that was said to be
// coming (evaluating a Petsfile takes milliseconds; loads from the network
// longer): after it they go ahead without it.
const reloadWait = 2 * time.Second

// aliveChecker is a Runner that can tell cheaply whether a service still
// runs (without connecting to it, as Running may).
type aliveChecker interface {
	Alive(ctx context.Context, k petsfile.Key) bool
}

// Alive tells whether k still runs, through r's cheap check if it has one
// (a Runner that wraps another passes it through with this), else Running.
func Alive(ctx context.Context, r Runner, k petsfile.Key) bool {
	if a, ok := r.(aliveChecker); ok {
		return a.Alive(ctx, k)
	}
	_, ok := r.Running(ctx, k)
	return ok
}

func (l *Loop) alive(ctx context.Context, k petsfile.Key) bool { return Alive(ctx, l.Runner, k) }

// planFor returns owners plus their transitive dependents in g, in dependency order.
func planFor(g *petsfile.Graph, owners []petsfile.Key) []petsfile.Key {
	in := map[petsfile.Key]bool{}
	for _, k := range owners {
		in[k] = true
		for _, d := range g.Dependents(k) {
			in[d] = true
		}
	}
	var out []petsfile.Key
	for _, k := range g.Order {
		if in[k] {
			out = append(out, k)
		}
	}
	return out
}

// round restarts plan in order, each waiting for readiness. A service whose
// dependency failed in this round is skipped and left as it is.
//
// When ctx ends the service in hand still finishes its restart or sync (on
// a context without the cancellation, for up to l.FinishWithin: stopping
// half-way would leave it neither running nor recorded), and the rest are
// skipped as interrupted.
//
// byOwner holds each owner's changed paths; an owner in it whose changes are
// all covered by its sync rules (see Owner.Sync) is synced by l.Syncer instead
// of restarted, and falls back to a restart if the sync fails. Owners missing
// from byOwner (events were lost) always restart.
func (l *Loop) roundWith(ctx context.Context, runner Runner, g *petsfile.Graph, rs *roundState, n int, owners, plan []petsfile.Key, paths []string, values map[petsfile.Key]petsfile.Value, byOwner map[petsfile.Key][]string) Round {
	t0 := time.Now()
	within := l.FinishWithin
	if within == 0 {
		within = 10 * time.Second
	}
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	defer context.AfterFunc(ctx, func() {
		if l.Interrupted != nil {
			l.Interrupted(within)
		}
		time.AfterFunc(within, cancelWork)
	})()
	isOwner := map[petsfile.Key]bool{}
	for _, k := range owners {
		isOwner[k] = true
	}
	failed := map[petsfile.Key]bool{}
	r := Round{N: n, Paths: dedupe(paths)}
	for _, k := range plan {
		res := Result{Key: k, Changed: isOwner[k]}
		for _, d := range g.Deps[k] {
			if failed[d] {
				res.Skipped = d.String() + " failed"
			}
		}
		if ctx.Err() != nil {
			res.Skipped = "interrupted"
		}
		if res.Skipped != "" {
			failed[k] = true
			r.Services = append(r.Services, res)
			continue
		}
		rs.begin(k)
		if ps, ok := byOwner[k]; ok && l.Syncer != nil {
			if rules := l.syncRules(k); len(rules) > 0 {
				st := time.Now()
				rep, covered, err := l.trySync(work, k, rules, ps)
				if covered && err == nil {
					res.Synced, res.Sync, res.Took = true, rep, time.Since(st)
					r.Services = append(r.Services, res)
					continue
				}
				if covered {
					res.Fallback = "sync failed: " + oneLine(err)
					slog.Debug("rebuild: sync failed", "service", k, "err", err)
				} else {
					res.Fallback = "a change outside its sync rules"
					l.Syncer.Changed(k, ps)
				}
			}
		}
		deps := make([]petsfile.Value, len(g.Deps[k]))
		for i, d := range g.Deps[k] {
			deps[i] = values[d]
		}
		st := time.Now()
		v, err := runner.Up(work, k, deps)
		res.Took, res.Err = time.Since(st), err
		if err != nil {
			failed[k] = true
		} else {
			values[k] = v
		}
		r.Services = append(r.Services, res)
	}
	r.Took = time.Since(t0)
	return r
}

// oneLine makes an error one line for a round's report: a multi-line error
// (an exec's script, then advice) is told by its last line, the advice.
func oneLine(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func dedupe(ps []string) []string {
	sort.Strings(ps)
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p != ps[i-1] {
			out = append(out, p)
		}
	}
	return out
}
