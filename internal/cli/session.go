package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/control"
	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/fresh"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/supervise"
	"github.com/windmilleng/pets/ui"
	"github.com/windmilleng/pets/watcher"
)

// eventSink stamps each event (version, time, which pets wrote it), appends
// it to the state directory's events file and hands it to the terminal.
type eventSink struct {
	source string
	dir    *state.Dir // nil: not kept (a dry run)
	next   events.Sink
	stderr io.Writer

	once sync.Once // the events file's first failure is said, once
}

func (g *globals) events(dir *state.Dir, command string, next events.Sink) *eventSink {
	return &eventSink{source: fmt.Sprintf("%s %d", command, os.Getpid()), dir: dir, next: next, stderr: g.stderr}
}

func (s *eventSink) Emit(e events.Event) {
	markEvents(e)
	e.V = events.Version
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Source = s.source
	if s.dir != nil {
		if err := s.dir.AppendEvent(e); err != nil {
			s.once.Do(func() { fmt.Fprintf(s.stderr, "pets: events are not kept: %v\n", err) })
		}
	}
	if s.next != nil {
		s.next.Emit(e)
	}
}

// logStreamer streams the log of each service that starts (a watching pets
// shows its services' output with a prefix each).
type logStreamer struct {
	dir      *state.Dir
	follower *supervise.LogFollower
}

func (l logStreamer) Emit(e events.Event) {
	if e.Type == events.ServiceStarting {
		name, tier := splitKey(e.Service)
		l.follower.Add(map[string]string{e.Service: l.dir.LogPath(name, tier)})
	}
}

