package dirent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadMatchesOS checks that Read lists what os.ReadDir lists, with the
// same directory-ness: files, directories, a symlink to a directory (not a
// directory), and more names than one getdents64 call returns.
func TestReadMatchesOS(t *testing.T) {
	dir := t.TempDir()
	for i := range 1500 {
		name := fmt.Sprintf("file-%04d-%s", i, strings.Repeat("x", 40))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"sub", ".hidden", "node_modules"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.Read(nil)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	if len(got) != len(want) {
		t.Fatalf("Read: %d entries, os.ReadDir: %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Name != w.Name() || got[i].Dir != w.IsDir() {
			t.Errorf("entry %d: got %+v, want %s (dir %v)", i, got[i], w.Name(), w.IsDir())
		}
	}
}

// TestOpenErrors checks that Open's errors say what os.Open's say.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("missing: %v, want not-exist", err)
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if d, err := Open(f); err == nil {
		d.Close()
		t.Errorf("a file opened as a directory")
	}
}
