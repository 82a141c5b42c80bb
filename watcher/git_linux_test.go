package watcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/watcher/watchertest"
)

// These tests use real git and inotify. Where they must show that a batch is
// not delivered, they run the Watcher on a fake clock and move it far past
// the quiet window; barriers (a sentinel's event read back) say when the
// loop has seen what came before.

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// barrierer asks a Watcher for barriers and reads its batches up to each,
// failing the test if any of them delivers a path it must not.
type barrierer struct {
	t      *testing.T
	w      *Watcher
	n      uint64
	forbid string
}

// barrier returns the next barrier, once delivered: every event before the
// call has been read by the loop.
func (b *barrierer) barrier() Barrier {
	b.t.Helper()
	b.n++
	must(b.t, b.w.Barrier(b.n))
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case got := <-b.w.Batches():
			if slices.Contains(got.Paths, b.forbid) {
				b.t.Fatalf("%s delivered in %v while git holds its lock", b.forbid, got.Paths)
			}
			for _, br := range got.Barriers {
				if br.ID == b.n {
					if br.Err != nil {
						b.t.Fatalf("barrier %d: %v", br.ID, br.Err)
					}
					return br
				}
			}
		case err := <-b.w.Errors():
			b.t.Errorf("watcher error: %v", err)
		case <-deadline.C:
			b.t.Fatalf("barrier %d not delivered within %v", b.n, waitLimit)
		}
	}
}

// heldUntil checks that edited, changed while git works, stays in the open
// batch however far the clock moves (short of the cap), and is delivered,
// alone, once end (git ending) has run.
func heldUntil(t *testing.T, w *Watcher, clock *fakeClock, edited string, end func()) {
	t.Helper()
	bar := &barrierer{t: t, w: w, forbid: edited}
	if br := bar.barrier(); !slices.Contains(br.Pending, edited) {
		t.Fatalf("%s not seen: pending %v", edited, br.Pending)
	}
	clock.Advance(time.Minute) // a thousand quiet windows
	if br := bar.barrier(); !slices.Contains(br.Pending, edited) {
		t.Fatalf("%s no longer pending after a minute: %v", edited, br.Pending)
	}
	end()
	// The lock's removal has been read; on the fake clock the quiet window
	// after it has not passed yet.
	if br := bar.barrier(); !slices.Contains(br.Pending, edited) {
		t.Fatalf("%s delivered before the quiet window after git ended: pending %v", edited, br.Pending)
	}
	clock.Advance(time.Second)
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case got := <-w.Batches():
			if len(got.Paths) == 0 {
				continue
			}
			if !slices.Equal(got.Paths, []string{edited}) {
				t.Fatalf("batch %v, want [%s]", got.Paths, edited)
			}
			return
		case err := <-w.Errors():
			t.Errorf("watcher error: %v", err)
		case <-deadline.C:
			t.Fatalf("%s not delivered after git ended", edited)
		}
	}
}

