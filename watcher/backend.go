package watcher

import (
	"runtime"

	"github.com/fsnotify/fsnotify"
)

// backend is the OS event source behind a Watcher or Files. Events carry
// absolute paths and fsnotify's Op bits whatever the backend;
// fsnotify.ErrEventOverflow on errors means events were lost.
//
// A backend is used by its owner's loop goroutine only (and by the
// constructor before the loop starts); close is called once, after the loop
// has stopped.
type backend interface {
	// recursive reports whether add(root) watches a whole tree (FSEvents,
	// ReadDirectoryChangesW) rather than one directory (inotify).
	recursive() bool
	add(dir string) error
	// addFlat watches dir itself, never its subdirectories, whatever
	// recursive says: the git directory (see gitWatch).
	addFlat(dir string) error
	remove(dir string) error
	events() <-chan fsnotify.Event
	errors() <-chan error
	// close stops the backend and waits for its goroutines.
	close() error
}

// fsnotifyBackend watches one directory per add: with inotify on Linux (the
// Watcher's backend there), kqueue on the BSDs and macOS, and
// ReadDirectoryChangesW on Windows. Files uses it on every platform.
type fsnotifyBackend struct{ w *fsnotify.Watcher }

func (fsnotifyBackend) recursive() bool                 { return false }
func (b fsnotifyBackend) add(dir string) error          { return b.w.Add(dir) }
func (b fsnotifyBackend) addFlat(dir string) error      { return b.w.Add(dir) }
func (b fsnotifyBackend) remove(dir string) error       { return b.w.Remove(dir) }
func (b fsnotifyBackend) events() <-chan fsnotify.Event { return b.w.Events }
func (b fsnotifyBackend) errors() <-chan error          { return b.w.Errors }
func (b fsnotifyBackend) close() error                  { return b.w.Close() }

// orderedBackend reports whether b's events come in one queue in the order
// they happened, whatever directory they are in: inotify, one queue per
// fsnotify.Watcher. The git hold then follows the lock's events in that
// order (see gitWatch.ordered).
func orderedBackend(b backend) bool {
	_, ok := b.(fsnotifyBackend)
	return ok && runtime.GOOS == "linux"
}
