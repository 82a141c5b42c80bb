package state

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// A read of the version this process wrote, or last parsed, is not parsed
// again; what it returns is the caller's own; a version written by someone
// else, even of the same size, is parsed.
func TestReadParsesOnlyANewVersion(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Update(func(f *File) error {
		f.Services["api"] = &Service{Name: "api", Tier: "local", Status: Ready, Started: time.Now(), Deps: []string{"db"},
			Procs: []Proc{{Cmd: "exec api"}}, Fresh: &Stamp{Config: map[string]string{"env": "1"}, Pods: []string{"p"}}}
		f.Watchers = []Watcher{{Services: []string{"api-local"}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var kept *Service
	if err := d.Update(func(f *File) error { kept = f.Services["api"]; return nil }); err != nil {
		t.Fatal(err)
	}
	kept.Status = Failed // what an update's function kept of the record is its own too
	before := parses.Load()
	f, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if n := parses.Load() - before; n != 0 {
		t.Errorf("reading the version just written parsed it %d times, want 0", n)
	}
	// Whatever the caller does to what it read stays its own.
	api := f.Services["api"]
	api.Status, api.Deps[0], api.Procs[0].Cmd, api.Fresh.Config["env"], api.Fresh.Pods[0] = Failed, "x", "x", "x", "x"
	f.Watchers[0].Services[0] = "x"
	delete(f.Services, "api")
	g, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := g.Services["api"]
	if !ok || a.Status != Ready || a.Deps[0] != "db" || a.Procs[0].Cmd != "exec api" || a.Fresh.Config["env"] != "1" ||
		a.Fresh.Pods[0] != "p" || g.Watchers[0].Services[0] != "api-local" {
		t.Fatalf("a read after changing what an earlier read returned = %+v (fresh %+v, watchers %+v), want what was written", a, a.Fresh, g.Watchers)
	}

	// Another writer: the same size, another status.
	data, err := os.ReadFile(d.file())
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Replace(data, []byte(`"status": "ready"`), []byte(`"status": "xxxxx"`), 1)
	if bytes.Equal(other, data) || len(other) != len(data) {
		t.Fatalf("the test's edit of %s changed nothing or its size", data)
	}
	if err := os.WriteFile(d.file(), other, 0o644); err != nil {
		t.Fatal(err)
	}
	before = parses.Load()
	h, err := d.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Services["api"].Status; got != "xxxxx" {
		t.Errorf("after another writer's version, status = %q, want xxxxx", got)
	}
	if n := parses.Load() - before; n != 1 {
		t.Errorf("reading another writer's version parsed it %d times, want 1", n)
	}
	if _, err := d.Read(); err != nil {
		t.Fatal(err)
	}
	if n := parses.Load() - before; n != 1 {
		t.Errorf("reading it again parsed it %d times in all, want 1", n)
	}
}
