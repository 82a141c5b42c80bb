package watcher

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The helpers below look at the kernel's view of a Watcher: the inotify file
// descriptors of this process and, in /proc/self/fdinfo, the inode of every
// watch ("inotify wd:1 ino:5a3 sdev:... mask:...").

func inotifyFDs(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || link != "anon_inode:inotify" {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

// newCountedWatcher starts a Watcher and returns it with its inotify fd.
func newCountedWatcher(t *testing.T, opts Options) (*Watcher, int) {
	t.Helper()
	before := inotifyFDs(t)
	w := newTestWatcher(t, opts)
	var fresh []int
	for _, fd := range inotifyFDs(t) {
		if !slices.Contains(before, fd) {
			fresh = append(fresh, fd)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("want one new inotify fd, got %v (before %v)", fresh, before)
	}
	return w, fresh[0]
}

// watchedInodes returns the inode of every watch on fd, with its count.
func watchedInodes(t *testing.T, fd int) map[uint64]int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc/self/fdinfo", strconv.Itoa(fd)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[uint64]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "inotify wd:") {
			continue
		}
		for _, field := range strings.Fields(line) {
			if hex, ok := strings.CutPrefix(field, "ino:"); ok {
				ino, err := strconv.ParseUint(hex, 16, 64)
				if err != nil {
					t.Fatalf("parse %q: %v", line, err)
				}
				m[ino]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// assertWatches checks that fd watches exactly the directories in want, once each.
func assertWatches(t *testing.T, fd int, want ...string) {
	t.Helper()
	got := watchedInodes(t, fd)
	wantIno := map[uint64]string{}
	for _, d := range want {
		wantIno[inode(t, d)] = d
	}
	for ino, n := range got {
		if _, ok := wantIno[ino]; !ok {
			t.Errorf("unexpected watch on inode %d", ino)
		} else if n != 1 {
			t.Errorf("%d watches on %s", n, wantIno[ino])
		}
	}
	for ino, d := range wantIno {
		if got[ino] == 0 {
			t.Errorf("no watch on %s", d)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d watches, want %d", len(got), len(want))
	}
}

// assertNotWatched checks that no watch on fd is on any of dirs.
func assertNotWatched(t *testing.T, fd int, dirs ...string) {
	t.Helper()
	got := watchedInodes(t, fd)
	for _, d := range dirs {
		if got[inode(t, d)] > 0 {
			t.Errorf("ignored directory %s has an inotify watch", d)
		}
	}
}
