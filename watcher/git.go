package watcher

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// gitLock is the lock git holds while it writes the index and, in a
// checkout, merge, reset, stash or rebase step, the work tree: every file
// such a command writes is written while the lock is there.
const gitLock = "index.lock"

// gitStates are the names git keeps in its directory while a merge, rebase,
// cherry-pick or revert is under way, including while it waits for the user
// to resolve a conflict (which is why they hold a batch only while git is
// active, see gitStateGrace). bisect is left out: between its steps the user
// runs things, and nothing of git's is under way.
var gitStates = map[string]bool{
	"MERGE_HEAD":       true,
	"CHERRY_PICK_HEAD": true,
	"REVERT_HEAD":      true,
	"rebase-merge":     true,
	"rebase-apply":     true,
	"sequencer":        true,
}

// findGitDir returns the git directory of the work tree holding dir, if any:
// top/.git when it is a directory, or the directory a .git file names
// ("gitdir: ..." in a linked worktree or a submodule, relative to top unless
// absolute). top is the work tree's top directory.
func findGitDir(dir string) (gitDir, top string, ok bool) {
	for d := filepath.Clean(dir); ; {
		if g, ok := gitDirAt(d); ok {
			return g, d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", "", false
		}
		d = parent
	}
}

// gitDirAt returns the git directory of the work tree whose top is top, if
// top holds a .git directory or a .git file that names one.
func gitDirAt(top string) (string, bool) {
	dotgit := filepath.Join(top, ".git")
	fi, err := os.Stat(dotgit)
	if err != nil {
		return "", false
	}
	if fi.IsDir() {
		return dotgit, true
	}
	b, err := os.ReadFile(dotgit)
	if err != nil {
		return "", false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "gitdir:")
	if !ok {
		return "", false
	}
	g := filepath.FromSlash(strings.TrimSpace(rest))
	if !filepath.IsAbs(g) {
		g = filepath.Join(top, g)
	}
	g = filepath.Clean(g)
	if fi, err := os.Stat(g); err != nil || !fi.IsDir() {
		return "", false
	}
	return g, true
}

// gitWatch follows the git directories of the trees a Watcher or Files
// watches, without recursion: index.lock and the state names (gitStates)
// appearing and going, and every event in them as a sign that git is at work.
// Their events are never changes. It belongs to the loop goroutine.
type gitWatch struct {
	// ordered: one queue orders these events with those of the files git
	// writes (inotify: one queue per Watcher or Files), so an event says
	// what the directory held at that point of the stream, however late it
	// is read. Otherwise (FSEvents, which coalesces; kqueue and
	// ReadDirectoryChangesW, a stream per directory) what is on disk when
	// the event is read decides.
	ordered bool
	dirs    map[string]*gitDirState // git directory -> what it holds
	active  time.Time               // the last event in any of them
}

type gitDirState struct {
	tops      []string        // the work trees it serves (several for a repository and a nested root)
	watched   bool            // has a watch of its own (false: a recursive root's covers it)
	lockSince time.Time       // when its index.lock was first seen (zero: none)
	states    map[string]bool // the state names present
}

// add follows gitDir (the git directory of the work tree top) from now on,
// reading what it holds at now. It reports whether it was new.
func (g *gitWatch) add(gitDir, top string, now time.Time) (*gitDirState, bool) {
	if g.dirs == nil {
		g.dirs = make(map[string]*gitDirState)
	}
	if d := g.dirs[gitDir]; d != nil {
		if !slices.Contains(d.tops, top) {
			d.tops = append(d.tops, top)
		}
		return d, false
	}
	d := &gitDirState{tops: []string{top}, states: make(map[string]bool)}
	g.dirs[gitDir] = d
	d.rescan(gitDir, now)
	return d, true
}

// rescan reads the lock and state names of the git directory dir from disk,
// after events may have been lost.
func (d *gitDirState) rescan(dir string, now time.Time) {
	d.look(dir, gitLock, now)
	for name := range gitStates {
		d.look(dir, name, now)
	}
}

// look reads from disk whether name is present in the git directory dir.
func (d *gitDirState) look(dir, name string, now time.Time) {
	if name != gitLock && !gitStates[name] {
		return
	}
	_, err := os.Lstat(filepath.Join(dir, name))
	d.set(name, err == nil, now)
}

// set records whether name is present in the directory.
func (d *gitDirState) set(name string, present bool, now time.Time) {
	if name == gitLock {
		switch {
		case !present:
			d.lockSince = time.Time{}
		case d.lockSince.IsZero():
			d.lockSince = now
		}
		return
	}
	if present {
		d.states[name] = true
	} else {
		delete(d.states, name)
	}
}

