package fresh

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/windmilleng/pets/internal/dirent"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
)

// walker collects, for each wanted manifest, the stats of the files its
// service owns. A directory it may not read holds nothing, as for the
// watcher (which cannot watch it, and warns).
//
// It reads directories in parallel: a directory's subdirectories go to new
// goroutines while there is room, else the walking goroutine takes them
// itself. Everything it starts has ended when walk or below returns. Each
// directory's files go into the manifests as soon as they are read (under
// mu), with no list of the whole tree beside the maps; after a failure the
// manifests hold part of the tree, and the caller drops them.
type walker struct {
	v    *view
	want map[petsfile.Key]*Manifest
	room chan struct{} // a slot per goroutine beyond the caller's
	wg   sync.WaitGroup
	// since (ns, 0: none): a file whose status changed at or after it is
	// recorded unsure (walkSince).
	since int64

	mu     sync.Mutex // guards the wanted manifests and err while walking
	err    error
	failed atomic.Bool
}

func newWalker(v *view) *walker {
	return &walker{
		v:    v,
		want: map[petsfile.Key]*Manifest{},
		room: make(chan struct{}, 2*runtime.GOMAXPROCS(0)-1),
	}
}

// add asks for m's files; what the walk finds is added to m.Files.
func (w *walker) add(m *Manifest) {
	w.want[m.Spec.Key] = m
}

// walk collects the watch sets below root (one of walkRoots). A root that
// does not exist holds nothing; one that is a file is decided as a file,
// if the watcher sees it.
func (w *walker) walk(root string) error {
	fi, err := os.Stat(root)
	switch {
	case gone(err):
		if _, lerr := os.Lstat(root); lerr != nil {
			return nil
		}
		// A dangling symlink: a file.
	case err != nil:
		return fmt.Errorf("fresh: %w", err)
	case fi.IsDir():
		return w.below(root)
	}
	if w.v.watched(root) && !w.v.m.Ignored(root, false) {
		w.files(nil, filepath.Dir(root), []string{root})
	}
	return w.finish()
}

// below collects the watch sets below dir, which has been decided.
func (w *walker) below(dir string) error {
	w.dir(dir)
	w.wg.Wait()
	return w.finish()
}

// finish says whether the walk failed.
func (w *walker) finish() error {
	return w.err
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = fmt.Errorf("fresh: %w", err)
	}
	w.mu.Unlock()
	w.failed.Store(true)
}

// dir collects the files of dir and walks the subdirectories the matcher
// does not ignore. dir itself has been decided.
func (w *walker) dir(dir string) {
	if w.failed.Load() {
		return
	}
	f, err := dirent.Open(dir)
	if err != nil {
		if !gone(err) && !errors.Is(err, fs.ErrPermission) {
			w.fail(err)
		}
		return
	}
	ents, err := f.Read(nil)
	if err != nil && !gone(err) && !errors.Is(err, fs.ErrPermission) {
		f.Close()
		w.fail(fmt.Errorf("read %s: %w", dir, err))
		return
	}
	w.v.m.Seed(dir, ents)
	in := w.v.m.Dir(dir)
	prefix := dir
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	var files, subdirs []string
	for _, e := range ents {
		p := prefix + e.Name
		if e.Dir {
			if !in.Ignored(p, e.Name, true) {
				subdirs = append(subdirs, p)
			}
			continue
		}
		if !in.Ignored(p, e.Name, false) {
			files = append(files, p)
		}
	}
	w.files(f, dir, files)
	f.Close()
	for _, d := range subdirs {
		select {
		case w.room <- struct{}{}:
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				w.dir(d)
				<-w.room
			}()
		default:
			w.dir(d)
		}
	}
}

// files records the files of dir (not ignored; d is dir, open, or nil) that
// the wanted keys own. Each is lstat'ed once, however many keys own it.
func (w *walker) files(d *dirent.Dir, dir string, files []string) {
	if len(files) == 0 {
		return
	}
	const (
		unknown = iota
		ok
		skip
	)
	state := make([]uint8, len(files))
	stats := make([]FileStat, len(files))
	type got struct {
		k     petsfile.Key
		names []string
		stats []FileStat
	}
	var gots []got
	for k, ps := range rebuild.Own(w.v.owners, w.v.skip, files) {
		if _, wanted := w.want[k]; !wanted {
			continue
		}
		g := got{k: k, names: make([]string, 0, len(ps)), stats: make([]FileStat, 0, len(ps))}
		i := 0
		for _, p := range ps {
			if i = index(files, p, i); i < 0 {
				i = 0
				continue // not one of files: cannot be
			}
			if state[i] == unknown {
				st, ctime, err := lstatIn(d, dir, filepath.Base(p))
				switch {
				case gone(err) || errors.Is(err, fs.ErrPermission):
					state[i] = skip // removed meanwhile, or out of reach
				case err != nil:
					w.fail(err)
					return
				default:
					if w.since != 0 && ctime >= w.since {
						st.Size = unsureSize
					}
					state[i], stats[i] = ok, st
				}
			}
			if state[i] == ok {
				g.names, g.stats = append(g.names, filepath.Base(p)), append(g.stats, stats[i])
			}
			i++
		}
		gots = append(gots, g)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, g := range gots {
		w.want[g.k].Files.addDir(dir, g.names, g.stats)
	}
}

// index returns the position of p in files, or -1. It looks from i on first:
// Own keeps the order of the paths it is given, so that is where p is.
func index(files []string, p string, i int) int {
	for j := i; j < len(files); j++ {
		if files[j] == p {
			return j
		}
	}
	for j := 0; j < i && j < len(files); j++ {
		if files[j] == p {
			return j
		}
	}
	return -1
}
