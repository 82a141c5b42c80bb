package watcher

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestFilesSeesWritesAndRenamesOfItsFilesOnly(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Petsfile")
	lib := filepath.Join(dir, "lib", "Petsfile")
	for _, p := range []string{pf, lib} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := WatchFiles([]string{pf}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next := func() []string {
		t.Helper()
		select {
		case b := <-f.Changes():
			return b
		case <-time.After(10 * time.Second):
			t.Fatal("no change within 10s")
			return nil
		}
	}
	// Another file in the same directory is dropped; the Petsfile, written
	// in place, is reported (the other file comes first, so if it were
	// reported it would be in this batch or an earlier one).
	write(t, filepath.Join(dir, "other.txt"), "y")
	write(t, pf, "y")
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch = %v, want [%s]", got, pf)
	}
	// Replaced by a rename (editors' atomic save).
	write(t, pf+".tmp", "z")
	if err := os.Rename(pf+".tmp", pf); err != nil {
		t.Fatal(err)
	}
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch after rename = %v", got)
	}
	// Update: now the loaded file too.
	if err := f.Update([]string{pf, lib}); err != nil {
		t.Fatal(err)
	}
	write(t, lib, "w")
	if got := next(); !reflect.DeepEqual(got, []string{lib}) {
		t.Fatalf("batch = %v, want [%s]", got, lib)
	}
	// And dropped again: the lib directory's watch goes.
	if err := f.Update([]string{pf}); err != nil {
		t.Fatal(err)
	}
	write(t, lib, "v")
	write(t, pf, "v")
	if got := next(); !reflect.DeepEqual(got, []string{pf}) {
		t.Fatalf("batch = %v, want only the Petsfile", got)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFilesStartedComesBeforeTheBatch(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "Petsfile")
	if err := os.WriteFile(pf, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := WatchFiles([]string{pf}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.WriteFile(pf, []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.Started():
	case ps := <-f.Changes():
		t.Fatalf("the batch %v came before Started", ps)
	case <-time.After(10 * time.Second):
		t.Fatal("no Started")
	}
	select {
	case ps := <-f.Changes():
		if len(ps) != 1 || ps[0] != pf {
			t.Errorf("batch %v", ps)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no batch after Started")
	}
}
