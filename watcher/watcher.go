package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/windmilleng/pets/internal/dirent"
)

// Defaults for Options.Quiet, Options.Burst and Options.Cap, chosen by
// measurement: see the package doc.
const (
	DefaultQuiet = 3 * time.Millisecond
	DefaultBurst = 50 * time.Millisecond
	DefaultCap   = 10 * time.Second
)

// batching fills in the batching options left zero, for Watcher and Files
// alike.
func batching(quiet, burst, cap *time.Duration, clock *Clock) {
	if *quiet <= 0 {
		*quiet = DefaultQuiet
	}
	if *burst <= 0 {
		*burst = DefaultBurst
	}
	*burst = max(*burst, *quiet)
	if *cap <= 0 {
		*cap = DefaultCap
	}
	if *clock == nil {
		*clock = realClock{}
	}
}

// ErrClosed is returned by Update on a closed Watcher.
var ErrClosed = errors.New("watcher: closed")

// maxQueuedErrors bounds the errors held for a caller that does not read
// Errors; later ones are logged and dropped.
const maxQueuedErrors = 64

// Options says what to watch and how to batch.
type Options struct {
	Roots  []string // absolute directories, watched recursively
	Ignore []string // absolute doublestar patterns; a directory matching one is never watched
	// Quiet: a lone change's batch closes after this long with no event
	// (0 = DefaultQuiet). While many distinct files change fast, the window
	// widens, up to Burst (0 = DefaultBurst; never less than Quiet). While
	// git holds its index lock (or is busy with a merge or rebase) the batch
	// stays open. See the package doc.
	Quiet time.Duration
	Burst time.Duration
	// Cap: a batch closes at the latest this long after its first event,
	// git or not (0 = DefaultCap).
	Cap   time.Duration
	Clock Clock // nil = the real clock

	// For measurements: do not follow git directories; the heat's half-life
	// and gitStateGrace (0: the defaults).
	noGit                bool
	halfLife, stateGrace time.Duration
}

// Batch is the set of paths that changed in one burst.
type Batch struct {
	// Paths are absolute, deduplicated and sorted: files that were created,
	// written, chmodded, removed or renamed away (and directories removed or
	// renamed away), never a directory that merely got a child.
	Paths []string
	// Overflow says events were lost (the kernel queue overflowed): anything
	// under the roots may have changed.
	Overflow bool
	// Barriers are the barriers (see Watcher.Barrier) reached since the
	// previous batch was delivered, in the order they were reached. A batch
	// may carry only barriers, with no Paths.
	Barriers []Barrier
}

// Watcher watches trees of files and sends batches of changed paths.
type Watcher struct {
	b       backend
	clock   Clock
	batches chan Batch
	errs    chan error
	reqs    chan func()
	stop    chan struct{}
	done    chan struct{}

	closeOnce sync.Once
	closeErr  error

	// The fields below belong to the loop goroutine; New sets them up before
	// starting it, and Update touches them only from inside the loop.
	opts     Options
	m        *Matcher
	watched  map[string]bool // directories with an OS watch (the roots, for a recursive backend)
	pending  map[string]bool // paths of the open batch
	recent   recency         // paths changed lately, for the debounce's heat
	overflow bool            // the open batch lost events
	deb      debounce
	git      gitWatch
	rootTops map[string]bool // the work tree tops of the roots (their git directories are followed)
	alarm    alarm           // fires at or before the open batch's or a barrier's deadline
	ready    *Batch          // closed batch waiting for the caller; later batches merge into it
	errq     []error         // errors waiting for the caller
	barriers []*barrierWait
	// sentinels maps the name of each sentinel waiting for its event to its barrier.
	sentinels map[string]*barrierWait
	// limitWarned: a *LimitError was queued since the last Update.
	limitWarned bool
}

// New starts watching and returns once every watch is in place, so a change
// made after New returns is seen. On Linux it may return a *LimitError.
func New(opts Options) (*Watcher, error) {
	b, err := newBackend()
	if err != nil {
		return nil, err
	}
	return start(opts, b)
}