// holdGit starts git commit -a in dir and returns once git holds its index
// lock: a pre-commit hook, which git runs with the lock held, tells the test
// so through a FIFO and then waits on another. release lets the hook, and
// git, finish.
func holdGit(t *testing.T, dir string) (release func()) {
	t.Helper()
	fifos := t.TempDir()
	ready, cont := filepath.Join(fifos, "ready"), filepath.Join(fifos, "continue")
	must(t, syscall.Mkfifo(ready, 0o600))
	must(t, syscall.Mkfifo(cont, 0o600))
	out, err := watchertest.Git(dir, "rev-parse", "--git-path", "hooks")
	must(t, err)
	hooks := strings.TrimSpace(out) // relative to dir, or absolute in a linked worktree
	if !filepath.IsAbs(hooks) {
		hooks = filepath.Join(dir, hooks)
	}
	mkdirAll(t, hooks)
	hook := filepath.Join(hooks, "pre-commit")
	must(t, os.WriteFile(hook, []byte("#!/bin/sh\necho held > \"$PETS_TEST_READY\"\ncat \"$PETS_TEST_CONTINUE\" > /dev/null\n"), 0o755))
	cmd := exec.Command("git", "commit", "-q", "-a", "--allow-empty", "-m", "held")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=pets", "GIT_AUTHOR_EMAIL=pets@example.invalid",
		"GIT_COMMITTER_NAME=pets", "GIT_COMMITTER_EMAIL=pets@example.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"PETS_TEST_READY="+ready, "PETS_TEST_CONTINUE="+cont)
	must(t, cmd.Start())
	done := false
	t.Cleanup(func() {
		if !done {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	if _, err := os.ReadFile(ready); err != nil { // blocks until the hook writes
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		must(t, os.WriteFile(cont, []byte("go\n"), 0o600)) // blocks until the hook reads
		must(t, cmd.Wait())
		done = true
	}
}

// TestGitOperationHoldsAnEditUntilItEnds: an edit made while git runs (here
// a commit whose pre-commit hook waits, with git holding index.lock) is not
// delivered, however long the quiet window has passed, until git is done; it
// then comes a quiet window later, in one batch.
func TestGitOperationHoldsAnEditUntilItEnds(t *testing.T) {
	needGit(t)
	root := tempDir(t)
	repo, err := watchertest.MakeGitRepo(root, 20, 10)
	must(t, err)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: 10 * time.Millisecond, Cap: time.Hour, Clock: clock})
	release := holdGit(t, root)
	if _, err := os.Stat(filepath.Join(root, ".git", "index.lock")); err != nil {
		t.Fatalf("git holds no index.lock while its pre-commit hook runs: %v", err)
	}
	edited := repo.Changed[3]
	writeFile(t, edited, "edited while git works")
	heldUntil(t, w, clock, edited, release)
}

// TestGitStaleLockHoldsNoLongerThanTheCap: an index.lock left by a git that
// crashed holds a batch until the cap, counted from the batch's first change,
// and once it has been there a cap it holds nothing.
func TestGitStaleLockHoldsNoLongerThanTheCap(t *testing.T) {
	needGit(t)
	root := tempDir(t)
	repo, err := watchertest.MakeGitRepo(root, 20, 10)
	must(t, err)
	const cap = time.Hour
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: 10 * time.Millisecond, Cap: cap, Clock: clock})
	writeFile(t, filepath.Join(root, ".git", "index.lock"), "") // never removed
	a, b := repo.Changed[0], repo.Changed[1]
	writeFile(t, a, "edited beside a stale lock")
	bar := &barrierer{t: t, w: w, forbid: a}
	if br := bar.barrier(); !slices.Contains(br.Pending, a) {
		t.Fatalf("%s not seen: pending %v", a, br.Pending)
	}
	clock.Advance(cap - time.Millisecond)
	if br := bar.barrier(); !slices.Contains(br.Pending, a) {
		t.Fatalf("%s not pending just before the cap: %v", a, br.Pending)
	}
	clock.Advance(time.Millisecond)
	awaitPaths(t, w, a)
	// The lock has been there a cap: a save closes after the quiet window.
	writeFile(t, b, "edited later")
	bar.forbid = b
	if br := bar.barrier(); !slices.Contains(br.Pending, b) {
		t.Fatalf("%s not seen: pending %v", b, br.Pending)
	}
	clock.Advance(time.Second)
	awaitPaths(t, w, b)
}

// awaitPaths waits for a batch of exactly want (batches of only barriers
// aside).
func awaitPaths(t *testing.T, w *Watcher, want ...string) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case got := <-w.Batches():
			if len(got.Paths) == 0 {
				continue
			}
			if !slices.Equal(got.Paths, want) {
				t.Fatalf("batch %v, want %v", got.Paths, want)
			}
			return
		case err := <-w.Errors():
			t.Errorf("watcher error: %v", err)
		case <-deadline.C:
			t.Fatalf("no batch of %v within %v", want, waitLimit)
		}
	}
}

// TestGitDirIsWatchedFlatAndNeverATrigger: the git directory has one watch
// of its own and its subdirectories none; what git does in it (a commit, a
// tag, a merge's or rebase's state coming and going) is no change.
func TestGitDirIsWatchedFlatAndNeverATrigger(t *testing.T) {
	needGit(t)
	root := tempDir(t)
	repo, err := watchertest.MakeGitRepo(root, 20, 10)
	must(t, err)
	gitDir := filepath.Join(root, ".git")
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}})
	want := append(treeDirs(t, root), gitDir)
	assertWatches(t, fd, want...)
	at := func(rel string) string { return filepath.Join(gitDir, rel) }
	assertNotWatched(t, fd, at("objects"), at("refs"), at("refs/heads"), at("logs"), at("info"))

	p := newProbe(t, w, root)
	for _, args := range [][]string{
		{"commit", "-q", "--allow-empty", "-m", "empty"},
		{"tag", "t1"},
		{"branch", "other"},
		{"status"},
	} {
		_, err := repo.Git(args...)
		must(t, err)
	}
	writeFile(t, at("MERGE_HEAD"), "x")
	must(t, os.Remove(at("MERGE_HEAD")))
	mkdirAll(t, at("rebase-merge"))
	writeFile(t, at("rebase-merge/done"), "pick x")
	writeFile(t, at("index.lock"), "")
	must(t, os.Remove(at("index.lock")))
	if got := p.sync(); len(got) != 0 {
		t.Errorf("batches %v from the git directory", got)
	}
	assertWatches(t, fd, want...) // no watch for rebase-merge
	must(t, os.RemoveAll(at("rebase-merge")))
}