// splitKey splits a display name at the tier a key of it would have; the
// tier is what follows the last dash.
func splitKey(s string) (name, tier string) {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '-' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// fileWatcher adapts package watcher to rebuild.FileWatcher.
type fileWatcher struct {
	w          *watcher.Watcher
	quiet, cap time.Duration
	changes    chan rebuild.Changes
	errs       chan error
	done       chan struct{}
}

var _ rebuild.FileWatcher = (*fileWatcher)(nil)

func newFileWatcher(quiet, cap time.Duration) (*fileWatcher, error) {
	w, err := watcher.New(watcher.Options{Quiet: quiet, Cap: cap})
	if err != nil {
		return nil, err
	}
	f := &fileWatcher{w: w, quiet: quiet, cap: cap, changes: make(chan rebuild.Changes), errs: make(chan error), done: make(chan struct{})}
	go f.run() // owned by f: Close waits for it
	return f, nil
}

// run passes batches and errors on until the watcher closes.
func (f *fileWatcher) run() {
	defer close(f.done)
	defer close(f.changes)
	batches, errs := f.w.Batches(), f.w.Errors()
	for batches != nil || errs != nil {
		select {
		case b, ok := <-batches:
			if !ok {
				batches = nil
				continue
			}
			c := rebuild.Changes{Paths: b.Paths, All: b.Overflow}
			for _, br := range b.Barriers {
				rb := rebuild.Barrier{ID: br.ID, Pending: br.Pending}
				if br.Err != nil {
					rb.Err = br.Err.Error()
				}
				c.Barriers = append(c.Barriers, rb)
			}
			f.changes <- c
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if le := (*watcher.LimitError)(nil); errors.As(err, &le) {
				err = &rebuild.FatalWatchError{Err: le}
			} else {
				err = fmt.Errorf("watch: %w", err)
			}
			f.errs <- err
		}
	}
}

func (f *fileWatcher) Changes() <-chan rebuild.Changes { return f.changes }
func (f *fileWatcher) Errors() <-chan error            { return f.errs }
func (f *fileWatcher) Barrier(id uint64) error         { return f.w.Barrier(id) }

func (f *fileWatcher) Watch(roots, ignore []string) error {
	return f.w.Update(watcher.Options{Roots: roots, Ignore: ignore, Quiet: f.quiet, Cap: f.cap})
}

// Close stops the watcher; the reader of Changes and Errors must keep
// reading until both close.
func (f *fileWatcher) Close() {
	go func() { // drains what nobody reads any more; ends with f.run
		for range f.errs {
		}
	}()
	go func() {
		for range f.changes {
		}
	}()
	f.w.Close()
	<-f.done
}

// watchSpec is how a watch session resolves its graph: as the command line
// said (names, tier, --with). For pets watch without names (attached), the
// names are those that ran at attach, plus the services a reload adds to
// the Petsfile, minus those it removes.
type watchSpec struct {
	names    []string
	tier     string
	with     map[string]string
	attached bool
	known    map[string]bool // attached: the names the last Petsfile registered
}

// resolve resolves p's graph as the spec says; a service that is gone from
// p no longer has its --with tier (it is a removal, not an error). It is
// called by one goroutine at a time (the session's reloads).
func (s *watchSpec) resolve(p *petsfile.Project) (*petsfile.Graph, error) {
	with := map[string]string{}
	for name, tier := range s.with {
		if _, ok := p.Service(petsfile.Key{Name: name, Tier: tier}); ok {
			with[name] = tier
		}
	}
	names := s.names
	registered := map[string]bool{}
	for _, svc := range p.Services() {
		registered[svc.Name] = true
	}
	if s.attached {
		names = nil
		for _, n := range s.names {
			if registered[n] {
				names = append(names, n)
			}
		}
		for _, svc := range p.Services() {
			if !s.known[svc.Name] && svc.Tier == s.tier && !slices.Contains(names, svc.Name) {
				names = append(names, svc.Name) // new in the Petsfile
			}
		}
		if len(names) == 0 {
			return nil, &petsfile.UsageError{Msg: "none of the services this pets watches is in " + p.Path + " any more", Hint: "stop them with pets down"}
		}
	}
	g, err := p.Resolve(names, s.tier, with)
	if err == nil && s.attached {
		s.names, s.known = names, registered
	}
	return g, err
}

// watch is one watching pets: pets up --watch, pets watch.
type watch struct {
	g        *globals
	wf       *watchFlags
	dir      *state.Dir
	spec     *watchSpec
	up       *upFlags // grace and timeout
	sink     *eventSink
	printer  *printer
	follower *supervise.LogFollower
	server   *control.Server
	petsfile string
	requests chan rebuild.Request
	// ui is the status page (nil: none); uiDone is closed once the pruning
	// of older pets' page tokens, on its own goroutine, has ended.
	ui     *ui.Server
	uiDone chan struct{}
	// closers close the file watchers begin started, in reverse.
	closers []func()

	// mu guards the fields below: the session's reloads claim services,
	// the status page's start records its address, close unregisters.
	mu       sync.Mutex
	self     state.Watcher // this pets, as the record lists it
	services []string      // what it last claimed
	// unregister removes this pets from the record's watchers.
	unregister func() error
	closed     bool
	// bannerShown: the "Watching ..." line is out; uiURL: the page
	// listens. The page's line follows whichever comes second.
	bannerShown bool
	uiURL       string
}

// listen starts taking requests (pets restart, list, wait) and records this
// pets as the watcher of graph's services; another pets watching one of
// them is refused.
func (w *watch) listen(project *petsfile.Project, graph *petsfile.Graph) error {
	if err := w.listening(project, graph)(); err != nil {
		return err
	}
	w.startUI(graph)
	return nil
}

// listening is listen in the background, but for the status page (which
// pets up starts once its first start is done: w.startUI): its socket and
// its claim (a state write) take about as long as the watch walk of a
// small project, which pets up goes on with meanwhile. The returned func
// waits for it; nothing may start before it has returned nil.
func (w *watch) listening(project *petsfile.Project, graph *petsfile.Graph) func() error {
	w.requests = make(chan rebuild.Request)
	done := make(chan error, 1)
	go func() { done <- w.bindAndClaim(project, graph) }() // awaited by the func returned
	return func() error { return <-done }
}

// bindAndClaim is listen but for the status page, in the foreground.
func (w *watch) bindAndClaim(project *petsfile.Project, graph *petsfile.Graph) error {
	srv, err := control.Listen(w.dir.Path, control.HandlerFunc(w.serve))
	if err != nil {
		return fmt.Errorf("take requests: %w", err)
	}
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		srv.Close()
		return err
	}
	w.server, w.petsfile = srv, project.Path
	w.self = state.Watcher{Identity: proc.Identity{PID: os.Getpid(), Start: start}, Socket: srv.Path(), Petsfile: project.Path, Started: time.Now()}
	if err := w.claim(graph); err != nil {
		srv.Close()
		w.server = nil
		return err
	}
	return nil
}

// claim records this pets as the watcher of graph's services (again, after
// a reload: the record follows what it watches).
func (w *watch) claim(graph *petsfile.Graph) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.registerLocked(keyStrings(graph.Order))
}

