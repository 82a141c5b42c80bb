package watcher

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/internal/dirent"
	"github.com/windmilleng/pets/watcher/watchertest"
)

// Editor saves, as each editor really does them (vim's sequence is from strace
// of vim 9 with backupcopy=auto and writebackup; the others from their sources).
var editorSaves = []struct {
	name  string
	save  func(t *testing.T, path string)
	quiet time.Duration // the quiet window (0: testQuiet)
}{
	{name: "write in place", save: func(t *testing.T, p string) {
		writeFile(t, p, "v2")
	}},
	{name: "temp then rename", save: func(t *testing.T, p string) {
		writeFile(t, p+".tmp", "v2")
		must(t, os.Rename(p+".tmp", p))
	}},
	{name: "vscode atomic write", save: func(t *testing.T, p string) {
		writeFile(t, p+".vsctmp", "v2")
		must(t, os.Rename(p+".vsctmp", p))
	}},
	{name: "vim backup and rename", save: func(t *testing.T, p string) {
		dir, base := filepath.Split(p)
		swp, swx := filepath.Join(dir, "."+base+".swp"), filepath.Join(dir, "."+base+".swx")
		writeFile(t, swp, "swap")
		writeFile(t, swx, "probe")
		must(t, os.Remove(swx))
		must(t, os.Remove(swp))
		writeFile(t, swp, "swap")
		must(t, os.Chmod(swp, 0o644))
		probe := filepath.Join(dir, "4913")
		writeFile(t, probe, "")
		must(t, os.Remove(probe))
		must(t, os.Rename(p, p+"~"))
		writeFile(t, p, "v2")
		must(t, os.Chmod(p, 0o644))
		must(t, os.Remove(p+"~"))
		must(t, os.Remove(swp))
	}},
	{name: "emacs backup and rename", save: func(t *testing.T, p string) {
		dir, base := filepath.Split(p)
		lock, auto := filepath.Join(dir, ".#"+base), filepath.Join(dir, "#"+base+"#")
		must(t, os.Symlink("user@host.1234:1700000000", lock))
		writeFile(t, auto, "autosave")
		must(t, os.Rename(p, p+"~"))
		writeFile(t, p, "v2")
		must(t, os.Remove(auto))
		must(t, os.Remove(lock))
	}},
	{name: "jetbrains safe write", save: func(t *testing.T, p string) {
		writeFile(t, p+"___jb_tmp___", "v2")
		must(t, os.Rename(p, p+"___jb_old___"))
		must(t, os.Rename(p+"___jb_tmp___", p))
		must(t, os.Remove(p+"___jb_old___"))
	}},
	{name: "gedit g_file_replace", save: func(t *testing.T, p string) {
		tmp := filepath.Join(filepath.Dir(p), ".goutputstream-4TQ2K2")
		writeFile(t, tmp, "v2")
		must(t, os.Rename(tmp, p))
	}},
	{name: "sed -i", save: func(t *testing.T, p string) {
		tmp := filepath.Join(filepath.Dir(p), "sedX3b9Qz")
		writeFile(t, tmp, "v2")
		must(t, os.Rename(tmp, p))
	}},
	{name: "real vim", save: func(t *testing.T, p string) {
		vim, err := exec.LookPath("vim")
		if err != nil {
			t.Skip("vim not installed")
		}
		// backupskip= because vim never backs up files under /tmp by default.
		cmd := exec.Command(vim, "-u", "NONE", "-i", "NONE", "-N", "-es",
			"-c", "set backupcopy=auto writebackup nobackup swapfile backupskip=",
			"-c", "normal! Av2", "-c", "wq", p)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vim: %v: %s", err, out)
		}
	},
		// vim is a process of its own: on two busy cores the steps of its
		// save can lie further apart than testQuiet (two batches once,
		// with every package's tests running). What this checks is that
		// the steps make one change, not how fast vim takes them.
		quiet: 250 * time.Millisecond},
}

func TestEditorSaveIsOneChange(t *testing.T) {
	for _, tc := range editorSaves {
		t.Run(tc.name, func(t *testing.T) {
			root := tempDir(t)
			target := filepath.Join(root, "main.go")
			writeFile(t, target, "v1")
			w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: tc.quiet})
			p := newProbe(t, w, root)
			tc.save(t, target)
			got := counts(p.sync())
			want := map[string]int{target: 1}
			if !maps.Equal(got, want) {
				t.Errorf("batches held %v, want %v", got, want)
			}
		})
	}
}

