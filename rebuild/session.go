package rebuild

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// FileWatcher watches the services' trees: package watcher, adapted by
// cmd/pets.
type FileWatcher interface {
	// Changes delivers the batches of changed files, and the barriers.
	Changes() <-chan Changes
	// Errors delivers problems; a *FatalWatchError means some changes can
	// no longer be seen (no inotify watches left): the session ends.
	Errors() <-chan error
	// Watch replaces what is watched (absolute directories, recursively,
	// minus the ignore globs) and returns once the watches are in place.
	Watch(roots, ignore []string) error
	// Barrier asks for barrier id (see Changes.Barriers).
	Barrier(id uint64) error
}

// FatalWatchError is a watcher error after which the session cannot go on:
// some changes would be missed.
type FatalWatchError struct{ Err error }

func (e *FatalWatchError) Error() string { return e.Err.Error() }
func (e *FatalWatchError) Unwrap() error { return e.Err }

// PetsfileWatcher watches the Petsfile and the files it loads
// (watcher.Files implements it).
type PetsfileWatcher interface {
	// Started receives when a batch of changes opens (the first write).
	Started() <-chan struct{}
	// Changes delivers the files that changed, once their batch closes.
	Changes() <-chan []string
	Errors() <-chan error
	// Update replaces the files watched.
	Update(files []string) error
}

// Session is one watch session (pets up --watch, pets watch): the loop fed
// by the file watcher, the Petsfile's reloads and requests, and the pods of
// syncing services followed as they are replaced. Fields are set before
// Run.
type Session struct {
	Project *petsfile.Project // the evaluated Petsfile
	// Config is the first configuration: Graph, Runner, and Syncer and
	// Stamps if any (Owners and Skip are filled in from Project).
	Config Config
	// Values are the services' values and Down those that failed to start
	// (pets up --watch). With Attach (pets watch), the session asks the
	// Runner what runs instead, gives the pods of syncing services their
	// trees, and restarts or syncs what drifted while no pets was watching.
	Values map[petsfile.Key]petsfile.Value
	Down   map[petsfile.Key]bool
	Attach bool
	// StopOnExit (pets up --watch): when the session ends, the services it
	// started are stopped, dependents first: Started (those pets up
	// started before the session), those its rounds started (reloads
	// included), and those of Unstarted (pets up was to start them, and
	// they failed or were skipped) that a round brought up. What was
	// running before the command stays up.
	StopOnExit bool
	Started    map[petsfile.Key]bool
	Unstarted  map[petsfile.Key]bool

	// Load evaluates the Petsfile again and resolves the graph as the
	// first one was.
	Load func(ctx context.Context) (*petsfile.Project, *petsfile.Graph, error)
	// Configure makes the Runner, Syncer (nil: nothing syncs) and Stamps
	// of a new configuration; fp are its services' fingerprints. A non-nil
	// error with a Config says something is unavailable (live sync) and is
	// reported; the configuration still applies.
	Configure func(ctx context.Context, p *petsfile.Project, g *petsfile.Graph, fp map[petsfile.Key]string) (Config, error)
	// Claim (may be nil) is asked, before a reload applies, to make this
	// session the watcher of g's services; an error (another pets watches
	// one of them) refuses the reload.
	Claim func(g *petsfile.Graph) error

	Files     FileWatcher
	Petsfiles PetsfileWatcher
	// EnvFiles (may be nil) watches the services' env files, whatever the
	// ignore rules say: a change restarts the services that name it.
	EnvFiles PetsfileWatcher
	Ignore   []string // more globs the file watcher ignores (the state directory)
	Events   events.Sink
	Requests <-chan Request
	Lock     func(ctx context.Context, k petsfile.Key) (unlock func(), err error)
	Parallel int // see Loop.Parallel
	Timing   Timing

	// begun: Begin has pointed Files at roots.
	begun bool
	roots []string
}

// Begin points the file watcher at the services' files now, before Run
// (pets up --watch calls it before the first start, so that a change made
// while the services start is the first round's); Run does it itself
// otherwise. The fields must be set.
func (s *Session) Begin() error {
	roots, err := s.watch(OwnersOf(s.Project, s.Config.Graph))
	s.begun, s.roots = err == nil, roots
	return err
}