// start is New with the backend given; it closes b on failure.
func start(opts Options, b backend) (*Watcher, error) {
	o, err := normalize(opts)
	if err != nil {
		b.close()
		return nil, err
	}
	m, err := NewMatcher(o.Roots, o.Ignore)
	if err != nil {
		b.close()
		return nil, err
	}
	w := &Watcher{
		b:       b,
		clock:   o.Clock,
		batches: make(chan Batch),
		errs:    make(chan error),
		reqs:    make(chan func()),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		opts:    o,
		m:       m,
		watched: make(map[string]bool),
		pending: make(map[string]bool),
		recent:  make(recency),
		deb:     debounce{quiet: o.Quiet, burst: o.Burst, cap: o.Cap, halfLife: o.halfLife, stateGrace: o.stateGrace},
		alarm:   alarm{clock: o.Clock},

		sentinels: make(map[string]*barrierWait),
	}
	m.warn = w.warn
	w.git.ordered = orderedBackend(b)
	err = w.reconcile()
	if err != nil {
		b.close()
		return nil, err
	}
	go w.loop()
	return w, nil
}

func normalize(o Options) (Options, error) {
	// No roots is allowed: nothing is watched until Update brings some.
	var roots []string
	for _, r := range o.Roots {
		if !filepath.IsAbs(r) {
			return o, fmt.Errorf("watcher: root %q is not absolute", r)
		}
		r = filepath.Clean(r)
		fi, err := os.Stat(r)
		if err != nil {
			return o, fmt.Errorf("watch %s: %w", r, err)
		}
		if !fi.IsDir() {
			return o, fmt.Errorf("watch %s: not a directory", r)
		}
		if !slices.Contains(roots, r) {
			roots = append(roots, r)
		}
	}
	o.Roots = roots
	batching(&o.Quiet, &o.Burst, &o.Cap, &o.Clock)
	return o, nil
}

// Batches delivers the batches; it is closed by Close. A batch closes after
// a quiet window without events (Options.Quiet, wider for a burst, held while
// git works) or Options.Cap after its first event; while the caller is not
// receiving, later batches merge into the one waiting, and keep their
// barriers. A batch that carries only barriers may come at any time.
func (w *Watcher) Batches() <-chan Batch { return w.batches }

// Errors delivers problems found while watching: a *LimitError (some
// directories are not watched: stop), a root that was removed, unreadable
// directories or ignore files. It is closed by Close.
func (w *Watcher) Errors() <-chan error { return w.errs }

// Update replaces the roots and ignore patterns (and Quiet, Burst and Cap;
// the Clock stays) while running: new directories get watches, directories
// no longer wanted lose theirs, and so do git directories. It returns once
// the watches are in place.
func (w *Watcher) Update(opts Options) error {
	o, err := normalize(opts)
	if err != nil {
		return err
	}
	m, err := NewMatcher(o.Roots, o.Ignore)
	if err != nil {
		return err
	}
	var uerr error
	if err := w.do(func() {
		o.Clock = w.clock
		w.opts = o
		w.m = m
		m.warn = w.warn
		w.deb.quiet, w.deb.burst, w.deb.cap = o.Quiet, o.Burst, o.Cap
		w.limitWarned = false
		uerr = w.reconcile()
	}); err != nil {
		return err
	}
	return uerr
}

// do runs f in the loop goroutine and waits for it.
func (w *Watcher) do(f func()) error {
	finished := make(chan struct{})
	select {
	case w.reqs <- func() { f(); close(finished) }:
	case <-w.done:
		return ErrClosed
	}
	<-finished
	return nil
}

// Close stops watching, waits for every goroutine of the Watcher and closes
// Batches and Errors. A batch still open is dropped, and so are barriers not
// yet reached (their sentinels are removed).
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		<-w.done
		w.closeErr = w.b.close()
	})
	return w.closeErr
}