func TestBurstIsOneBatch(t *testing.T) {
	root := tempDir(t)
	mkdirAll(t, filepath.Join(root, "src"))
	// A quiet window far above the gaps of a write loop, and no cap in the way.
	w := newTestWatcher(t, Options{Roots: []string{root}, Quiet: time.Second, Cap: time.Minute})
	const n = 2000
	var want []string
	for i := range n {
		dir := filepath.Join(root, "src", fmt.Sprintf("d%02d", i/100))
		if i%100 == 0 {
			mkdirAll(t, dir)
		}
		f := filepath.Join(dir, fmt.Sprintf("f%04d.go", i))
		writeFile(t, f, "x")
		want = append(want, f)
	}
	got := newProbe(t, w, root).sync()
	if len(got) != 1 {
		t.Fatalf("got %d batches, want 1", len(got))
	}
	slices.Sort(want)
	if !slices.Equal(got[0].Paths, want) {
		t.Errorf("batch has %d paths, want the %d files written", len(got[0].Paths), len(want))
	}
}

func TestGitCheckoutIsOneBatch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := tempDir(t)
	repo, err := watchertest.MakeGitRepo(root, 2000, 100)
	must(t, err)
	slices.Sort(repo.Changed)
	// The default windows: git's index lock, not a long quiet window, keeps
	// the checkout one batch, however the checkout's events are spaced.
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}, Quiet: DefaultQuiet})
	assertNotWatched(t, fd, filepath.Join(root, ".git", "objects"), filepath.Join(root, ".git", "refs"))
	// Batches are read while git runs, as the engine reads them: one that
	// closed halfway would be a restart of its own.
	finish := collect(t, w, root)
	must(t, repo.Checkout("b"))
	got := finish()
	if len(got) != 1 {
		t.Fatalf("got %d batches, want 1", len(got))
	}
	if !slices.Equal(got[0].Paths, repo.Changed) {
		t.Errorf("batch has %d paths, want the %d files git rewrote", len(got[0].Paths), len(repo.Changed))
	}
}

func TestNewDirectoryIsWatched(t *testing.T) {
	root := tempDir(t)
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}})
	p := newProbe(t, w, root)

	// Files made at once, likely before the watch on their directory lands.
	d := filepath.Join(root, "new")
	deep := filepath.Join(root, "a", "b", "c")
	mkdirAll(t, d, deep)
	f1, f2 := filepath.Join(d, "f1"), filepath.Join(deep, "f2")
	writeFile(t, f1, "x")
	writeFile(t, f2, "x")
	if got, want := counts(p.sync()), map[string]int{f1: 1, f2: 1}; !maps.Equal(got, want) {
		t.Errorf("after mkdir: got %v, want %v", got, want)
	}
	assertWatches(t, fd, root, d, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), deep)

	// And later writes in them come as events.
	g1, g2 := filepath.Join(d, "g1"), filepath.Join(deep, "g2")
	writeFile(t, g1, "x")
	writeFile(t, g2, "x")
	if got, want := counts(p.sync()), map[string]int{g1: 1, g2: 1}; !maps.Equal(got, want) {
		t.Errorf("later: got %v, want %v", got, want)
	}
}

func TestDeletedAndRecreatedDirectoryKeepsWorking(t *testing.T) {
	root := tempDir(t)
	d := filepath.Join(root, "pkg")
	mkdirAll(t, filepath.Join(d, "inner"))
	old := filepath.Join(d, "inner", "old.go")
	writeFile(t, old, "x")
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}})
	p := newProbe(t, w, root)

	must(t, os.RemoveAll(d))
	mkdirAll(t, d)
	f := filepath.Join(d, "f.go")
	writeFile(t, f, "x")
	got := counts(p.sync())
	for _, want := range []string{old, filepath.Join(d, "inner"), f} {
		if got[want] == 0 {
			t.Errorf("%s missing from %v", want, got)
		}
	}
	assertWatches(t, fd, root, d)

	g := filepath.Join(d, "g.go")
	writeFile(t, g, "x")
	if got, want := counts(p.sync()), map[string]int{g: 1}; !maps.Equal(got, want) {
		t.Errorf("after recreate: got %v, want %v", got, want)
	}
}

