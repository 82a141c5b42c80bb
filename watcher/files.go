package watcher

import (
	"errors"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files watches a few individual files, such as a Petsfile and the files it
// loads, by watching their directories without recursion (so an editor that
// replaces the file by a rename is seen too). Changes to other files in those
// directories are dropped. Batches close like a Watcher's: after a quiet
// window with no change or once they are a cap old, on the same debounce and
// an injected Clock, and they wait for git as a Watcher's do: Files follows
// the git directories of its files' work trees (without recursion), so that a
// checkout that changes a Petsfile and other files closes both watchers'
// batches after git is done. It uses fsnotify on every platform (inotify,
// kqueue, ReadDirectoryChangesW): a handful of directories needs no FSEvents
// stream.
type Files struct {
	b       backend
	clock   Clock
	changes chan []string
	started chan struct{}
	errs    chan error
	reqs    chan func()
	stop    chan struct{}
	done    chan struct{}

	closeOnce sync.Once
	closeErr  error
	noGit     bool

	// The fields below belong to the loop goroutine (Update runs inside it).
	want    map[string]bool // the files watched
	dirs    map[string]bool // their directories, each with a watch
	git     gitWatch        // their git directories, each with a watch unless in dirs
	cap     time.Duration
	pending map[string]bool // changed, batch still open
	recent  recency         // changed lately, for the debounce's heat
	ready   map[string]bool // batch closed, not yet read by the caller
	next    []string        // ready, sorted
	deb     debounce
	alarm   alarm
}

// FilesOptions says how Files batches.
type FilesOptions struct {
	Quiet time.Duration // a lone change's batch closes after this long with no change (0 = DefaultQuiet)
	Burst time.Duration // the widest window, while many files change fast (0 = DefaultBurst)
	Cap   time.Duration // and at the latest this long after its first change (0 = DefaultCap)
	Clock Clock         // nil = the real clock

	noGit bool // measurements: do not follow git directories
}

// WatchFiles starts watching files (absolute paths), with batches closing
// after quiet (0 = DefaultQuiet; wider while many files change, up to
// DefaultBurst) or DefaultCap. It is WatchFilesWith with FilesOptions{Quiet: quiet}.
func WatchFiles(files []string, quiet time.Duration) (*Files, error) {
	return WatchFilesWith(files, FilesOptions{Quiet: quiet})
}

// WatchFilesWith starts watching files (absolute paths) and returns once the
// watches are in place.
func WatchFilesWith(files []string, opts FilesOptions) (*Files, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return startFiles(files, opts, fsnotifyBackend{fw})
}

// startFiles is WatchFilesWith with the backend given; it closes b on failure.
func startFiles(files []string, opts FilesOptions, b backend) (*Files, error) {
	batching(&opts.Quiet, &opts.Burst, &opts.Cap, &opts.Clock)
	f := &Files{
		b:       b,
		clock:   opts.Clock,
		changes: make(chan []string),
		started: make(chan struct{}, 1),
		errs:    make(chan error, 1),
		reqs:    make(chan func()),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[string]bool),
		recent:  make(recency),
		ready:   make(map[string]bool),
		deb:     debounce{quiet: opts.Quiet, burst: opts.Burst, cap: opts.Cap},
		alarm:   alarm{clock: opts.Clock},
		cap:     opts.Cap,
		noGit:   opts.noGit,
	}
	f.git.ordered = orderedBackend(b)
	if err := f.watch(files); err != nil {
		b.close()
		return nil, err
	}
	go f.loop()
	return f, nil
}

// Changes delivers the watched files that changed, sorted. While the caller
// is not receiving, later batches merge into the one waiting.
func (f *Files) Changes() <-chan []string { return f.changes }

// Started receives when a batch opens: a watched file changed after a quiet
// window, and a batch follows on Changes once it closes. (A reader that
// must act before the quiet window ends, such as the rebuild loop holding
// file changes for a Petsfile reload, listens here.) It receives again when
// git releases its index lock while a batch is open, since that batch (and
// the Watcher's of the same checkout) then closes a quiet window later. It
// holds one signal; an unread one is not repeated.
func (f *Files) Started() <-chan struct{} { return f.started }

// Errors delivers errors from the OS watcher; it holds one, and later ones are
// dropped while it is unread.
func (f *Files) Errors() <-chan error { return f.errs }

// Update replaces the set of files, adding and removing directory watches. It
// returns once the watches are in place, or ErrClosed after Close.
func (f *Files) Update(files []string) error {
	var err error
	finished := make(chan struct{})
	select {
	case f.reqs <- func() { err = f.watch(files); close(finished) }:
	case <-f.done:
		return ErrClosed
	}
	<-finished
	return err
}

// Close stops watching and waits for the goroutine. An open batch is dropped.
// Changes, Started and Errors are left open.
func (f *Files) Close() error {
	f.closeOnce.Do(func() {
		close(f.stop)
		<-f.done
		f.closeErr = f.b.close()
	})
	return f.closeErr
}

