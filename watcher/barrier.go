package watcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Barrier says that the watcher has seen every change made before
// Watcher.Barrier(ID) was called. It comes in Batch.Barriers, after every
// change seen before it: those are in earlier batches, in this batch's Paths,
// or in Pending.
type Barrier struct {
	ID uint64
	// Pending are the paths of the batch that was still open when the barrier
	// was reached, sorted: seen, not yet in a closed batch. The batch does not
	// close early for a barrier; these paths come in a later batch, or in this
	// one's Paths if it was still unread when the open batch closed.
	Pending []string
	// Overflow says the open batch lost events: anything under the roots may
	// have changed, and a later batch says Overflow.
	Overflow bool
	// Err is set when the barrier could not be confirmed: its sentinel's event
	// did not come within two seconds (the root was removed meanwhile, say), or
	// the directory holding the sentinel stopped being watched. The watcher may
	// not have seen every earlier change; the caller falls back as if Barrier
	// had failed. It wraps ErrBarrierLost.
	Err error
}

// ErrBarrierLost is wrapped by Barrier.Err.
var ErrBarrierLost = errors.New("watcher: barrier lost")

// barrierTimeout bounds the wait for a sentinel's event, on the Watcher's Clock.
const barrierTimeout = 2 * time.Second

// barrierPrefix starts every sentinel's name: ".pets-barrier-<pid>-<n>", n
// counting the sentinels of this process (barrierSeq), so that sentinels of
// two Watchers, or of two pets processes, watching one tree never clash.
// AlwaysIgnored matches the prefix, so no Watcher, Files or Matcher user ever
// takes a sentinel, this process's or another's, for a change.
const barrierPrefix = ".pets-barrier-"

var barrierSeq atomic.Uint64

func isSentinel(name string) bool { return strings.HasPrefix(name, barrierPrefix) }

// barrierWait is a barrier whose sentinels have not all been seen. The loop
// goroutine owns it.
type barrierWait struct {
	id       uint64
	waiting  map[string]string // root -> its sentinel, until the sentinel's event is seen
	deadline time.Time         // fail it then
}

// Barrier asks the watcher to say, in order, when it has seen every change
// made before this call. It writes a sentinel file (".pets-barrier-<pid>-<n>",
// created and removed by the watcher and never reported) where the OS orders
// its event after those of the earlier changes: on Linux one inotify queue
// orders the events of every watched directory, so one root that can be
// written is enough; with FSEvents and ReadDirectoryChangesW each root has its
// own stream, so every root gets one. Once the sentinel's event has been read
// for each of them, Barrier{ID: id, Pending: ...} is added to the batch
// waiting for the caller (one with no Paths if none waits) and the sentinels
// are removed; the open batch is not closed early, and neither the sentinels
// nor their removal open or extend one.
//
// Barrier returns once the sentinels are written, not when the barrier is
// delivered: read Batches until a batch carries it. It returns an error, and
// delivers nothing, if no sentinel could be written where one is needed (a
// read-only root, say), so that the caller can fall back, and ErrClosed after
// Close. With no roots the barrier is delivered at once. A barrier whose
// sentinel event does not come within two seconds on the Watcher's Clock is
// delivered with Err set.
func (w *Watcher) Barrier(id uint64) error {
	var err error
	if derr := w.do(func() { err = w.startBarrier(id) }); derr != nil {
		return derr
	}
	return err
}

// startBarrier writes the sentinels of a new barrier.
func (w *Watcher) startBarrier(id uint64) error {
	bw := &barrierWait{id: id, waiting: make(map[string]string), deadline: w.clock.Now().Add(barrierTimeout)}
	every := w.b.recursive() // one stream per root: each needs its sentinel
	var errs []error
	for _, root := range w.opts.Roots {
		s := filepath.Join(root, barrierPrefix+strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(barrierSeq.Add(1), 10))
		var err error
		if !w.watched[root] {
			err = fmt.Errorf("write barrier in %s: the directory is not watched (removed?)", root)
		} else if err = writeSentinel(s); err != nil {
			err = fmt.Errorf("write barrier: %w", err)
		}
		if err != nil {
			errs = append(errs, err)
			if every {
				break
			}
			continue
		}
		bw.waiting[root] = s
		if !every {
			break
		}
	}
	if len(errs) > 0 && (every || len(bw.waiting) == 0) {
		for _, s := range bw.waiting {
			_ = os.Remove(s)
		}
		return errors.Join(errs...)
	}
	if len(bw.waiting) == 0 { // no roots: nothing to wait for
		w.finishBarrier(bw, nil)
		return nil
	}
	for _, s := range bw.waiting {
		w.sentinels[filepath.Base(s)] = bw
	}
	w.barriers = append(w.barriers, bw)
	return nil
}