// registerLocked records this pets as the watcher of services; w.mu is held.
func (w *watch) registerLocked(services []string) error {
	me := w.self
	me.Services = services
	unregister, err := w.dir.RegisterWatcher(me)
	if err != nil {
		return err
	}
	w.services, w.unregister = services, unregister
	return nil
}

// close stops the status page and taking requests.
func (w *watch) close() {
	w.mu.Lock()
	w.closed = true
	closers := w.closers
	w.closers = nil
	w.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	if w.uiDone != nil {
		<-w.uiDone
	}
	if w.ui != nil {
		_ = w.ui.Close()
	}
	if w.server != nil {
		w.server.Close()
	}
	w.mu.Lock()
	unregister := w.unregister
	w.unregister = nil
	w.mu.Unlock()
	if unregister != nil {
		_ = unregister()
	}
}

// startUI starts the status page (unless --ui-port 0): its events flow
// from now on. It returns once the page listens and the record says where
// (pets ui, run as soon as the "Watching" line is out, finds it; pets up
// calls it after the first start, which it must not delay), and the
// banner says so.
func (w *watch) startUI(graph *petsfile.Graph) {
	if w.wf.uiPort == 0 {
		return
	}
	initial := make([]ui.Service, len(graph.Order))
	for i, k := range graph.Order {
		initial[i] = ui.Service{Name: k.String(), Tier: k.Tier, Deps: keyStrings(graph.Deps[k])}
	}
	srv, err := ui.New(ui.Options{
		Port: w.wf.uiPort, Fallback: w.wf.uiPortSet == nil || !w.wf.uiPortSet(),
		Dir: w.dir.Path, Backend: uiBackend{w}, Services: initial, Petsfile: w.petsfile,
		LogPath: func(service string) string { name, tier := splitKey(service); return w.dir.LogPath(name, tier) },
	})
	if err != nil {
		fmt.Fprintf(w.g.stderr, "pets: no status page: %v\n", err)
		return
	}
	w.ui = srv
	w.sink.next = events.Tee{w.sink.next, uiBanner{w}, srv}
	if err := srv.Start(); err != nil {
		fmt.Fprintf(w.g.stderr, "pets: no status page: %v\n", err)
		return
	}
	// Ready-in times of the services started before this pets (and, for
	// pets up, by it: the page starts after them).
	if evs, err := w.dir.RecentEvents(500); err == nil {
		srv.Seed(evs)
	}
	w.uiStarted(srv.URL())
	w.uiDone = make(chan struct{})
	go func() { // owned by w: close waits for it
		defer close(w.uiDone)
		w.pruneUITokens()
	}()
}

// uiStarted records the status page's address and shows it after the
// banner.
func (w *watch) uiStarted(url string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.self.UI, w.uiURL = url, url
	if err := w.registerLocked(w.services); err != nil {
		fmt.Fprintf(w.g.stderr, "pets: the record does not say where the status page is (pets ui cannot find it): %v\n", err)
	}
	if w.bannerShown {
		w.printUI()
	}
}

// printUI is the banner's status page line; w.mu is held.
func (w *watch) printUI() {
	fmt.Fprintf(w.g.stderr, "Status page: %s (pets ui prints it with its access token; pets ui --open opens it)\n", w.uiURL)
}

// uiBanner shows the status page's address after the "Watching ..." line.
type uiBanner struct{ w *watch }

func (b uiBanner) Emit(e events.Event) {
	if e.Type != events.WatchStarted {
		return
	}
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	if !b.w.bannerShown && b.w.uiURL != "" {
		b.w.printUI()
	}
	b.w.bannerShown = true
}

// pruneUITokens removes the token files of watching pets that are gone
// (killed before they could).
func (w *watch) pruneUITokens() {
	live, err := w.dir.LiveWatchers()
	if err != nil {
		return
	}
	keep := map[int]bool{os.Getpid(): true}
	for _, o := range live {
		keep[o.PID] = true
	}
	ui.RemoveTokens(w.dir.Path, keep)
}

// uiBackend is the status page's way to the loop: the requests pets list
// and pets restart make through the socket.
type uiBackend struct{ w *watch }

