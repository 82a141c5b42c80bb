package watcher

import "github.com/fsnotify/fsnotify"

// backend is the OS event source behind a Watcher. Events carry absolute paths
// and fsnotify's Op bits whatever the backend; fsnotify.ErrEventOverflow on
// errors means events were lost.
//
// A backend is used by the Watcher's loop goroutine only (and by New before the
// loop starts); close is called once, after the loop has stopped.
type backend interface {
	// recursive reports whether add(root) watches a whole tree (FSEvents,
	// ReadDirectoryChangesW) rather than one directory (inotify).
	recursive() bool
	add(dir string) error
	remove(dir string) error
	events() <-chan fsnotify.Event
	errors() <-chan error
	// close stops the backend and waits for its goroutines.
	close() error
}