// Run watches until ctx ends (or the watcher fails for good), stops what it
// must (StopOnExit) and returns the configuration that ran last, with its
// values.
func (s *Session) Run(ctx context.Context) (Config, map[petsfile.Key]petsfile.Value, error) {
	cfg, values, started, err := s.run(ctx)
	reason := "Ctrl-C"
	if err != nil {
		reason = err.Error()
	}
	if s.StopOnExit {
		err = errors.Join(err, s.stop(cfg, started))
	}
	s.emit(events.Event{Type: events.WatchStopped, PID: os.Getpid(), Reason: reason})
	return cfg, values, err
}

// Stop stops what a session that cannot start must not leave running:
// with StopOnExit, every service of its first configuration.
func (s *Session) Stop() error {
	if !s.StopOnExit {
		return nil
	}
	return s.stop(s.Config, s.Started)
}

// stop stops the services of cfg that this pets started, dependents first,
// on a context of its own (the session's has ended).
func (s *Session) stop(cfg Config, started map[petsfile.Key]bool) error {
	if cfg.Runner == nil || cfg.Graph == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stop []petsfile.Key
	for _, k := range cfg.Graph.Order {
		if started[k] {
			stop = append(stop, k)
		}
	}
	plan := Decide(Input{Remove: stop, Old: cfg.Graph})
	for i := range plan.Steps {
		plan.Steps[i].Reason = "Ctrl-C"
	}
	x := &Executor{Graph: cfg.Graph, Runner: cfg.Runner, Events: s.Events, KeepGoing: true}
	var errs []error
	for _, r := range x.Run(ctx, 0, plan, map[petsfile.Key]petsfile.Value{}).Steps {
		errs = append(errs, r.Err)
	}
	return errors.Join(errs...)
}