// treeDirs lists root and the directories below it, .git aside.
func treeDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	must(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		dirs = append(dirs, p)
		return nil
	}))
	return dirs
}

// TestGitWorktreeFileIsResolved: a linked worktree's .git is a file naming
// its git directory (main/.git/worktrees/NAME, where its index.lock is);
// that directory is watched, the main one is not, and a lock there holds.
func TestGitWorktreeFileIsResolved(t *testing.T) {
	needGit(t)
	base := tempDir(t)
	main, wt := filepath.Join(base, "main"), filepath.Join(base, "wt")
	repo, err := watchertest.MakeGitRepo(main, 20, 10)
	must(t, err)
	_, err = repo.Git("worktree", "add", "-q", "-b", "w", wt)
	must(t, err)
	gitDir := filepath.Join(main, ".git", "worktrees", "wt")
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	w, fd := newCountedWatcher(t, Options{Roots: []string{wt}, Quiet: 10 * time.Millisecond, Cap: time.Hour, Clock: clock})
	assertWatches(t, fd, append(treeDirs(t, wt), gitDir)...)

	release := holdGit(t, wt)
	if _, err := os.Stat(filepath.Join(gitDir, "index.lock")); err != nil {
		t.Fatalf("git holds no index.lock in the worktree's git directory: %v", err)
	}
	edited := filepath.Join(wt, "d0000", "d0000", "f00000.txt")
	writeFile(t, edited, "edited in the worktree")
	heldUntil(t, w, clock, edited, release)
}

// TestGitNestedRepositoryIsFollowed: a root that is no repository but holds
// one: the walk finds its .git, which is watched (flat) and holds batches.
func TestGitNestedRepositoryIsFollowed(t *testing.T) {
	needGit(t)
	root := tempDir(t)
	svc := filepath.Join(root, "svc")
	repo, err := watchertest.MakeGitRepo(svc, 20, 10)
	must(t, err)
	if g, _, ok := findGitDir(root); ok && within(g, root) {
		t.Fatalf("root is in a repository: %s", g)
	}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}, Quiet: 10 * time.Millisecond, Cap: time.Hour, Clock: clock})
	assertWatches(t, fd, append(treeDirs(t, root), filepath.Join(svc, ".git"))...)
	release := holdGit(t, svc)
	edited := repo.Changed[5]
	writeFile(t, edited, "edited in the nested repository")
	heldUntil(t, w, clock, edited, release)

	// The repository removed: its git directory is no longer followed.
	must(t, os.RemoveAll(svc))
	(&barrierer{t: t, w: w}).barrier()
	assertWatches(t, fd, root)
}

// TestFilesGitOperationHoldsThePetsfile: Files waits for git like a Watcher:
// a Petsfile changed while git works is not delivered until git is done;
// Started comes at the change and again when git lets go.
func TestFilesGitOperationHoldsThePetsfile(t *testing.T) {
	needGit(t)
	root := tempDir(t)
	_, err := watchertest.MakeGitRepo(root, 20, 10)
	must(t, err)
	pf := filepath.Join(root, "Petsfile")
	writeFile(t, pf, "# v1\n")
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	f, err := WatchFilesWith([]string{pf}, FilesOptions{Quiet: 10 * time.Millisecond, Cap: time.Hour, Clock: clock})
	must(t, err)
	t.Cleanup(func() { f.Close() })
	started := func() {
		t.Helper()
		select {
		case <-f.Started():
		case ps := <-f.Changes():
			t.Fatalf("batch %v while git works", ps)
		case <-time.After(waitLimit):
			t.Fatal("no Started")
		}
	}
	release := holdGit(t, root)
	writeFile(t, pf, "# v2\n")
	started() // the change was read
	clock.Advance(time.Minute)
	// Two round trips through the loop: the second begins after a loop
	// iteration that saw the advanced clock, so a batch it closed waits on
	// Changes now.
	must(t, f.Update([]string{pf}))
	must(t, f.Update([]string{pf}))
	select {
	case ps := <-f.Changes():
		t.Fatalf("batch %v while git works", ps)
	default:
	}
	release()
	started() // git let go with the batch open
	clock.Advance(time.Second)
	select {
	case ps := <-f.Changes():
		if !slices.Equal(ps, []string{pf}) {
			t.Errorf("batch %v, want [%s]", ps, pf)
		}
	case <-time.After(waitLimit):
		t.Fatal("no batch after git ended")
	}
}