// loop is the Watcher's one goroutine: it owns all watch and batch state.
func (w *Watcher) loop() {
	defer func() {
		w.alarm.stop()
		w.removeSentinels()
		close(w.batches)
		close(w.errs)
		close(w.done)
	}()
	evs, errs := w.b.events(), w.b.errors()
	for {
		now := w.clock.Now()
		if t, ok := w.deadline(); ok && !now.Before(t) {
			// Events already waiting happened before now: the burst is not
			// over, and a late sentinel may be among them, however late this
			// goroutine got to run. Take them first.
			if w.drain(&evs) {
				now = w.clock.Now()
			}
			if w.deb.due(now) && !(halfSaved(w.pending) && w.deb.settle(now)) {
				w.closeBatch()
			}
			w.expireBarriers(now)
		}
		t, ok := w.deadline()
		timerC := w.alarm.wait(now, t, ok)
		var out chan<- Batch
		var next Batch
		if w.ready != nil {
			out, next = w.batches, *w.ready
		}
		var errOut chan<- error
		var nextErr error
		if len(w.errq) > 0 {
			errOut, nextErr = w.errs, w.errq[0]
		}

		select {
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			w.handle(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.handleError(err)
		case <-timerC:
			// The alarm never fires late (see alarm.wait); if nothing is due
			// yet, the next round re-arms it.
			w.alarm.fired()
		case out <- next:
			w.ready = nil
		case errOut <- nextErr:
			w.errq = w.errq[1:]
		case f := <-w.reqs:
			f()
		case <-w.stop:
			return
		}
	}
}

// deadline is the earliest of the open batch's and the barriers' deadlines.
func (w *Watcher) deadline() (time.Time, bool) {
	t, ok := w.deb.deadline()
	if bt, bok := w.barrierDeadline(); bok && (!ok || bt.Before(t)) {
		t, ok = bt, true
	}
	return t, ok
}

// maxDrain bounds how many waiting events drain takes at once.
const maxDrain = 4096

// drain handles the events already waiting, without blocking, and reports
// whether there were any. It sets *evs to nil if the channel was closed.
func (w *Watcher) drain(evs *<-chan fsnotify.Event) bool {
	for i := 0; i < maxDrain; i++ {
		select {
		case ev, ok := <-*evs:
			if !ok {
				*evs = nil
				return i > 0
			}
			w.handle(ev)
		default:
			return i > 0
		}
	}
	return true
}

// closeBatch moves the open batch to the one waiting for the caller.
func (w *Watcher) closeBatch() {
	b := w.ready
	if b == nil {
		b = &Batch{}
	}
	b.Overflow = b.Overflow || w.overflow
	for p := range w.pending {
		b.Paths = append(b.Paths, p)
	}
	slices.Sort(b.Paths)
	b.Paths = slices.Compact(b.Paths)
	slog.Debug("watcher: batch closed", "paths", len(b.Paths), "overflow", b.Overflow, "barriers", len(b.Barriers),
		"window", w.deb.window(), "git_lock", !w.deb.git.lockedUntil.IsZero(), "git_state", w.deb.git.state)
	w.ready = b
	clear(w.pending)
	w.overflow = false
	w.recent.forget(w.clock.Now(), w.deb.memory())
	w.deb.reset()
}

// note adds path to the open batch.
func (w *Watcher) note(path string) {
	now := w.clock.Now()
	w.pending[path] = true
	w.deb.event(now, w.recent.fresh(path, now, w.deb.memory()))
}

// warn queues an error for the caller. Running out of watches is said once
// (until Update), not for every new directory after it.
func (w *Watcher) warn(err error) {
	if _, ok := errors.AsType[*LimitError](err); ok {
		if w.limitWarned {
			return
		}
		w.limitWarned = true
	}
	if len(w.errq) >= maxQueuedErrors {
		slog.Debug("watcher: error dropped, nobody reads Errors", "err", err)
		return
	}
	w.errq = append(w.errq, err)
}

func (w *Watcher) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		slog.Debug("watcher: event queue overflowed, rescanning")
		w.overflow = true
		w.deb.event(w.clock.Now(), false)
		// Directories created while events were lost have no watch yet.
		if err := w.reconcile(); err != nil {
			w.warn(err)
		}
		// A lock's removal may be among the events lost.
		w.git.rescan(w.clock.Now())
		w.gitStatus()
		// The open batch now covers everything, sentinels lost or not.
		w.overflowBarriers()
		return
	}
	w.warn(fmt.Errorf("watch: %w", err))
}

// handle turns one OS event into paths of the open batch and keeps the watches
// in step with the tree.
func (w *Watcher) handle(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	if isSentinel(filepath.Base(p)) {
		w.sentinelEvent(p, ev)
		return
	}
	if w.gitEvent(p, ev) {
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.gone(p)
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod) {
		w.present(p, ev.Has(fsnotify.Create))
	}
}

// gone handles a path that was removed or renamed away.
func (w *Watcher) gone(p string) {
	wasDir := w.watched[p]
	if wasDir {
		w.unwatch(p)
		if slices.Contains(w.opts.Roots, p) {
			w.warn(fmt.Errorf("watch %s: the root directory was removed or renamed; changes under it are not seen until it is watched again", p))
		}
	}
	// A path not watched as a directory may still have been an ignored one
	// ("build/" ignores only directories): ignore it if either reading does.
	if w.ignored(p, true) || (!wasDir && w.ignored(p, false)) {
		return
	}
	w.note(p)
	if isIgnoreFile(p) {
		w.rulesChanged(filepath.Dir(p))
	}
}

