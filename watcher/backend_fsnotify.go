//go:build !darwin && !windows

package watcher

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/fsnotify/fsnotify"
)

// eventBuffer lets fsnotify's reader run ahead of the loop while the loop walks
// a new directory; the kernel queue (fs.inotify.max_queued_events) is the real
// buffer.
const eventBuffer = 1024

// newBackend is the Watcher's backend here: fsnotifyBackend, one watch per
// directory, with inotify on Linux (and kqueue on the BSDs).
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
