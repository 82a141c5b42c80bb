package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/windmilleng/pets/proc"
)

// A waiter's exit, written to a file of its own, is in every Read of the
// record at once; the next Update writes it into state.json and removes the
// file, and the file of a process no longer recorded.
func TestRecordExit(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := proc.Identity{PID: 41, Start: 7}
	gone := proc.Identity{PID: 42, Start: 8}
	err = d.Update(func(f *File) error {
		f.Services["a.b"] = &Service{Name: "a.b", Procs: []Proc{{Identity: w, Waiter: true}, {Identity: proc.Identity{PID: 43, Start: 9}}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RecordExit("a.b", w, "exit status 3"); err != nil {
		t.Fatal(err)
	}
	if err := d.RecordExit("a.b", gone, "signal: killed"); err != nil {
		t.Fatal(err)
	}
	exitOf := func(f *File, id proc.Identity) string {
		for _, p := range f.Services["a.b"].Procs {
			if p.Identity == id {
				return p.Exit
			}
		}
		return "(not recorded)"
	}
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := exitOf(f, w); got != "exit status 3" {
		t.Fatalf("Read says the waiter's command ended %q; want \"exit status 3\"", got)
	}
	if got := exitOf(f, proc.Identity{PID: 43, Start: 9}); got != "" {
		t.Fatalf("another process got the exit %q", got)
	}
	if err := d.Update(func(f *File) error { f.Services["a.b"].Reason = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.Path, exitsDir)); len(ents) != 0 {
		t.Errorf("%d exit files left after an update; want none", len(ents))
	}
	f, err = d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := exitOf(f, w); got != "exit status 3" {
		t.Fatalf("after the update the waiter's command ended %q; want \"exit status 3\" (from state.json)", got)
	}
}

func TestParseExitName(t *testing.T) {
	for _, c := range []struct {
		name, service string
		id            proc.Identity
		ok            bool
	}{
		{"api.12.345", "api", proc.Identity{PID: 12, Start: 345}, true},
		{"web.v2.12.345", "web.v2", proc.Identity{PID: 12, Start: 345}, true},
		{exitName("x-y", proc.Identity{PID: 1, Start: 2}), "x-y", proc.Identity{PID: 1, Start: 2}, true},
		{"api.12", "", proc.Identity{}, false},
		{"api.x.345", "", proc.Identity{}, false},
		{".12.345", "", proc.Identity{}, false},
	} {
		n, ok := parseExitName(c.name)
		if ok != c.ok || ok && (n.service != c.service || n.id != c.id) {
			t.Errorf("parseExitName(%q) = %q %v, %v; want %q %v, %v", c.name, n.service, n.id, ok, c.service, c.id, c.ok)
		}
	}
}
