package fresh

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/watcher"
)

// Spec is how to find a service's watch set without the Petsfile.
type Spec struct {
	Key petsfile.Key
	// Owners are the owners of the whole graph (rebuild.OwnersOf): whether
	// Key owns a path depends on the other services' areas. Only Key, Dir,
	// Watch and Ignore matter (and are saved); Sync has no say in ownership.
	Owners []rebuild.Owner
	// Ignore are global ignore globs besides the owners' (absolute,
	// slash-separated doublestar patterns), as the watcher is given them:
	// the state directory's "<dir>/**".
	Ignore []string
	// Skip are the absolute paths that belong to no service: the Petsfile
	// and the files it loads (their content is in state.Stamp.Config).
	Skip []string
}

// FileStat is what a manifest keeps of a file: not its content.
type FileStat struct {
	Size  int64
	MTime int64 // modification time, nanoseconds since the Unix epoch
	Mode  fs.FileMode
}

func statOf(fi fs.FileInfo) FileStat {
	return FileStat{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Mode: fi.Mode()}
}

// Manifest is a service's watch set at a moment.
//
// A Manifest is not safe for concurrent use: Update changes it in place.
type Manifest struct {
	Spec  Spec
	Taken time.Time // when the walk that took it began
	Files Files     // absolute paths (OS form) and their stats
}

// view is what deciding a path takes: the owners, the skipped paths, the
// watcher's roots and its matcher (which caches the ignore files it reads,
// so a view serves one walk or one Update).
type view struct {
	owners []rebuild.Owner
	skip   map[string]bool
	roots  []string // what the watcher watches
	m      *watcher.Matcher
}

// newView builds the view of s, with the roots and matcher the watcher would
// have (see watchOpts in cmd/pets): rebuild.Roots of the owners, a missing
// root replaced by its nearest existing parent, one that is not a directory
// dropped, roots inside others dropped; the owners' global ignores plus
// s.Ignore.
func newView(s Spec) (*view, error) {
	v := &view{owners: s.Owners, skip: make(map[string]bool, len(s.Skip))}
	for _, p := range s.Skip {
		v.skip[filepath.Clean(p)] = true
	}
	var roots []string
	for _, r := range rebuild.Roots(s.Owners) {
		if fi, err := os.Stat(r); err == nil && !fi.IsDir() {
			continue
		} else if err != nil {
			r = existingParent(r)
		}
		roots = append(roots, r)
	}
	v.roots = outermost(roots)
	m, err := watcher.NewMatcher(v.roots, append(rebuild.GlobalIgnores(s.Owners), s.Ignore...))
	if err != nil {
		return nil, fmt.Errorf("fresh: %w", err)
	}
	v.m = m
	return v, nil
}

// watched reports whether the watcher sees p: it lies under one of its roots.
func (v *view) watched(p string) bool {
	return slices.ContainsFunc(v.roots, func(r string) bool { return within(p, r) })
}

// existingParent returns the nearest existing directory above p.
func existingParent(p string) string {
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() || d == filepath.Dir(d) {
			return d
		}
	}
}

