package watcher

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
)

func TestFindGitDir(t *testing.T) {
	base := tempDir(t)
	at := func(rel string) string { return filepath.Join(base, rel) }
	// A work tree with a .git directory, and a root deep inside it.
	mkdirAll(t, at("repo/.git"), at("repo/src/pkg"))
	// A linked worktree's .git file (absolute) and a submodule's (relative).
	mkdirAll(t, at("repo/.git/worktrees/wt"), at("wt/src"), at("repo/.git/modules/sub"), at("repo/sub"))
	writeFile(t, at("wt/.git"), "gitdir: "+at("repo/.git/worktrees/wt")+"\n")
	writeFile(t, at("repo/sub/.git"), "gitdir: ../.git/modules/sub\n")
	// Not repositories: a .git file naming nothing, no .git at all.
	mkdirAll(t, at("broken/x"), at("plain/x"))
	writeFile(t, at("broken/.git"), "gitdir: "+at("nowhere")+"\n")

	tests := []struct {
		dir, wantGit, wantTop string
	}{
		{"repo", "repo/.git", "repo"},
		{"repo/src/pkg", "repo/.git", "repo"},
		{"wt/src", "repo/.git/worktrees/wt", "wt"},
		{"repo/sub", "repo/.git/modules/sub", "repo/sub"},
		{"broken/x", "", ""},
	}
	for _, tc := range tests {
		g, top, ok := findGitDir(at(tc.dir))
		if tc.wantGit == "" {
			// Outside any repository of base; a repository above the
			// temporary directory would be found, which is right too.
			if ok && within(g, base) {
				t.Errorf("%s: found %s", tc.dir, g)
			}
			continue
		}
		if !ok || g != at(tc.wantGit) || top != at(tc.wantTop) {
			t.Errorf("%s: got %q, %q, %v; want %q, %q", tc.dir, g, top, ok, at(tc.wantGit), at(tc.wantTop))
		}
	}
}

// gitLoopFixture is a loopFixture whose root is a work tree (root/.git).
func newGitLoopFixture(t *testing.T, opts Options) *loopFixture {
	t.Helper()
	f := &loopFixture{t: t, root: tempDir(t), fb: newFakeBackend()}
	mkdirAll(t, filepath.Join(f.root, ".git"))
	opts.Roots = []string{f.root}
	w, err := start(opts, f.fb)
	if err != nil {
		t.Fatal(err)
	}
	f.w = w
	t.Cleanup(func() { w.Close() })
	return f
}

// git makes (or, with gone, removes) name in the git directory and sends the
// event, as git would.
func (f *loopFixture) git(name string, gone bool) {
	f.t.Helper()
	p := filepath.Join(f.root, ".git", name)
	op := fsnotify.Create
	if gone {
		must(f.t, os.RemoveAll(p))
		op = fsnotify.Rename
	} else if name == "rebase-merge" {
		mkdirAll(f.t, p)
	} else {
		writeFile(f.t, p, "")
	}
	f.fb.evs <- fsnotify.Event{Name: p, Op: op}
}

// In these tests time.Sleep moves synctest's fake clock; nothing waits on real time.

func TestLoopGitLockHoldsTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newGitLoopFixture(t, Options{Quiet: 10 * time.Millisecond, Cap: time.Minute})
		if len(f.fb.flat) != 0 {
			t.Errorf("a recursive root covers root/.git, yet %v were watched on their own", f.fb.flat)
		}
		f.git("index.lock", false)
		if got, ok := f.batch(); ok {
			t.Fatalf("a git event alone made batch %v", got)
		}
		a := f.write("a.go")
		time.Sleep(30 * time.Second)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v while git holds index.lock", got)
		}
		f.git("index.lock", true)
		start := time.Now()
		got, ok := f.batch()
		for !ok {
			time.Sleep(time.Millisecond)
			got, ok = f.batch()
		}
		if !slices.Equal(got.Paths, []string{a}) {
			t.Errorf("got %v, want [%s]", got.Paths, a)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("closed %v after the lock went, want the quiet window (10ms)", d)
		}
	})
}

func TestLoopStaleGitLockHoldsNoLongerThanTheCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cap = 3 * time.Second
		f := newGitLoopFixture(t, Options{Quiet: 10 * time.Millisecond, Cap: cap})
		f.git("index.lock", false) // and never removed: git crashed
		start := time.Now()
		a := f.write("a.go")
		time.Sleep(cap - time.Millisecond)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v before the cap", got)
		}
		time.Sleep(time.Millisecond)
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{a}) {
			t.Fatalf("got %v, %v at the cap; want [%s]", got, ok, a)
		}
		if d := time.Since(start); d != cap {
			t.Errorf("held %v, want the cap %v", d, cap)
		}
		// A cap after it was first seen, the lock holds nothing any more.
		b := f.write("b.go")
		time.Sleep(11 * time.Millisecond) // the window, plus a trace of a's heat
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{b}) {
			t.Fatalf("got %v, %v a quiet window after a save beside a stale lock; want [%s]", got, ok, b)
		}
		// A new lock (git ran again) holds again.
		f.git("index.lock", true)
		f.git("index.lock", false)
		c := f.write("c.go")
		time.Sleep(time.Second)
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v while a new lock is held", got)
		}
		f.git("index.lock", true)
		time.Sleep(21 * time.Millisecond) // b's heat widens the window to 20 ms
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{c}) {
			t.Fatalf("got %v, %v after the new lock went; want [%s]", got, ok, c)
		}
	})
}