func (b uiBackend) Status(ctx context.Context) ([]ui.Service, error) {
	r, err := b.w.ask(ctx, rebuild.Request{Op: rebuild.OpStatus})
	if err != nil {
		return nil, err
	}
	out := make([]ui.Service, len(r.Status))
	for i, s := range r.Status {
		out[i] = ui.Service{Name: s.Key.String(), Tier: s.Tier, Deps: keyStrings(s.Deps), State: s.State, Freshness: s.Freshness,
			Files: s.Files, Reason: s.Reason, Host: s.Value.Host(), PID: s.Value.PID}
	}
	return out, r.Err
}

func (b uiBackend) Restart(ctx context.Context, service string) error {
	r, err := b.w.ask(ctx, rebuild.Request{Op: rebuild.OpRestart, Names: []string{service}})
	if err != nil {
		return err
	}
	return r.Err
}

// ask sends q to the loop and waits for its reply.
func (w *watch) ask(ctx context.Context, q rebuild.Request) (rebuild.Reply, error) {
	reply := make(chan rebuild.Reply, 1)
	q.Reply = reply
	select {
	case w.requests <- q:
	case <-ctx.Done():
		return rebuild.Reply{}, ctx.Err()
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return rebuild.Reply{}, ctx.Err()
	}
}

// begin makes the watch session of cfg and points its watchers at the
// services' files and at the Petsfile before anything starts (pets up
// --watch calls it before the first start): what changes while the
// services start is the first round's, not lost. The watchers close with
// w.close.
func (w *watch) begin(project *petsfile.Project, cfg rebuild.Config, attach, stopOnExit bool) (*rebuild.Session, error) {
	g, wf := w.g, w.wf
	s := &rebuild.Session{
		Project: project, Config: cfg, Attach: attach, StopOnExit: stopOnExit,
		Events: w.sink, Requests: w.requests, Lock: w.lock, Parallel: w.up.parallel(), Timing: rebuild.Timing{Settle: wf.quiet},
	}
	fw, err := newFileWatcher(wf.quiet, wf.cap)
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, fw.Close)
	pf, err := watcher.WatchFiles(project.Files, wf.quiet)
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { _ = pf.Close() })
	envs, err := watcher.WatchFiles(nil, wf.quiet) // the session gives it the env files
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func() { _ = envs.Close() })
	s.Load = func(ctx context.Context) (*petsfile.Project, *petsfile.Graph, error) {
		p, err := petsfile.Load(ctx, project.Path, loadOptions(supervise.TopLevelHost(g.stderr), g.stderr))
		if err != nil {
			return nil, nil, err
		}
		graph, err := w.spec.resolve(p)
		return p, graph, err
	}
	s.Configure = w.configure(cfg.Syncer)
	s.Claim = w.claim
	s.Files, s.Petsfiles, s.EnvFiles, s.Ignore = fw, pf, envs, stateIgnore(w.dir)
	if err := s.Begin(); err != nil {
		return nil, err
	}
	return s, nil
}

// run runs s (made by begin) until ctx ends, the services' logs
// streaming; with StopOnExit (pets up --watch) the session then stops every
// service of the configuration that ran last.
func (w *watch) run(ctx context.Context, s *rebuild.Session) error {
	defer w.close()
	g, wf, cfg, stopOnExit, started := w.g, w.wf, s.Config, s.StopOnExit, s.Started
	if w.follower == nil {
		w.follower = supervise.FollowLogs(logFiles(w.dir, cfg.Graph), g.logOut(), useColor(g, wf.color))
	}
	fctx, stopLogs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // streams logs; owned by run
		defer wg.Done()
		_ = w.follower.Run(fctx)
	}()
	defer func() {
		stopLogs()
		wg.Wait()
	}()
	w.printer.stopHow = "Ctrl-C to detach (they keep running)."
	if stopOnExit {
		w.printer.stopHow = "Ctrl-C stops what this command started; what was up before stays up."
		if len(started)+len(s.Unstarted) == len(cfg.Graph.Order) { // nothing was up before
			w.printer.stopHow = "Ctrl-C to stop them."
		}
	}
	w.sink.next = events.Tee{logStreamer{dir: w.dir, follower: w.follower}, w.printer}
	if w.ui != nil {
		w.sink.next = events.Tee{w.sink.next, uiBanner{w}, w.ui}
	}
	_, _, err := s.Run(ctx)
	return err
}