// writeSentinel creates an empty file: one IN_CREATE (FSEvents, Windows:
// one Create), no write.
func writeSentinel(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// sentinelEvent handles an event of a sentinel's name. Only the creation of
// one of this Watcher's sentinels means something: every event before it has
// been read. The sentinel is then removed; the events of that removal, and of
// other processes' sentinels, are dropped. Sentinels are known by name, which
// is unique in this process, so that a path the OS spells differently (case
// on Windows, a symlinked prefix) still matches.
func (w *Watcher) sentinelEvent(p string, ev fsnotify.Event) {
	name := filepath.Base(p)
	bw := w.sentinels[name]
	if bw == nil || !(ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write)) {
		return
	}
	delete(w.sentinels, name)
	for root, s := range bw.waiting {
		if filepath.Base(s) == name {
			_ = os.Remove(s)
			delete(bw.waiting, root)
		}
	}
	if len(bw.waiting) == 0 {
		w.finishBarrier(bw, nil)
	}
}

// finishBarrier delivers bw, with err if it failed, and forgets it.
func (w *Watcher) finishBarrier(bw *barrierWait, err error) {
	for _, s := range bw.waiting {
		delete(w.sentinels, filepath.Base(s))
		_ = os.Remove(s)
	}
	w.barriers = slices.DeleteFunc(w.barriers, func(x *barrierWait) bool { return x == bw })
	var pending []string
	for p := range w.pending {
		pending = append(pending, p)
	}
	slices.Sort(pending)
	if w.ready == nil {
		w.ready = &Batch{}
	}
	w.ready.Barriers = append(w.ready.Barriers, Barrier{ID: bw.id, Pending: pending, Overflow: w.overflow, Err: err})
}

// barrierDeadline is the earliest deadline of the barriers waiting.
func (w *Watcher) barrierDeadline() (time.Time, bool) {
	var t time.Time
	for _, bw := range w.barriers {
		if t.IsZero() || bw.deadline.Before(t) {
			t = bw.deadline
		}
	}
	return t, !t.IsZero()
}

// expireBarriers fails the barriers whose sentinels did not come in time.
func (w *Watcher) expireBarriers(now time.Time) {
	for _, bw := range slices.Clone(w.barriers) {
		if now.Before(bw.deadline) {
			continue
		}
		var roots []string
		for r := range bw.waiting {
			roots = append(roots, r)
		}
		slices.Sort(roots)
		w.finishBarrier(bw, fmt.Errorf("%w: no event for its sentinel in %s within %v", ErrBarrierLost, strings.Join(roots, ", "), barrierTimeout))
	}
}

// overflowBarriers settles every waiting barrier after the OS lost events:
// the open batch now says Overflow, so it covers every change made before
// them, whether or not their sentinels' events were lost.
func (w *Watcher) overflowBarriers() {
	for len(w.barriers) > 0 {
		w.finishBarrier(w.barriers[0], nil)
	}
}

// unwatchedBarriers handles dir losing its watch. A sentinel in it may never
// be reported now. With one stream per root, that root no longer counts;
// with one queue for all (inotify) the barrier has lost its witness and fails.
func (w *Watcher) unwatchedBarriers(dir string) {
	for _, bw := range slices.Clone(w.barriers) {
		s, ok := bw.waiting[dir]
		if !ok {
			continue
		}
		if !w.b.recursive() {
			w.finishBarrier(bw, fmt.Errorf("%w: %s stopped being watched before its sentinel was seen", ErrBarrierLost, dir))
			continue
		}
		delete(bw.waiting, dir)
		delete(w.sentinels, filepath.Base(s))
		_ = os.Remove(s)
		if len(bw.waiting) == 0 {
			w.finishBarrier(bw, nil)
		}
	}
}

// removeSentinels removes the sentinels still waiting, when the Watcher stops.
func (w *Watcher) removeSentinels() {
	for _, bw := range w.barriers {
		for _, s := range bw.waiting {
			_ = os.Remove(s)
		}
	}
	clear(w.sentinels)
	w.barriers = nil
}