func TestLoopGitStateHoldsOnlyWhileGitIsActive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newGitLoopFixture(t, Options{Quiet: 10 * time.Millisecond, Cap: time.Minute})
		f.git("rebase-merge", false)
		// A rebase: between the picks git writes HEAD and the rest in its
		// directory, with no lock, and the batch stays open.
		a := f.write("a.go")
		for range 10 {
			time.Sleep(gitStateGrace - time.Millisecond)
			f.git("HEAD.lock", false)
			f.git("HEAD.lock", true)
		}
		if got, ok := f.batch(); ok {
			t.Fatalf("batch %v while the rebase is under way", got)
		}
		// It stops for a conflict: git is idle, the batch closes.
		time.Sleep(gitStateGrace)
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{a}) {
			t.Fatalf("got %v, %v once git went idle; want [%s]", got, ok, a)
		}
		// The user resolves it: saves close after the quiet window, though
		// rebase-merge is still there.
		b := f.write("b.go")
		time.Sleep(11 * time.Millisecond) // the window, plus a trace of a's heat
		if got, ok := f.batch(); !ok || !slices.Equal(got.Paths, []string{b}) {
			t.Fatalf("got %v, %v for a save while the rebase waits; want [%s]", got, ok, b)
		}
	})
}

func TestLoopGitDirIsNeverATrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newGitLoopFixture(t, Options{})
		for _, name := range []string{"index.lock", "HEAD.lock", "MERGE_HEAD", "rebase-merge", "ORIG_HEAD", "index"} {
			f.git(name, false)
			f.git(name, true)
		}
		// Deeper in the git directory (a recursive root reports it) too.
		mkdirAll(t, filepath.Join(f.root, ".git", "objects", "ab"))
		f.fb.evs <- fsnotify.Event{Name: filepath.Join(f.root, ".git", "objects", "ab", "cd"), Op: fsnotify.Create}
		time.Sleep(time.Minute)
		if got, ok := f.batch(); ok {
			t.Errorf("batch %v from the git directory", got)
		}
	})
}

func TestFilesGitLockHoldsTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		x := newFilesFixtureIn(t, func(dir string) { mkdirAll(t, filepath.Join(dir, ".git")) },
			FilesOptions{Quiet: 10 * time.Millisecond, Cap: time.Minute}, "Petsfile")
		gitDir := filepath.Join(x.dir, ".git")
		if !slices.Equal(x.fb.flat, []string{gitDir}) {
			t.Fatalf("watching %v on their own, want the git directory %s", x.fb.flat, gitDir)
		}
		lock := filepath.Join(gitDir, "index.lock")
		writeFile(t, lock, "")
		x.event(lock, fsnotify.Create)
		if x.started() {
			t.Error("Started for the git directory")
		}
		x.event(x.files[0], fsnotify.Write)
		if !x.started() {
			t.Error("no Started for the Petsfile's change")
		}
		time.Sleep(30 * time.Second)
		if got, ok := x.changes(); ok {
			t.Fatalf("batch %v while git holds index.lock", got)
		}
		must(t, os.Remove(lock))
		x.event(lock, fsnotify.Rename)
		if !x.started() {
			t.Error("no second Started when the lock went with a batch open")
		}
		time.Sleep(10 * time.Millisecond)
		if got, ok := x.changes(); !ok || !slices.Equal(got, x.files) {
			t.Fatalf("got %v, %v a quiet window after the lock went; want %v", got, ok, x.files)
		}
		// No batch open: the lock's coming and going says nothing.
		writeFile(t, lock, "")
		x.event(lock, fsnotify.Create)
		must(t, os.Remove(lock))
		x.event(lock, fsnotify.Rename)
		time.Sleep(time.Minute)
		if x.started() {
			t.Error("Started for a lock with no batch open")
		}
		if got, ok := x.changes(); ok {
			t.Errorf("batch %v from the git directory", got)
		}
		// Update away from the repository: the git directory loses its watch.
		other := t.TempDir()
		must(t, x.f.Update([]string{filepath.Join(other, "Petsfile")}))
		if len(x.fb.flat) != 0 {
			t.Errorf("still watching %v", x.fb.flat)
		}
	})
}