// present handles a path that was created, written or chmodded.
func (w *Watcher) present(p string, created bool) {
	fi, err := os.Lstat(p)
	if err != nil {
		// Gone again already; its Remove or Rename event follows.
		return
	}
	if fi.IsDir() {
		if created && !w.watched[p] && !w.ignored(p, true) {
			// Watch it, then read it: files made before the watch landed are
			// found by the read, later ones come as events.
			if err := w.walk(p, true, nil); err != nil {
				w.warn(err)
			}
		}
		return
	}
	if w.ignored(p, false) {
		return
	}
	w.note(p)
	if isIgnoreFile(p) {
		w.rulesChanged(filepath.Dir(p))
	}
}

func isIgnoreFile(p string) bool {
	b := filepath.Base(p)
	return b == GitignoreFile || b == PetsignoreFile
}

// rulesChanged re-reads dir's ignore files and brings the watches below dir
// in line with them.
func (w *Watcher) rulesChanged(dir string) {
	w.m.Forget(dir)
	if !w.watched[dir] && !w.b.recursive() {
		return
	}
	if err := w.rewalk([]string{dir}, []string{dir}); err != nil {
		w.warn(err)
	}
}

// ignored decides an event's path. With a per-directory backend the parent is
// watched, so it is not ignored; a recursive backend also reports events from
// ignored directories, so every parent is checked.
func (w *Watcher) ignored(p string, isDir bool) bool {
	if w.b.recursive() {
		return w.m.Ignored(p, isDir)
	}
	return w.m.match(p, isDir, w.m.rootIndex(p))
}

// reconcile walks the roots with the current rules, watches every directory
// that should be watched and drops every other watch; and follows the git
// directories of the roots' work trees.
func (w *Watcher) reconcile() error {
	w.rootTops = make(map[string]bool)
	if !w.opts.noGit {
		for _, r := range w.opts.Roots {
			if g, top, ok := findGitDir(r); ok {
				w.rootTops[top] = true
				w.followGit(g, top)
			}
		}
	}
	err := w.rewalk(w.opts.Roots, nil)
	w.pruneGit()
	return err
}

// rewalk walks dirs with the current rules, watches every directory below them
// that should be watched, and drops the watches in scope (every watch, if scope
// is nil) that should not be.
func (w *Watcher) rewalk(dirs []string, scope []string) error {
	seen := make(map[string]bool)
	var errs []error
	for _, d := range dirs {
		if err := w.walk(d, false, seen); err != nil {
			errs = append(errs, err)
		}
	}
	for p := range w.watched {
		if seen[p] {
			continue
		}
		if scope == nil || slices.ContainsFunc(scope, func(d string) bool { return within(p, d) }) {
			w.unwatchOne(p)
		}
	}
	if len(errs) == 1 {
		return errs[0] // a *LimitError stays one
	}
	return errors.Join(errs...)
}