// configure makes the Runner, Syncer and Stamps of a reloaded Petsfile's
// configuration. The Syncer is made once, when sync rules first appear.
func (w *watch) configure(syncer rebuild.Syncer) func(ctx context.Context, p *petsfile.Project, g *petsfile.Graph, fp map[petsfile.Key]string) (rebuild.Config, error) {
	var mu sync.Mutex
	return func(ctx context.Context, p *petsfile.Project, graph *petsfile.Graph, fp map[petsfile.Key]string) (rebuild.Config, error) {
		cfg := rebuild.Config{Runner: w.supervisor(p, fp), Stamps: fresh.NewStamper(w.dir, p, graph, stateIgnore(w.dir))}
		mu.Lock()
		defer mu.Unlock()
		if syncer == nil {
			s, err := w.g.newSyncer(w.g.stderr, p, graph)
			if err != nil {
				return cfg, fmt.Errorf("live sync unavailable (changes restart the services instead): %w", err)
			}
			if s != nil {
				syncer = s
			}
		}
		cfg.Syncer = syncer
		return cfg, nil
	}
}

// supervisor is the Runner of a watching pets for project.
func (w *watch) supervisor(project *petsfile.Project, fp map[petsfile.Key]string) *supervise.Supervisor {
	return &supervise.Supervisor{State: w.dir, Project: project, Stderr: w.g.stderr, Grace: w.up.grace, ReadyTimeout: w.up.timeout, LogMax: int64(w.up.logMax),
		Fingerprints: fp, Kube: w.g.kube, KeepFailed: true}
}

// lock is the lock pets up holds: each step of a round holds it, so that a
// pets up in another terminal and a round never start a service at once.
func (w *watch) lock(ctx context.Context, k petsfile.Key) (func(), error) {
	return w.dir.LockService(ctx, k.Name)
}

// serve answers a request from another pets (pets restart, list, wait).
func (w *watch) serve(ctx context.Context, req control.Request, send func(control.Reply) error) error {
	q := rebuild.Request{Names: req.Services}
	switch req.Op {
	case "restart":
		q.Op = rebuild.OpRestart
	case "status":
		q.Op = rebuild.OpStatus
	case "wait":
		q.Op = rebuild.OpWait
		if req.TimeoutMs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMs)*time.Millisecond)
			defer cancel()
		}
	default:
		return fmt.Errorf("unknown request %q", req.Op)
	}
	reply := make(chan rebuild.Reply, 1)
	q.Reply = reply
	select {
	case w.requests <- q:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case r := <-reply:
		if r.Round != nil {
			ev := roundEvent(*r.Round)
			if err := send(control.Reply{Event: &ev}); err != nil {
				return err
			}
		}
		if len(r.Status) > 0 {
			if err := send(control.Reply{Status: statusOf(r.Status)}); err != nil {
				return err
			}
		}
		return r.Err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s%s", time.Duration(req.TimeoutMs)*time.Millisecond, w.notYet(req.Services))
		}
		return ctx.Err()
	}
}

// notYet says which services are not ready and fresh, and why: ": a-local
// is stale (b.go), ...".
func (w *watch) notYet(names []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reply := make(chan rebuild.Reply, 1)
	select {
	case w.requests <- rebuild.Request{Op: rebuild.OpStatus, Names: names, Reply: reply}:
	case <-ctx.Done():
		return ""
	}
	var r rebuild.Reply
	select {
	case r = <-reply:
	case <-ctx.Done():
		return ""
	}
	var parts []string
	for _, s := range r.Status {
		if s.State == events.Ready && s.Freshness == events.Fresh {
			continue
		}
		why := s.Reason
		if len(s.Files) > 0 {
			why = fileList(s.Files)
		}
		part := fmt.Sprintf("%s is %s, %s", s.Key, s.State, s.Freshness)
		if why != "" {
			part += " (" + why + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

// roundEvent is a round's outcome as the events schema has it.
func roundEvent(o rebuild.Outcome) events.Event {
	ev := events.Event{V: events.Version, Time: time.Now(), Type: events.RoundFinished, Round: o.N, Steps: rebuild.StepEvents(o), TookMs: float64(o.Took.Microseconds()) / 1000, Reason: "pets restart"}
	ev.SetFiles(o.Plan.Paths)
	return ev
}

func statusOf(st []rebuild.Status) []control.ServiceStatus {
	out := make([]control.ServiceStatus, len(st))
	for i, s := range st {
		out[i] = control.ServiceStatus{Service: s.Key.String(), State: s.State, Freshness: s.Freshness, Files: s.Files, Reason: s.Reason, Host: s.Value.Host(), PID: s.Value.PID}
	}
	return out
}

func keyStrings(ks []petsfile.Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}