// event takes an event for path p at now and reports whether p is in one of
// the git directories (then it is nothing else: never a change).
func (g *gitWatch) event(p string, op fsnotify.Op, now time.Time) bool {
	dir := filepath.Dir(p)
	d := g.dirs[dir]
	if d == nil {
		return false
	}
	g.active = now
	name := filepath.Base(p)
	if name != gitLock && !gitStates[name] {
		return true
	}
	if name == gitLock && op.Has(fsnotify.Create) {
		// A new lock (even if the last one's removal was never seen): its
		// cap starts now.
		d.lockSince = time.Time{}
	}
	if !g.ordered {
		d.look(dir, name, now)
		return true
	}
	// The last of the event's kinds wins: a file created and removed
	// (index.lock renamed to index) is gone.
	switch {
	case op.Has(fsnotify.Remove) || op.Has(fsnotify.Rename):
		d.set(name, false, now)
	case op.Has(fsnotify.Create):
		d.set(name, true, now)
	}
	return true
}

// rescan reads every git directory again (after an overflow).
func (g *gitWatch) rescan(now time.Time) {
	for dir, d := range g.dirs {
		d.rescan(dir, now)
	}
}

// status is what the debounce needs to know at now: a lock holds batches
// until a cap after it was first seen.
func (g *gitWatch) status(cap time.Duration) gitStatus {
	s := gitStatus{active: g.active}
	for _, d := range g.dirs {
		if !d.lockSince.IsZero() {
			if u := d.lockSince.Add(cap); u.After(s.lockedUntil) {
				s.lockedUntil = u
			}
		}
		if len(d.states) > 0 {
			s.state = true
		}
	}
	return s
}

// serves reports whether top is one of the work trees of a git directory
// followed.
func (g *gitWatch) serves(top string) bool {
	for _, d := range g.dirs {
		if slices.Contains(d.tops, top) {
			return true
		}
	}
	return false
}

// followGit follows gitDir, the git directory of the work tree top: with a
// watch of its own, unless a recursive root's watch covers it already or it
// is a watched directory (a bare repository's worktree directory inside a
// root, say). Failing to watch it only means git is not waited for.
func (w *Watcher) followGit(gitDir, top string) {
	d, fresh := w.git.add(gitDir, top, w.clock.Now())
	if fresh && !w.watched[gitDir] && !(w.b.recursive() && w.underRoot(gitDir)) {
		if err := w.b.addFlat(gitDir); err != nil {
			slog.Debug("watcher: git directory not watched; batches do not wait for git", "dir", gitDir, "err", err)
			delete(w.git.dirs, gitDir)
			return
		}
		d.watched = true
	}
	w.gitStatus()
}

// pruneGit stops following the git directories that are gone, or whose
// every work tree is neither a root's nor one the watcher still watches.
func (w *Watcher) pruneGit() {
	for dir, d := range w.git.dirs {
		d.tops = slices.DeleteFunc(d.tops, func(t string) bool { return !w.gitTopWanted(t) })
		if len(d.tops) > 0 {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				continue
			}
		}
		if d.watched {
			_ = w.b.remove(dir)
		}
		delete(w.git.dirs, dir)
	}
	w.gitStatus()
}

// gitTopWanted says whether the git directory of the work tree top is still
// to be followed: top is a root's work tree, or a directory whose events the
// watcher gets.
func (w *Watcher) gitTopWanted(top string) bool {
	if w.rootTops[top] {
		return true
	}
	if w.b.recursive() {
		return w.underRoot(top)
	}
	return w.watched[top]
}

func (w *Watcher) underRoot(p string) bool {
	return slices.ContainsFunc(w.opts.Roots, func(r string) bool { return within(p, r) })
}

// gitEvent takes an event of a git directory and reports whether p was in
// one: then it is no change. An event of a .git entry itself (git init, a
// removed repository, a new worktree) makes the watcher look at its work
// tree again, and is then handled as any other (always ignored).
func (w *Watcher) gitEvent(p string, ev fsnotify.Event) bool {
	if w.opts.noGit {
		return false
	}
	now := w.clock.Now()
	if w.git.event(p, ev.Op, now) {
		w.gitStatus()
		return true
	}
	dir := filepath.Dir(p)
	switch {
	case filepath.Base(p) == ".git":
		if g, ok := gitDirAt(dir); ok && w.gitTopWanted(dir) {
			w.followGit(g, dir)
		}
		w.pruneGit()
		return false
	case w.b.recursive() && filepath.Base(dir) == ".git" && w.underRoot(dir):
		// A recursive root reports a nested repository's git directory
		// without a walk having found it: follow it from its first event.
		top := filepath.Dir(dir)
		if g, ok := gitDirAt(top); !ok || g != dir {
			return false
		}
		w.followGit(dir, top)
		w.git.event(p, ev.Op, now)
		w.gitStatus()
		return true
	}
	return false
}

// gitStatus hands what the git directories say to the debounce.
func (w *Watcher) gitStatus() { w.deb.git = w.git.status(w.opts.Cap) }