// outermost drops the paths that lie inside another.
func outermost(paths []string) []string {
	paths = slices.Clone(paths)
	slices.Sort(paths)
	var out []string
	for _, p := range paths {
		if len(out) > 0 && within(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// within reports whether p is dir or below it (both clean, OS form).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	if !strings.HasPrefix(p, dir) {
		return false
	}
	return strings.HasSuffix(dir, string(filepath.Separator)) || p[len(dir)] == filepath.Separator
}

// walkRoots returns the paths that hold everything keys may own: the roots
// of their own owners (a subset of the graph's). Each is a directory, or
// missing, or (a watch= glob's base replaced by a file) a file.
func walkRoots(owners []rebuild.Owner, keys map[petsfile.Key]bool) []string {
	var mine []rebuild.Owner
	for _, o := range owners {
		if keys[o.Key] {
			mine = append(mine, o)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	return rebuild.Roots(mine)
}

// gone reports whether err says a path is no longer there (or no longer a
// directory) — normal in a tree that changes while it is walked.
func gone(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir))
}

// Walk snapshots the watch sets of specs. Specs with the same owners, ignores
// and skipped paths (the services of one graph) share one walk of the roots
// of their owners; a spec whose key has no owner gets an empty manifest.
func Walk(specs []Spec) (map[petsfile.Key]*Manifest, error) {
	return walkSince(specs, time.Time{})
}

// unsureSize is the size walkSince records for a file it cannot vouch for:
// no file on disk has it, so the file reads as changed (Diff) until a step
// reads it again (Update, Walk).
const unsureSize = -1

// walkSince is Walk done after the steps that start from it (Stamper.Defer):
// a file whose status changed at or after since (its ctime, which no tool
// can set back; the modification time where the system keeps none) may be
// newer than what a step read, and is recorded with unsureSize. The
// manifests are taken at since.
func walkSince(specs []Spec, since time.Time) (map[petsfile.Key]*Manifest, error) {
	gs, out, err := groupsOf(specs)
	if err != nil {
		return nil, err
	}
	if !since.IsZero() {
		for _, m := range out {
			m.Taken = since
		}
	}
	for _, g := range gs {
		if !since.IsZero() {
			g.w.since = since.UnixNano()
		}
		for _, r := range g.roots {
			if err := g.w.walk(r); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// group is the specs that share a walk: one view, the roots of their
// owners.
type group struct {
	w     *walker
	roots []string
}

// groupsOf groups specs by view and makes their empty manifests, taken now.
func groupsOf(specs []Spec) ([]*group, map[petsfile.Key]*Manifest, error) {
	taken := time.Now()
	var gs []*group
	keys := map[*group]map[petsfile.Key]bool{}
	byID := map[string]*group{}
	out := make(map[petsfile.Key]*Manifest, len(specs))
	for _, s := range specs {
		if _, dup := out[s.Key]; dup {
			return nil, nil, fmt.Errorf("fresh: two specs for %s", s.Key)
		}
		id := s.viewID()
		g := byID[id]
		if g == nil {
			v, err := newView(s)
			if err != nil {
				return nil, nil, err
			}
			g = &group{w: newWalker(v)}
			byID[id], keys[g] = g, map[petsfile.Key]bool{}
			gs = append(gs, g)
		}
		m := &Manifest{Spec: s, Taken: taken}
		g.w.add(m)
		keys[g][s.Key] = true
		out[s.Key] = m
	}
	for _, g := range gs {
		g.roots = walkRoots(g.w.v.owners, keys[g])
	}
	return gs, out, nil
}

// viewID identifies what deciding a path depends on: all of s but its key.
func (s Spec) viewID() string {
	f := s.file(time.Time{})
	f.Key = keyJSON{}
	return string(mustJSON(f))
}

// Update re-reads the given absolute paths, in place, so that m says of each
// what a new Walk would: present and owned -> its stat now; absent, ignored
// or not owned by m's service -> not in m. It is the stamp a watch round takes
// from the paths it knows changed: one lstat per path. A path that is (or
// was) a directory has its subtree walked again, and so has the directory of
// an edited .gitignore or .petsignore (where it meets m's roots).
//
// Taken is set to now: the caller vouches that nothing else changed since m
// was taken, as the watcher does.
func (m *Manifest) Update(paths []string) error {
	v, err := newView(m.Spec) // with the ignore files as they are now
	if err != nil {
		return err
	}
	roots := walkRoots(m.Spec.Owners, map[petsfile.Key]bool{m.Spec.Key: true})
	m.Taken = time.Now()
	inRoots := func(p string) bool { return slices.ContainsFunc(roots, func(r string) bool { return within(p, r) }) }
	for _, p := range paths {
		p = filepath.Clean(p)
		// A path that holds roots (the project moved, say), or an ignore
		// file whose rules reach them: walk again what they cover.
		var redo []string
		if b := filepath.Base(p); b == watcher.GitignoreFile || b == watcher.PetsignoreFile {
			p = filepath.Dir(p)
			if inRoots(p) {
				redo = append(redo, p)
			}
		}
		for _, r := range roots {
			if within(r, p) {
				redo = append(redo, r)
			}
		}
		if len(redo) > 0 {
			for _, d := range outermost(redo) {
				if err := m.rewalk(v, d, roots); err != nil {
					return err
				}
			}
			continue
		}
		if !inRoots(p) {
			continue
		}
		st, err := lstat(p)
		switch {
		case gone(err) || errors.Is(err, fs.ErrPermission): // as the walk
			m.Files.Delete(p)
			m.Files.dropUnder(p)
			continue
		case err != nil:
			return fmt.Errorf("fresh: %w", err)
		}
		// p exists, so no directory above it is a file any more.
		for d := filepath.Dir(p); inRoots(d); d = filepath.Dir(d) {
			m.Files.Delete(d)
			if d == filepath.Dir(d) {
				break
			}
		}
		if st.Mode.IsDir() {
			m.Files.Delete(p)
			if err := m.rewalk(v, p, roots); err != nil {
				return err
			}
			continue
		}
		m.Files.dropUnder(p) // a directory replaced by this file
		if !v.watched(p) || v.m.Ignored(p, false) || len(rebuild.Own(v.owners, v.skip, []string{p})[m.Spec.Key]) == 0 {
			m.Files.Delete(p)
			continue
		}
		m.Files.Set(p, st)
	}
	return nil
}

// rewalk replaces what m holds at and below path (a root, or a directory
// inside one) with a new walk of it.
func (m *Manifest) rewalk(v *view, path string, roots []string) error {
	m.Files.Delete(path)
	m.Files.dropUnder(path)
	w := newWalker(v)
	w.add(m)
	if slices.Contains(roots, path) {
		return w.walk(path)
	}
	st, err := lstat(path)
	switch {
	case gone(err):
		return nil
	case err != nil:
		return fmt.Errorf("fresh: %w", err)
	case !st.Mode.IsDir():
		return m.Update([]string{path})
	case v.m.Ignored(path, true):
		return nil
	}
	return w.below(path)
}

// Drift is what differs between a manifest and the disk now: absolute paths,
// each list sorted.
type Drift struct {
	Changed []string // size, modification time or mode differ
	Added   []string
	Removed []string
}

// Empty reports whether nothing differs.
func (d Drift) Empty() bool { return len(d.Changed)+len(d.Added)+len(d.Removed) == 0 }

// Files returns every path that differs, sorted.
func (d Drift) Files() []string {
	out := make([]string, 0, len(d.Changed)+len(d.Added)+len(d.Removed))
	out = append(append(append(out, d.Changed...), d.Added...), d.Removed...)
	slices.Sort(out)
	return out
}

// Diff walks m's watch set now and returns what differs from m.
func Diff(m *Manifest) (Drift, error) {
	now, err := Walk([]Spec{m.Spec})
	if err != nil {
		return Drift{}, err
	}
	return compare(&m.Files, &now[m.Spec.Key].Files), nil
}

// compare returns the drift from then to now: directory by directory, the
// two sorted lists of names side by side; only what differs is spelt as a
// path.
func compare(then, now *Files) Drift {
	var d Drift
	for dir, a := range then.dirs {
		b := now.dirs[dir]
		if b == nil {
			for i := range a.recs {
				d.Removed = append(d.Removed, join(dir, a.name(i)))
			}
			continue
		}
		i, j := 0, 0
		for i < len(a.recs) || j < len(b.recs) {
			c := 1 // then's name is past now's (or then's are done)
			if i < len(a.recs) && j < len(b.recs) {
				c = bytes.Compare(a.name(i), b.name(j))
			} else if i < len(a.recs) {
				c = -1
			}
			switch {
			case c < 0:
				d.Removed = append(d.Removed, join(dir, a.name(i)))
				i++
			case c > 0:
				d.Added = append(d.Added, join(dir, b.name(j)))
				j++
			default:
				if a.recs[i].stat() != b.recs[j].stat() {
					d.Changed = append(d.Changed, join(dir, b.name(j)))
				}
				i++
				j++
			}
		}
	}
	for dir, b := range now.dirs {
		if then.dirs[dir] == nil {
			for j := range b.recs {
				d.Added = append(d.Added, join(dir, b.name(j)))
			}
		}
	}
	slices.Sort(d.Changed)
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	return d
}

// errNotDir is what opening dir/x returns when dir is no longer a directory.
var errNotDir error = syscall.ENOTDIR