// watch makes the directory watches match files, and follows the git
// directories of their work trees. On failure the old set stays (with any
// directories it managed to add also watched).
func (f *Files) watch(files []string) error {
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range files {
		p = filepath.Clean(p)
		want[p] = true
		dirs[filepath.Dir(p)] = true
	}
	defer f.followGit()
	added := map[string]bool{}
	for d := range dirs {
		if !f.dirs[d] {
			if err := f.b.add(d); err != nil {
				for a := range added {
					_ = f.b.remove(a)
				}
				return err
			}
			added[d] = true
		}
	}
	for d := range f.dirs {
		if !dirs[d] {
			_ = f.b.remove(d)
		}
	}
	f.want, f.dirs = want, dirs
	return nil
}

// loop owns the watch and batch state.
func (f *Files) loop() {
	defer close(f.done)
	defer f.alarm.stop()
	evs, errs := f.b.events(), f.b.errors()
	for {
		now := f.clock.Now()
		if f.deb.due(now) {
			// As in Watcher.loop: events already waiting belong to this batch.
			if f.drain(&evs) {
				now = f.clock.Now()
			}
			if f.deb.due(now) && !(halfSaved(f.pending) && f.deb.settle(now)) {
				f.closeBatch()
			}
		}
		t, ok := f.deb.deadline()
		timerC := f.alarm.wait(now, t, ok)
		var out chan<- []string
		if f.next != nil {
			out = f.changes
		}
		select {
		case ev, ok := <-evs:
			if !ok {
				evs = nil
				continue
			}
			f.handle(ev)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			f.handleError(err)
		case <-timerC:
			f.alarm.fired()
		case out <- f.next:
			clear(f.ready)
			f.next = nil
		case req := <-f.reqs:
			req()
		case <-f.stop:
			return
		}
	}
}

// drain handles the events already waiting, without blocking, and reports
// whether there were any.
func (f *Files) drain(evs *<-chan fsnotify.Event) bool {
	for i := 0; i < maxDrain; i++ {
		select {
		case ev, ok := <-*evs:
			if !ok {
				*evs = nil
				return i > 0
			}
			f.handle(ev)
		default:
			return i > 0
		}
	}
	return true
}

func (f *Files) handle(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	if f.git.event(p, ev.Op, f.clock.Now()) {
		f.gitStatus()
		return
	}
	if !f.want[p] || ev.Op == fsnotify.Chmod {
		return
	}
	f.note(p)
}

func (f *Files) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		// Events were lost: any of the files may have changed, and a lock
		// may have gone.
		slog.Debug("watcher: Files event queue overflowed; reporting every file")
		f.git.rescan(f.clock.Now())
		f.gitStatus()
		for p := range f.want {
			f.note(p)
		}
		return
	}
	select {
	case f.errs <- err:
	default:
		slog.Debug("watcher: Files error dropped, nobody reads Errors", "err", err)
	}
}

// note adds p to the open batch, opening one (and saying so on Started) if
// none is open.
func (f *Files) note(p string) {
	if !f.deb.open {
		select {
		case f.started <- struct{}{}:
		default: // one unread is enough
		}
	}
	now := f.clock.Now()
	f.pending[p] = true
	f.deb.event(now, f.recent.fresh(p, now, f.deb.memory()))
}

// followGit follows the git directories of the work trees of the watched
// directories, and no others.
func (f *Files) followGit() {
	if f.noGit {
		return
	}
	now := f.clock.Now()
	wanted := map[string]bool{}
	for d := range f.dirs {
		g, top, ok := findGitDir(d)
		if !ok {
			continue
		}
		wanted[g] = true
		gd, fresh := f.git.add(g, top, now)
		if fresh && !f.dirs[g] {
			if err := f.b.addFlat(g); err != nil {
				slog.Debug("watcher: git directory not watched; Petsfile batches do not wait for git", "dir", g, "err", err)
				delete(f.git.dirs, g)
				continue
			}
			gd.watched = true
		}
	}
	for g, gd := range f.git.dirs {
		if !wanted[g] {
			if gd.watched {
				_ = f.b.remove(g)
			}
			delete(f.git.dirs, g)
		}
	}
	f.gitStatus()
}

// gitStatus hands what the git directories say to the debounce. When git
// lets go of its lock while a batch is open, Started says so again: the batch
// closes a quiet window later, with the rest of the checkout's.
func (f *Files) gitStatus() {
	was := f.deb.git.lockedUntil
	f.deb.git = f.git.status(f.cap)
	if f.deb.open && !was.IsZero() && f.deb.git.lockedUntil.IsZero() {
		select {
		case f.started <- struct{}{}:
		default:
		}
	}
}

// closeBatch moves the open batch to the one waiting for the caller.
func (f *Files) closeBatch() {
	maps.Copy(f.ready, f.pending)
	clear(f.pending)
	f.recent.forget(f.clock.Now(), f.deb.memory())
	f.next = slices.Sorted(maps.Keys(f.ready))
	f.deb.reset()
}