// walk watches dir and the unignored directories below it. With report set,
// every file found is added to the open batch (a new directory's files are
// new). seen, if not nil, collects the directories that should be watched.
// Running out of watches gives a *LimitError counting every directory that
// needs one.
func (w *Watcher) walk(dir string, report bool, seen map[string]bool) error {
	wk := walker{w: w, report: report, room: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	if w.b.recursive() {
		if slices.Contains(w.opts.Roots, dir) && !w.watched[dir] {
			if err := w.b.add(dir); err != nil {
				return fmt.Errorf("watch %s: %w", dir, err)
			}
			w.watched[dir] = true
		}
		if seen != nil {
			seen[dir] = true
		}
		if !report {
			return nil
		}
	}
	wk.run(dir, seen)
	if wk.full != nil {
		limit, ns := watchLimit()
		return &LimitError{Needed: w.countDirs(), Limit: limit, NSLimit: ns, Err: wk.full}
	}
	return nil
}

// countDirs counts the directories under the roots that need a watch.
func (w *Watcher) countDirs() int {
	n := 0
	var count func(d string)
	count = func(d string) {
		n++
		f, err := dirent.Open(d)
		if err != nil {
			return
		}
		entries, _ := f.Read(nil)
		f.Close()
		for _, e := range entries {
			if p := filepath.Join(d, e.Name); e.Dir && !w.m.match(p, true, w.m.rootIndex(p)) {
				count(p)
			}
		}
	}
	for _, r := range w.opts.Roots {
		count(r)
	}
	return n
}

// walker walks a tree for Watcher.walk. Its goroutines add the watches,
// read the directories and decide their entries (the Matcher is safe for
// concurrent use), a directory's subdirectories going to new goroutines
// while there is room (a walk for directories alone is a pipeline instead:
// see dir); what touches the Watcher's state (its watches, the
// open batch, git, warnings) is collected and done by the loop goroutine
// once every walking goroutine has ended. The loop goroutine waits for the
// walk meanwhile, so the goroutines may read w.watched.
type walker struct {
	w      *Watcher
	report bool
	room   chan struct{} // a slot per goroutine beyond the caller's
	wg     sync.WaitGroup
	full   error // the first ENOSPC; after it no more watches are tried

	mu      sync.Mutex // guards what follows while walking
	dirs    []walked
	warns   []error
	fullErr error
	isFull  atomic.Bool

	// A walk for directories alone (see readDirs): the batches of
	// subdirectories waiting for their watches, and how many batches are
	// not yet watched and checked.
	adds    chan dirBatch
	pending sync.WaitGroup
}

// dirBatch is the subdirectories of one directory that a walk for
// directories alone found: watched in order by the walk's adder, then
// checked and read by another goroutine.
type dirBatch struct {
	dd   *dirent.Dir // the parent, open; closed once its subdirectories are checked
	subs []walked
}

// walked is what the walk found in one directory.
type walked struct {
	dir     string
	watched bool     // its watch was added by this walk
	files   []string // with report: its files that are not ignored
	git     bool     // it holds a .git
}

// run walks root and then applies what was found.
func (wk *walker) run(root string, seen map[string]bool) {
	w := wk.w
	warn := w.m.warn
	w.m.warn = wk.warn // the matcher warns from the walking goroutines
	wk.dir(root)
	wk.wg.Wait()
	w.m.warn = warn
	wk.full = wk.fullErr
	for _, err := range wk.warns {
		w.warn(err)
	}
	for _, f := range wk.dirs {
		if seen != nil {
			seen[f.dir] = true
		}
		if f.watched {
			w.watched[f.dir] = true
		}
		if f.git {
			// A nested repository (or the root's own): follow its git
			// directory while the directory is watched.
			if g, ok := gitDirAt(f.dir); ok {
				w.followGit(g, f.dir)
			}
		}
		for _, p := range f.files {
			w.note(p)
		}
	}
}

func (wk *walker) warn(err error) {
	wk.mu.Lock()
	wk.warns = append(wk.warns, err)
	wk.mu.Unlock()
}

// dir watches and reads d, and walks its subdirectories that are not
// ignored; d itself has been decided.
func (wk *walker) dir(d string) {
	f := walked{dir: d}
	if !wk.watch(&f) {
		return
	}
	if wk.report || wk.w.b.recursive() {
		wk.read(f)
		return
	}
	// Directories alone: one goroutine adds every watch (inotify adds
	// serialise anyway, in the kernel and in fsnotify), while others check
	// which watched directories are leaves and read the others. Side by
	// side, the walk takes about as long as its watches' adds alone.
	wk.adds = make(chan dirBatch)
	added := make(chan struct{})
	go func() { // owned by dir: it waits for added
		defer close(added)
		wk.adder()
	}()
	wk.readDirs(f)
	wk.pending.Wait()
	close(wk.adds)
	<-added
}

// readDirs reads f.dir (watched) for a walk for directories alone, and
// hands its subdirectories that are not ignored to the adder.
func (wk *walker) readDirs(f walked) {
	w, d := wk.w, f.dir
	dd, err := openDir(d)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			wk.warn(fmt.Errorf("read directory %s: %w", d, err))
		}
		wk.found(f)
		return
	}
	entries, in, prefix := wk.list(dd, d)
	var subs []walked
	for _, e := range entries {
		if e.Name == ".git" && !w.opts.noGit {
			f.git = true
		}
		if !e.Dir {
			continue
		}
		if p := prefix + e.Name; !in.Ignored(p, e.Name, true) {
			subs = append(subs, walked{dir: p})
		}
	}
	wk.found(f)
	if len(subs) == 0 {
		dd.Close()
		return
	}
	wk.pending.Add(1)
	wk.adds <- dirBatch{dd: dd, subs: subs}
}

