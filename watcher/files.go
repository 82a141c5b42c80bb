package watcher

import (
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Files watches a few individual files, such as a Petsfile and the files it
// loads, by watching their directories without recursion (so an editor that
// replaces the file by a rename is seen too). Changes to other files in those
// directories are dropped. Batches close after a quiet window.
type Files struct {
	fw      *fsnotify.Watcher
	quiet   time.Duration
	changes chan []string
	started chan struct{}
	errs    chan error
	reqs    chan filesReq
	done    chan struct{}
}

type filesReq struct {
	files []string
	err   chan error
}

// WatchFiles starts watching files (absolute paths).
func WatchFiles(files []string, quiet time.Duration) (*Files, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	f := &Files{fw: fw, quiet: quiet, changes: make(chan []string), started: make(chan struct{}, 1), errs: make(chan error, 1), reqs: make(chan filesReq), done: make(chan struct{})}
	want, dirs, err := f.watch(nil, files)
	if err != nil {
		fw.Close()
		return nil, err
	}
	go f.loop(want, dirs)
	return f, nil
}

// Changes delivers the watched files that changed, sorted.
func (f *Files) Changes() <-chan []string { return f.changes }

// Started receives when a batch opens: a watched file changed after a quiet
// window, and a batch follows on Changes once it closes. (A reader that
// must act before the quiet window ends, such as the rebuild loop holding
// file changes for a Petsfile reload, listens here.)
func (f *Files) Started() <-chan struct{} { return f.started }

// Errors delivers errors from the OS watcher.
func (f *Files) Errors() <-chan error { return f.errs }

// Update replaces the set of files, adding and removing directory watches.
func (f *Files) Update(files []string) error {
	r := filesReq{files: files, err: make(chan error, 1)}
	select {
	case f.reqs <- r:
		return <-r.err
	case <-f.done:
		return ErrClosed
	}
}

// Close stops watching and waits for the goroutine.
func (f *Files) Close() error {
	select {
	case <-f.done:
		return nil
	default:
	}
	err := f.fw.Close()
	<-f.done
	return err
}

// watch makes the directory watches match files; it returns the new set of
// files and directories.
func (f *Files) watch(oldDirs map[string]bool, files []string) (map[string]bool, map[string]bool, error) {
	want := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range files {
		p = filepath.Clean(p)
		want[p] = true
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if !oldDirs[d] {
			if err := f.fw.Add(d); err != nil {
				return nil, nil, err
			}
		}
	}
	for d := range oldDirs {
		if !dirs[d] {
			_ = f.fw.Remove(d)
		}
	}
	return want, dirs, nil
}

// loop owns want, dirs, the pending batch and the batch waiting to be read.
func (f *Files) loop(want, dirs map[string]bool) {
	defer close(f.done)
	pending := map[string]bool{} // changed, batch still open
	ready := map[string]bool{}   // batch closed, not yet read by the caller
	var out chan []string        // f.changes while ready is not empty
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var fire <-chan time.Time
	sorted := func(m map[string]bool) []string {
		s := make([]string, 0, len(m))
		for p := range m {
			s = append(s, p)
		}
		sort.Strings(s)
		return s
	}
	for {
		select {
		case ev, ok := <-f.fw.Events:
			if !ok {
				return
			}
			p := filepath.Clean(ev.Name)
			if !want[p] || ev.Op == fsnotify.Chmod {
				continue
			}
			if len(pending) == 0 {
				select {
				case f.started <- struct{}{}:
				default: // one unread is enough
				}
			}
			pending[p] = true
			timer.Reset(f.quiet)
			fire = timer.C
		case err, ok := <-f.fw.Errors:
			if !ok {
				return
			}
			select {
			case f.errs <- err:
			default:
			}
		case <-fire:
			fire = nil
			for p := range pending {
				ready[p] = true
			}
			pending = map[string]bool{}
			out = f.changes
		case out <- sorted(ready):
			ready = map[string]bool{}
			out = nil
		case r := <-f.reqs:
			w, d, err := f.watch(dirs, r.files)
			if err == nil {
				want, dirs = w, d
			}
			r.err <- err
		}
	}
}
