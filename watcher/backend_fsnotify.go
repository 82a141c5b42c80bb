//go:build !darwin && !windows

package watcher

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// fsnotifyBackend watches one directory per add, with inotify on Linux (and
// kqueue on the BSDs).
type fsnotifyBackend struct{ w *fsnotify.Watcher }

// eventBuffer lets fsnotify's reader run ahead of the loop while the loop walks
// a new directory; the kernel queue (fs.inotify.max_queued_events) is the real
// buffer.
const eventBuffer = 1024

func newBackend() (backend, error) {
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		if errors.Is(err, syscall.EMFILE) {
			return nil, fmt.Errorf("start watcher: %w: too many inotify instances or open files; "+
				"close other programs that watch files or raise fs.inotify.max_user_instances "+
				"(sudo sysctl fs.inotify.max_user_instances=1024) or the open-file limit (ulimit -n)", err)
		}
		return nil, fmt.Errorf("start watcher: %w", err)
	}
	return fsnotifyBackend{w}, nil
}

func (fsnotifyBackend) recursive() bool                 { return false }
func (b fsnotifyBackend) add(dir string) error          { return b.w.Add(dir) }
func (b fsnotifyBackend) remove(dir string) error       { return b.w.Remove(dir) }
func (b fsnotifyBackend) events() <-chan fsnotify.Event { return b.w.Events }
func (b fsnotifyBackend) errors() <-chan error          { return b.w.Errors }
func (b fsnotifyBackend) close() error                  { return b.w.Close() }