// adder adds the watches of each batch, in order, and hands the batch on
// to be checked.
func (wk *walker) adder() {
	for b := range wk.adds {
		watched := b.subs[:0]
		for _, s := range b.subs {
			if wk.watch(&s) {
				watched = append(watched, s)
			}
		}
		b.subs = watched
		wk.wg.Add(1)
		go func() { // owned by the walk: run waits for wk.wg
			defer wk.wg.Done()
			wk.check(b)
		}()
	}
}

// check reads the subdirectories of b that are not leaves (dirent.Dir.Leaf:
// no subdirectory, no .git), which is most of a tree; a leaf is only
// recorded. Every one is watched already: a directory made in a leaf after
// Leaf looked is an event.
func (wk *walker) check(b dirBatch) {
	defer wk.pending.Done() // after the batches of what it reads are handed on
	var more []walked
	for _, s := range b.subs {
		if b.dd.Leaf(filepath.Base(s.dir)) {
			wk.found(s)
			continue
		}
		more = append(more, s)
	}
	b.dd.Close()
	for _, s := range more {
		wk.readDirs(s)
	}
}

// watch adds f.dir's watch, unless it has one; false if the directory is
// gone, or cannot be watched (warned).
func (wk *walker) watch(f *walked) bool {
	w := wk.w
	if w.b.recursive() || w.watched[f.dir] || wk.isFull.Load() {
		// Out of watches: keep walking only to report the files of a new
		// directory; countDirs says how many watches are needed.
		return true
	}
	err := w.b.add(f.dir)
	switch {
	case err == nil:
		f.watched = true
	case errors.Is(err, syscall.ENOSPC):
		wk.mu.Lock()
		if wk.fullErr == nil {
			wk.fullErr = err
		}
		wk.mu.Unlock()
		wk.isFull.Store(true)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return false // gone already; its parent reports it
	default:
		wk.warn(fmt.Errorf("watch %s: %w", f.dir, err))
		return false
	}
	return true
}

// found records what the walk found in one directory.
func (wk *walker) found(f walked) {
	wk.mu.Lock()
	wk.dirs = append(wk.dirs, f)
	wk.mu.Unlock()
}

// read reads f.dir (watched) and walks its subdirectories that are not
// ignored (a walk that reports files, or on a backend that watches a whole
// tree; a walk for directories alone is readDirs').
func (wk *walker) read(f walked) {
	w, d := wk.w, f.dir
	var subdirs []walked
	defer func() {
		wk.found(f)
		for _, s := range subdirs {
			select {
			case wk.room <- struct{}{}:
				wk.wg.Add(1)
				go func() {
					defer wk.wg.Done()
					wk.read(s)
					<-wk.room
				}()
			default:
				wk.read(s)
			}
		}
	}()
	dd, err := openDir(d)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			wk.warn(fmt.Errorf("read directory %s: %w", d, err))
		}
		return
	}
	defer dd.Close()
	entries, in, prefix := wk.list(dd, d)
	for _, e := range entries {
		if e.Name == ".git" && !w.opts.noGit {
			f.git = true
		}
		p := prefix + e.Name
		if in.Ignored(p, e.Name, e.Dir) {
			continue
		}
		if !e.Dir {
			f.files = append(f.files, p)
			continue
		}
		s := walked{dir: p}
		if !wk.watch(&s) {
			continue
		}
		subdirs = append(subdirs, s)
	}
}

// list reads dd, the directory d, for a walk: its entries (the matcher
// seeded with them), its ignore rules, and d with a trailing separator.
func (wk *walker) list(dd *dirent.Dir, d string) ([]dirent.Entry, *Dir, string) {
	entries, err := dd.Read(nil)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		wk.warn(fmt.Errorf("read directory %s: %w", d, err))
	}
	wk.w.m.Seed(d, entries)
	prefix := d
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return entries, wk.w.m.Dir(d), prefix
}

// openDir opens a directory for a walk: dirent.Open (a test counts).
var openDir = dirent.Open

// unwatch drops the watches on dir and every directory below it.
func (w *Watcher) unwatch(dir string) {
	for p := range w.watched {
		if within(p, dir) {
			w.unwatchOne(p)
		}
	}
}

func (w *Watcher) unwatchOne(p string) {
	// The kernel drops the watch of a deleted directory by itself; removing it
	// again fails harmlessly.
	_ = w.b.remove(p)
	delete(w.watched, p)
	w.unwatchedBarriers(p)
	if w.git.serves(p) {
		w.pruneGit()
	}
}
