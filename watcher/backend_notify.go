//go:build darwin || windows

package watcher

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
	"github.com/rjeczalik/notify"
)

// notifyBackend watches whole trees with rjeczalik/notify: one FSEvents stream
// (macOS) or one recursive ReadDirectoryChangesW handle (Windows) per root.
// Each root has a goroutine that turns notify's events into fsnotify events; the
// backend owns these goroutines and close waits for them.
type notifyBackend struct {
	out  chan fsnotify.Event
	errs chan error
	done chan struct{}

	mu    sync.Mutex
	roots map[string]*notifyRoot
}

type notifyRoot struct {
	c      chan notify.EventInfo
	stop   chan struct{}
	exited chan struct{}
}

// notifyBuffer is the channel notify delivers into. notify never blocks on it:
// a full channel drops events, so it is large and drained by its own goroutine.
const notifyBuffer = 8192

func newBackend() (backend, error) {
	return &notifyBackend{
		out:   make(chan fsnotify.Event),
		errs:  make(chan error),
		done:  make(chan struct{}),
		roots: make(map[string]*notifyRoot),
	}, nil
}

func (*notifyBackend) recursive() bool                 { return true }
func (b *notifyBackend) events() <-chan fsnotify.Event { return b.out }
func (b *notifyBackend) errors() <-chan error          { return b.errs }

func (b *notifyBackend) add(root string) error { return b.watch(root, true) }

// addFlat watches dir alone: notify without "..." is not recursive.
func (b *notifyBackend) addFlat(dir string) error { return b.watch(dir, false) }

func (b *notifyBackend) watch(root string, recursive bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.roots[root]; ok {
		return nil
	}
	// FSEvents reports real paths (/private/var/... for /var/...): watch the real
	// path and map events back to the root the caller knows.
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	r := &notifyRoot{
		c:      make(chan notify.EventInfo, notifyBuffer),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	target := real
	if recursive {
		target = filepath.Join(real, "...")
	}
	if err := notify.Watch(target, r.c, notify.All|overflowEvents); err != nil {
		return fmt.Errorf("watch %s: %w", root, err)
	}
	b.roots[root] = r
	go b.forward(root, real, r)
	return nil
}

// forward runs until the root is removed or the backend closed.
func (b *notifyBackend) forward(root, real string, r *notifyRoot) {
	defer close(r.exited)
	for {
		var ei notify.EventInfo
		select {
		case ei = <-r.c:
		case <-r.stop:
			return
		case <-b.done:
			return
		}
		if ei.Event()&overflowEvents != 0 {
			select {
			case b.errs <- fsnotify.ErrEventOverflow:
			case <-r.stop:
				return
			case <-b.done:
				return
			}
			continue
		}
		p := ei.Path()
		if rest, ok := strings.CutPrefix(p, real); ok && real != root {
			p = root + rest
		}
		var op fsnotify.Op
		e := ei.Event()
		if e&notify.Create != 0 {
			op |= fsnotify.Create
		}
		if e&notify.Remove != 0 {
			op |= fsnotify.Remove
		}
		if e&notify.Write != 0 {
			op |= fsnotify.Write
		}
		if e&notify.Rename != 0 {
			op |= fsnotify.Rename
		}
		if op == 0 {
			continue
		}
		select {
		case b.out <- fsnotify.Event{Name: p, Op: op}:
		case <-r.stop:
			return
		case <-b.done:
			return
		}
	}
}

func (b *notifyBackend) remove(root string) error {
	b.mu.Lock()
	r, ok := b.roots[root]
	delete(b.roots, root)
	b.mu.Unlock()
	if !ok {
		return nil
	}
	notify.Stop(r.c)
	close(r.stop)
	<-r.exited
	return nil
}

func (b *notifyBackend) close() error {
	b.mu.Lock()
	roots := b.roots
	b.roots = nil
	b.mu.Unlock()
	close(b.done)
	for _, r := range roots {
		notify.Stop(r.c)
		<-r.exited
	}
	return nil
}