func TestRenamedDirectoryFollowsNewName(t *testing.T) {
	root := tempDir(t)
	from, to := filepath.Join(root, "old"), filepath.Join(root, "new")
	mkdirAll(t, filepath.Join(from, "sub"))
	writeFile(t, filepath.Join(from, "sub", "f.go"), "x")
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}})
	p := newProbe(t, w, root)

	must(t, os.Rename(from, to))
	got := counts(p.sync())
	want := map[string]int{from: 1, filepath.Join(to, "sub", "f.go"): 1}
	if !maps.Equal(got, want) {
		t.Errorf("after rename: got %v, want %v", got, want)
	}
	assertWatches(t, fd, root, to, filepath.Join(to, "sub"))

	g := filepath.Join(to, "sub", "g.go")
	writeFile(t, g, "x")
	if got, want := counts(p.sync()), map[string]int{g: 1}; !maps.Equal(got, want) {
		t.Errorf("write after rename: got %v, want %v", got, want)
	}
}

func TestIgnoredDirectoriesHaveNoWatch(t *testing.T) {
	root := tempDir(t)
	for _, d := range []string{
		".git/objects/aa", "build/out", "tmp/x", "node_modules/pkg/lib",
		"src/a", "src/gen/deep", "gen", "logs.d",
	} {
		mkdirAll(t, filepath.Join(root, d))
	}
	writeFile(t, filepath.Join(root, ".gitignore"), "build/\n*.log\n")
	writeFile(t, filepath.Join(root, ".petsignore"), "tmp/\n")
	writeFile(t, filepath.Join(root, "src", ".gitignore"), "gen/\n")
	at := func(rel string) string { return filepath.Join(root, rel) }

	w, fd := newCountedWatcher(t, Options{
		Roots:  []string{root},
		Ignore: []string{at("node_modules/**")},
	})
	// The git directory has a watch of its own, for git's lock (see
	// gitWatch), and its subdirectories none.
	assertWatches(t, fd, root, at("src"), at("src/a"), at("gen"), at("logs.d"), at(".git"))
	assertNotWatched(t, fd, at(".git/objects"), at(".git/objects/aa"), at("build"), at("build/out"),
		at("tmp"), at("tmp/x"), at("node_modules"), at("node_modules/pkg"), at("src/gen"), at("src/gen/deep"))

	p := newProbe(t, w, root)
	for _, f := range []string{
		".git/HEAD", "build/out/bin", "tmp/x/y", "node_modules/pkg/z.js",
		"src/gen/k.go", "app.log", "src/a/.main.go.swp",
	} {
		writeFile(t, at(f), "x")
	}
	kept := at("src/a/main.go")
	writeFile(t, kept, "x")
	if got, want := counts(p.sync()), map[string]int{kept: 1}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestIgnoreFileChangeMovesWatches(t *testing.T) {
	root := tempDir(t)
	logs := filepath.Join(root, "logs")
	mkdirAll(t, filepath.Join(logs, "old"))
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}})
	p := newProbe(t, w, root)
	assertWatches(t, fd, root, logs, filepath.Join(logs, "old"))

	pi := filepath.Join(root, ".petsignore")
	writeFile(t, pi, "logs/\n")
	if got, want := counts(p.sync()), map[string]int{pi: 1}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	assertWatches(t, fd, root)

	writeFile(t, filepath.Join(logs, "x.log"), "ignored now")
	must(t, os.Remove(pi))
	if got, want := counts(p.sync()), map[string]int{pi: 1}; !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	assertWatches(t, fd, root, logs, filepath.Join(logs, "old"))
}