func (s *Session) run(ctx context.Context) (Config, map[petsfile.Key]petsfile.Value, map[petsfile.Key]bool, error) {
	cfg := s.Config
	cfg.Owners, cfg.Skip = OwnersOf(s.Project, cfg.Graph), skipOf(s.Project)
	values, down := s.Values, s.Down
	var initial map[petsfile.Key][]string
	var restart map[petsfile.Key]string
	if s.Attach {
		values, down, initial, restart = s.attach(ctx, cfg)
	}
	started := maps.Clone(s.Started)
	if started == nil {
		started = map[petsfile.Key]bool{}
	}
	roots := s.roots
	var err error
	if !s.begun {
		if roots, err = s.watch(cfg.Owners); err != nil {
			return cfg, values, started, err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()

	wg.Add(1)
	go func() { // reports the watcher's problems; owned by Run
		defer wg.Done()
		s.watchErrors(ctx, cancel)
	}()
	reloads, coming := make(chan *Reload), make(chan struct{})
	wg.Add(1)
	go func() { // the reload pipeline; owned by Run
		defer wg.Done()
		s.reloads(ctx, cfg, reloads, coming)
	}()
	if s.Attach {
		for _, k := range cfg.Graph.Order {
			if !down[k] {
				s.seed(ctx, cfg, k, "at attach")
			}
		}
	}
	s.emit(events.Event{Type: events.WatchStarted, Services: keyStrings(cfg.Graph.Order), Roots: roots, PID: os.Getpid()})

	var envs <-chan []string
	if s.EnvFiles != nil {
		if err := s.EnvFiles.Update(EnvFilesOf(cfg.Owners)); err != nil {
			s.emit(events.Event{Type: events.WatchError, Error: "watch env files: " + err.Error()})
		}
		envs = s.EnvFiles.Changes()
	}
	loop := &Loop{
		Config: cfg, Values: values, Down: down, Started: started, Unstarted: maps.Clone(s.Unstarted), Initial: initial, InitialRestart: restart,
		Changes: s.Files.Changes(), Reloads: reloads, Coming: coming, Requests: s.Requests, EnvChanges: envs,
		Barrier: s.Files.Barrier, Events: s.Events, Lock: s.Lock, Parallel: s.Parallel, Timing: s.Timing,
	}
	err = loop.Run(ctx)
	cause := context.Cause(ctx)
	cancel(nil)
	wg.Wait()
	if fe := (*FatalWatchError)(nil); errors.As(cause, &fe) {
		err = fe
	} else if errors.Is(err, context.Canceled) {
		err = nil
	}
	return loop.Config, loop.Values, loop.Started, err
}

// attach finds what runs (pets watch): ready services with their values,
// what drifted since they started, those that are down, and those whose
// definition changed while no pets was watching.
func (s *Session) attach(ctx context.Context, cfg Config) (values map[petsfile.Key]petsfile.Value, down map[petsfile.Key]bool, drift map[petsfile.Key][]string, restart map[petsfile.Key]string) {
	values, down = map[petsfile.Key]petsfile.Value{}, map[petsfile.Key]bool{}
	drift, restart = map[petsfile.Key][]string{}, map[petsfile.Key]string{}
	for _, k := range cfg.Graph.Order {
		v, h := cfg.Runner.Check(ctx, k)
		switch h {
		case Healthy:
			values[k] = v
		case Redefined:
			values[k] = v
			restart[k] = "its definition in the Petsfile changed while no pets was watching"
			continue
		default:
			down[k] = true
			continue
		}
		if cfg.Stamps == nil {
			continue
		}
		if files, known, err := cfg.Stamps.Drift(ctx, k); err == nil && known && len(files) > 0 {
			drift[k] = files
		}
	}
	return values, down, drift, restart
}

// watch points the file watcher at the owners' roots. A root that does
// not exist yet is watched for through its nearest existing parent; one
// that is not a directory is not watched (and said so).
func (s *Session) watch(owners []Owner) ([]string, error) {
	var roots []string
	for _, r := range Roots(owners) {
		if fi, err := os.Stat(r); err == nil && !fi.IsDir() {
			s.emit(events.Event{Type: events.WatchError, Error: fmt.Sprintf("not watching %s: it is not a directory", r)})
			continue
		} else if err != nil {
			up := existingParent(r)
			s.emit(events.Event{Type: events.WatchError, Error: fmt.Sprintf("%s does not exist yet; watching %s for it", r, up)})
			r = up
		}
		roots = append(roots, r)
	}
	roots = outermost(roots)
	return roots, s.Files.Watch(roots, append(GlobalIgnores(owners), s.Ignore...))
}

// watchErrors reports the watchers' problems until ctx ends; one that
// stops watching ends the session.
func (s *Session) watchErrors(ctx context.Context, stop context.CancelCauseFunc) {
	for {
		select {
		case err, ok := <-s.Files.Errors():
			if !ok {
				return
			}
			fe := (*FatalWatchError)(nil)
			limit := errors.As(err, &fe)
			s.emit(events.Event{Type: events.WatchError, Error: err.Error(), Limit: limit})
			if limit {
				stop(err)
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// errSuperseded is the cause of an evaluation cancelled by a newer change
// to the Petsfiles.
var errSuperseded = errors.New("superseded by a newer edit of the Petsfile")

// evaluated is what one evaluation of the Petsfile (reload) came to.
type evaluated struct {
	r       *Reload
	fp      map[petsfile.Key]string
	err     error
	files   []string  // the changed Petsfiles it was for
	noticed time.Time // when the first of them was seen
}

// reloads re-reads the Petsfile when it or a file it loads changes, and
// hands each new configuration to the loop; it also follows the pods of
// the syncing services of the configuration that runs.
//
// Each evaluation runs in a goroutine of its own, while the changes to the
// Petsfiles are still read: a newer change cancels an evaluation under way
// (one that never ends, say: `while True: pass`), which then reports
// nothing, and the Petsfile is evaluated again, for the changes of both.
// One evaluation runs at a time.
func (s *Session) reloads(ctx context.Context, cfg Config, out chan<- *Reload, coming chan<- struct{}) {
	defer close(out)
	send := func(c chan<- struct{}) bool {
		select {
		case c <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	ev := &evaluation{s: s, ctx: ctx, cfg: cfg, fp: s.Project.Fingerprints(ctx, cfg.Graph), sums: s.Project.Sums}
	defer ev.stop()
	unfollow := s.follow(ctx, cfg)
	defer func() { unfollow() }()
	for {
		var done evaluated
		select {
		case <-s.Petsfiles.Started(): // a write: hold file changes from now on
			if !send(coming) {
				return
			}
			continue
		case changed := <-s.Petsfiles.Changes():
			if !send(coming) {
				return
			}
			ev.changed(changed)
			continue
		case err := <-s.Petsfiles.Errors():
			s.emit(events.Event{Type: events.WatchError, Error: "watch Petsfile: " + err.Error()})
			continue
		case done = <-ev.results:
			if !ev.finished(done) {
				continue // superseded: the newer content is being evaluated
			}
		case <-ctx.Done():
			return
		}
		if done.err != nil {
			ev.refused = true
			e := events.Event{Type: events.ReloadRefused, Error: done.err.Error()}
			e.SetFiles(done.files)
			s.emit(e)
			select {
			case out <- &Reload{Err: done.err, Files: done.files}: // changes held for it go ahead
			case <-ctx.Done():
				return
			}
			continue
		}
		r := done.r
		r.Noticed = done.noticed
		r.Same = !ev.refused && maps.Equal(r.sums, ev.sums) && len(r.Added)+len(r.Removed)+len(r.Changed) == 0
		select {
		case out <- r: // from here on the loop owns changes with r's owners
		case <-ctx.Done():
			return
		}
		unfollow()
		ev.cfg, ev.fp, ev.sums, ev.refused = s.applied(r, ev.cfg), done.fp, r.sums, false
		unfollow = s.follow(ctx, ev.cfg)
	}
}

// applied watches what the configuration r brings (its files, its env
// files) and returns it as the one that runs (cfg's syncer where it has
// none).
func (s *Session) applied(r *Reload, cfg Config) Config {
	if _, err := s.watch(r.Owners); err != nil {
		s.emit(events.Event{Type: events.WatchError, Error: err.Error()})
	}
	if s.EnvFiles != nil {
		if err := s.EnvFiles.Update(EnvFilesOf(r.Owners)); err != nil {
			s.emit(events.Event{Type: events.WatchError, Error: "watch env files: " + err.Error()})
		}
	}
	next := r.Config
	if next.Syncer == nil {
		next.Syncer = cfg.Syncer
	}
	return next
}

// evaluation is reloads' evaluation of the Petsfile under way, and the
// changes to the Petsfiles queued behind it. Touched only by reloads'
// goroutine.
type evaluation struct {
	s       *Session
	ctx     context.Context
	cfg     Config                  // the configuration that runs
	fp      map[petsfile.Key]string // its fingerprints
	sums    map[string]string       // its Petsfiles' sha256 (petsfile.Project.Sums)
	refused bool                    // the last evaluation failed: the next one is reported

	cancel   context.CancelCauseFunc // ends the evaluation under way; nil: none runs
	results  chan evaluated          // its result (nil: none runs)
	queued   []string                // Petsfiles changed since it began
	queuedAt time.Time               // when the first of them was seen
	newer    bool                    // a change came since it began: it is superseded
	wg       sync.WaitGroup
}

// changed queues files: it cancels the evaluation under way (its result is
// dropped when it comes) or starts one.
func (e *evaluation) changed(files []string) {
	if e.queuedAt.IsZero() {
		e.queuedAt = time.Now()
	}
	e.queued = appendNew(e.queued, files...)
	if e.cancel != nil {
		e.newer = true
		e.cancel(errSuperseded)
	} else {
		e.start()
	}
}

// start evaluates the Petsfile for the queued changes.
func (e *evaluation) start() {
	files, noticed := e.queued, e.queuedAt
	e.queued, e.queuedAt, e.newer = nil, time.Time{}, false
	var ectx context.Context
	ectx, e.cancel = context.WithCancelCause(e.ctx)
	res := make(chan evaluated, 1)
	e.results = res
	s, cfg, fp := e.s, e.cfg, e.fp
	e.wg.Add(1)
	go func() { // one evaluation; owned by reloads, which waits for it (stop)
		defer e.wg.Done()
		r, nextFP, err := s.reload(ectx, cfg, fp, files)
		res <- evaluated{r: r, fp: nextFP, err: err, files: files, noticed: noticed}
	}()
}

// finished takes done, the evaluation's result: false if it was superseded
// (or finished just as a newer change came), in which case the newer content
// is what counts and is evaluated now, for both.
func (e *evaluation) finished(done evaluated) bool {
	e.cancel(nil)
	e.cancel, e.results = nil, nil
	if !e.newer {
		return true
	}
	e.queued, e.queuedAt = appendNew(slices.Clone(done.files), e.queued...), done.noticed
	e.start()
	return false
}

// stop cancels the evaluation under way and waits for it.
func (e *evaluation) stop() {
	if e.cancel != nil {
		e.cancel(e.ctx.Err())
	}
	e.wg.Wait()
}

// appendNew appends to list the paths it does not hold yet.
func appendNew(list []string, paths ...string) []string {
	for _, p := range paths {
		if !slices.Contains(list, p) {
			list = append(list, p)
		}
	}
	return list
}

// reload evaluates the Petsfile again and compares it with cfg.
func (s *Session) reload(ctx context.Context, cfg Config, fp map[petsfile.Key]string, changed []string) (*Reload, map[petsfile.Key]string, error) {
	p, g, err := s.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	if s.Claim != nil {
		if err := s.Claim(g); err != nil {
			return nil, nil, err
		}
	}
	nextFP := p.Fingerprints(ctx, g)
	r := NewReload(cfg.Graph, g, fp, nextFP)
	r.Files, r.sums = changed, p.Sums
	c, err := s.Configure(ctx, p, g, nextFP)
	if err != nil {
		s.emit(events.Event{Type: events.WatchError, Error: err.Error()})
	}
	c.Graph, c.Owners, c.Skip = g, OwnersOf(p, g), skipOf(p)
	r.Config = c
	if err := s.Petsfiles.Update(p.Files); err != nil {
		s.emit(events.Event{Type: events.WatchError, Error: "watch Petsfile: " + err.Error()})
	}
	return r, nextFP, nil
}

// follow keeps the pods of cfg's syncing services in step as they are
// replaced, until the returned stop is called.
func (s *Session) follow(ctx context.Context, cfg Config) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, o := range cfg.Owners {
		if cfg.Syncer == nil || len(o.Sync) == 0 {
			continue
		}
		k, rules := o.Key, o.Sync
		wg.Add(1)
		go func() { // owned by follow: ends with stop
			defer wg.Done()
			err := cfg.Syncer.Follow(ctx, k, rules, func(rep SyncReport, err error) {
				if cfg.Stamps != nil {
					cfg.Stamps.Pods(k, cfg.Syncer.Holding(k, rules))
				}
				if err != nil {
					s.emit(events.Event{Type: events.SyncFailed, Service: k.String(), Reason: "a new pod did not get its files (pets tries again at the next sync)", Error: err.Error()})
					return
				}
				s.emit(events.Event{Type: events.SyncDone, Service: k.String(), Reason: "a new pod", TookMs: ms(rep.Took), Sync: rep.Info()})
			})
			if err != nil && ctx.Err() == nil {
				s.emit(events.Event{Type: events.SyncFailed, Service: k.String(), Reason: "not following its pods (a replaced pod gets its files with the next sync)", Error: err.Error()})
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// seed gives k's pods its sync rules' trees, if it has rules.
func (s *Session) seed(ctx context.Context, cfg Config, k petsfile.Key, when string) {
	var owner Owner
	for _, o := range cfg.Owners {
		if o.Key == k {
			owner = o
		}
	}
	rules := owner.Sync
	if cfg.Syncer == nil || len(rules) == 0 {
		return
	}
	rep, err := cfg.Syncer.Seed(ctx, k, seedFiles(owner))
	if cfg.Stamps != nil {
		cfg.Stamps.Pods(k, cfg.Syncer.Holding(k, rules))
	}
	if err != nil {
		s.emit(events.Event{Type: events.SyncFailed, Service: k.String(), Reason: "syncing its files " + when + " failed (pets tries again at the next sync)", Error: err.Error()})
		return
	}
	s.emit(events.Event{Type: events.SyncDone, Service: k.String(), Reason: when, TookMs: ms(rep.Took), Sync: rep.Info()})
}

func (s *Session) emit(e events.Event) {
	if s.Events != nil {
		s.Events.Emit(e)
	}
}

// skipOf are the paths no service owns: the Petsfile and what it loads.
func skipOf(p *petsfile.Project) map[string]bool {
	skip := map[string]bool{}
	for _, f := range p.Files {
		skip[f] = true
	}
	return skip
}

// existingParent returns the nearest existing directory above p.
func existingParent(p string) string {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() || d == filepath.Dir(d) {
			return d
		}
	}
}

// outermost drops the roots that lie inside another.
func outermost(roots []string) []string {
	sort.Strings(roots) // a directory before what is inside it
	var out []string
next:
	for _, r := range roots {
		for _, o := range out {
			if rel, err := filepath.Rel(o, r); err == nil && filepath.IsLocal(rel) {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}
