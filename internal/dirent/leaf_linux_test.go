package dirent

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLeaf: Leaf says true only of a directory that holds no directory and
// no .git, on a file system that counts subdirectories in links; where it
// cannot tell, false.
func TestLeaf(t *testing.T) {
	root := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil {
		t.Fatal(err)
	}
	counts := countsLinks[int64(fs.Type)]
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string) {
		if err := os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("empty")
	mk("files")
	write("files/a")
	write("files/b")
	mk("parent/child")
	mk("gitfile")
	write("gitfile/.git") // a submodule's or a linked worktree's
	mk("gitdir/.git")
	write("file")
	if err := os.Symlink(filepath.Join(root, "empty"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for name, leaf := range map[string]bool{
		"empty": true, "files": true,
		"parent": false, "gitfile": false, "gitdir": false, "file": false, "link": false, "missing": false,
	} {
		if got := d.Leaf(name); got != (leaf && counts) {
			t.Errorf("Leaf(%s) = %v, want %v (the file system counts links: %v)", name, got, leaf && counts, counts)
		}
	}
	if !counts {
		t.Logf("%s is on a file system (0x%x) whose links Leaf does not trust: only the false answers were checked", root, fs.Type)
	}
	// A subdirectory made after the first answer changes the next one.
	if counts {
		mk("files/sub")
		if d.Leaf("files") {
			t.Error("Leaf(files) still true after a subdirectory was made in it")
		}
	}
}