func TestUpdateAddsAndRemovesWatches(t *testing.T) {
	a, b := tempDir(t), tempDir(t)
	mkdirAll(t, filepath.Join(a, "x"), filepath.Join(b, "y", "z"), filepath.Join(b, "skip"))
	w, fd := newCountedWatcher(t, Options{Roots: []string{a}})
	assertWatches(t, fd, a, filepath.Join(a, "x"))

	must(t, w.Update(Options{Roots: []string{a, b}, Quiet: testQuiet, Ignore: []string{filepath.Join(b, "skip")}}))
	assertWatches(t, fd, a, filepath.Join(a, "x"), b, filepath.Join(b, "y"), filepath.Join(b, "y", "z"))
	f := filepath.Join(b, "y", "z", "f")
	writeFile(t, f, "x")
	pb := newProbe(t, w, b)
	if got, want := counts(pb.sync()), map[string]int{f: 1}; !maps.Equal(got, want) {
		t.Errorf("after adding b: got %v, want %v", got, want)
	}

	must(t, w.Update(Options{Roots: []string{b}, Quiet: testQuiet}))
	assertWatches(t, fd, b, filepath.Join(b, "y"), filepath.Join(b, "y", "z"), filepath.Join(b, "skip"))
	writeFile(t, filepath.Join(a, "x", "unseen"), "x")
	g := filepath.Join(b, "skip", "g")
	writeFile(t, g, "x")
	if got, want := counts(pb.sync()), map[string]int{g: 1}; !maps.Equal(got, want) {
		t.Errorf("after dropping a: got %v, want %v", got, want)
	}

	must(t, w.Close())
	if err := w.Update(Options{Roots: []string{b}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}
}

func TestRemovedRootIsReported(t *testing.T) {
	root := tempDir(t)
	sub := filepath.Join(root, "watched")
	mkdirAll(t, sub)
	w := newTestWatcher(t, Options{Roots: []string{sub}})
	must(t, os.Remove(sub))
	deadline := time.After(waitLimit)
	for {
		select {
		case err := <-w.Errors():
			if !strings.Contains(err.Error(), sub) || !strings.Contains(err.Error(), "removed") {
				t.Fatalf("error %q does not name the removed root", err)
			}
			return
		case <-w.Batches():
		case <-deadline:
			t.Fatal("no error for the removed root")
		}
	}
}

// TestKernelQueueOverflow overflows the real inotify queue: the loop is held
// inside a request while more events than fs.inotify.max_queued_events are made.
func TestKernelQueueOverflow(t *testing.T) {
	max, ok := readInt("/proc/sys/fs/inotify/max_queued_events")
	if !ok || max > 1<<18 {
		t.Skipf("fs.inotify.max_queued_events is %d; too many files to make", max)
	}
	root := tempDir(t)
	w := newTestWatcher(t, Options{Roots: []string{root}})

	held, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = w.do(func() { close(held); <-release })
	}()
	<-held
	// One IN_CREATE per empty file; fsnotify's reader holds up to eventBuffer
	// more plus what it read in one go (at most 4096).
	n := max + eventBuffer + 4096 + 1000
	for i := range n {
		f, err := os.Create(filepath.Join(root, fmt.Sprintf("f%06d", i)))
		must(t, err)
		must(t, f.Close())
	}
	close(release)
	wg.Wait()

	got := newProbe(t, w, root).until(func(b Batch) bool { return b.Overflow })
	if !got[len(got)-1].Overflow {
		t.Fatal("no overflow batch")
	}
}

// TestWalkReadsNoLeaf: a walk for watches alone watches every directory but
// reads only those with subdirectories (or a .git): a leaf's watch is
// added before its link count is asked, so a directory made in it after
// the walk is an event, and its files' changes come as before.
func TestWalkReadsNoLeaf(t *testing.T) {
	root := tempDir(t)
	dirs := []string{root}
	for _, d := range []string{"a", "a/b", "a/b/c", "a/e", "f", "g", "g/h", "sub"} {
		dirs = append(dirs, filepath.Join(root, d))
	}
	mkdirAll(t, dirs...)
	for _, d := range dirs {
		writeFile(t, filepath.Join(d, "x.txt"), "x")
	}
	writeFile(t, filepath.Join(root, "sub", ".git"), "gitdir: "+filepath.Join(root, "g")+"\n")
	var mu sync.Mutex
	var read []string
	open := openDir
	openDir = func(p string) (*dirent.Dir, error) {
		mu.Lock()
		read = append(read, p)
		mu.Unlock()
		return open(p)
	}
	defer func() { openDir = open }()
	w, fd := newCountedWatcher(t, Options{Roots: []string{root}, noGit: true})
	assertWatches(t, fd, dirs...)
	mu.Lock()
	slices.Sort(read)
	got := slices.Clone(read)
	mu.Unlock()
	var fs syscall.Statfs_t
	must(t, syscall.Statfs(root, &fs))
	linksCounted := fs.Type == 0xEF53 || fs.Type == 0x01021994 // ext4, tmpfs: what this test knows to count links
	want := slices.Clone(dirs)                                 // where links are not counted, every one is read
	if linksCounted {
		// root, a, a/b, g: they hold directories; sub: it holds a .git.
		want = []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), filepath.Join(root, "g"), filepath.Join(root, "sub")}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the walk read\n%q\nwant\n%q", got, want)
	}

	// A leaf's files and a directory made in a leaf come as events.
	p := newProbe(t, w, root)
	leaf := filepath.Join(root, "a", "b", "c")
	edited, made := filepath.Join(leaf, "x.txt"), filepath.Join(leaf, "new", "y.txt")
	writeFile(t, edited, "edited")
	mkdirAll(t, filepath.Dir(made))
	writeFile(t, made, "y")
	if got, want := counts(p.sync()), map[string]int{edited: 1, made: 1}; !maps.Equal(got, want) {
		t.Errorf("changes in a leaf: got %v, want %v", got, want)
	}
	assertWatches(t, fd, append(dirs, filepath.Dir(made))...)
}
