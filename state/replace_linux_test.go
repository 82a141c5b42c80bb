package state

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A write fills the file made ahead after the one before (so the record
// is that file now), and leaves no other file behind.
func TestWriteFillsTheFileMadeAhead(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(status string) {
		t.Helper()
		if err := d.Update(func(f *File) error {
			f.Services["api"] = &Service{Name: "api", Tier: "local", Status: status}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	inode := func(fi os.FileInfo) uint64 { return fi.Sys().(*syscall.Stat_t).Ino }
	write(Starting)
	for i, status := range []string{Ready, Starting, Ready} {
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(time.Millisecond)
		for d.ahead.Load() == nil {
			select {
			case <-deadline:
				t.Fatalf("write %d: no file made ahead within 10s", i+1)
			case <-tick.C:
			}
		}
		tick.Stop()
		fi, err := d.ahead.Load().Stat()
		if err != nil {
			t.Fatal(err)
		}
		write(status)
		rec, err := os.Stat(d.file())
		if err != nil {
			t.Fatal(err)
		}
		if inode(rec) != inode(fi) {
			t.Errorf("write %d: state.json is inode %d; want the file made ahead, %d", i+1, inode(rec), inode(fi))
		}
		if f, err := d.Read(); err != nil || f.Services["api"].Status != status {
			t.Fatalf("write %d: read %+v, %v", i+1, f, err)
		}
	}
	names, _ := filepath.Glob(filepath.Join(d.Path, "*"))
	for _, n := range names {
		if strings.HasPrefix(filepath.Base(n), "state-") {
			t.Errorf("left behind: %s", n)
		}
	}
}
