//go:build linux

package fresh

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/windmilleng/pets/internal/dirent"
)

// TestLstatMatchesOS checks that the fstatat fast path converts modes as
// os.Lstat does, so that a walk (fstatat) and an Update (lstat) agree with
// each other and with any FileInfo.
func TestLstatMatchesOS(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk("plain", 0o644)
	mk("exec", 0o755)
	mk("setuid", 0o755|os.ModeSetuid)
	mk("setgid", 0o755|os.ModeSetgid)
	mk("readonly", 0o400)
	if err := os.Mkdir(filepath.Join(dir, "sticky"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sticky"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("plain", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := dirent.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, name := range []string{"plain", "exec", "setuid", "setgid", "readonly", "sticky", "link", "dangling", "fifo"} {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := statOf(fi)
		if got, err := lstat(p); err != nil || got != want {
			t.Errorf("lstat(%s) = %+v, %v; os.Lstat says %+v", name, got, err, want)
		}
		got, ctime, err := lstatIn(d, dir, name)
		if err != nil || got != want {
			t.Errorf("lstatIn(%s) = %+v, %v; os.Lstat says %+v", name, got, err, want)
		}
		if sys := fi.Sys().(*syscall.Stat_t); ctime != sys.Ctim.Nano() {
			t.Errorf("lstatIn(%s): ctime %d, os.Lstat says %d", name, ctime, sys.Ctim.Nano())
		}
	}
	if _, _, err := lstatIn(d, dir, "missing"); !gone(err) {
		t.Errorf("lstatIn of a missing file: %v, want not-exist", err)
	}
}
