package fresh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

// stamperProject is a Petsfile whose service s watches src/**, with
// src/a.txt and src/b.txt, and a state directory holding s's record.
type stamperProject struct {
	root string
	dir  *state.Dir
	st   *Stamper
	k    petsfile.Key
}

func newStamperProject(t *testing.T) *stamperProject {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &stamperProject{root: root, k: petsfile.Key{Name: "s", Tier: "local"}}
	p.write(t, "Petsfile", `register("s", "local", lambda: service(start("true"), "127.0.0.1", 1), watch=["src/**"])`+"\n")
	p.write(t, "src/a.txt", "v1")
	p.write(t, "src/b.txt", "b")
	project, err := petsfile.Load(context.Background(), filepath.Join(root, "Petsfile"), petsfile.Options{Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	g, err := project.Resolve([]string{"s"}, "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.dir, err = state.Open(filepath.Join(root, "home")); err != nil {
		t.Fatal(err)
	}
	if err := p.dir.Update(func(f *state.File) error {
		f.Services[p.k.Name] = &state.Service{Name: p.k.Name, Tier: p.k.Tier}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p.st = NewStamper(p.dir, project, g, []string{filepath.ToSlash(p.dir.Path) + "/**"})
	return p
}

func (p *stamperProject) write(t *testing.T, rel, body string) {
	t.Helper()
	f := filepath.Join(p.root, rel)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (p *stamperProject) drift(t *testing.T) []string {
	t.Helper()
	files, known, err := p.st.Drift(context.Background(), p.k)
	if err != nil || !known {
		t.Fatalf("Drift: %v, known %v", err, known)
	}
	return files
}

// record is s's stamp in its record (nil: none).
func (p *stamperProject) record(t *testing.T) *state.Stamp {
	t.Helper()
	f, err := p.dir.Read()
	if err != nil {
		t.Fatal(err)
	}
	return f.Services[p.k.Name].Fresh
}

// TestStamperFirstStepStartsFromPrepare: the first step after Prepare
// stamps what Prepare read, without a walk of its own (so a file edited in
// between is drift: pets cannot say the step read it); once Started, a
// step that reads everything walks again.
func TestStamperFirstStepStartsFromPrepare(t *testing.T) {
	p := newStamperProject(t)
	st, write, root := p.st, func(rel, body string) { p.write(t, rel, body) }, p.root
	k := p.k
	if err := st.Prepare(); err != nil {
		t.Fatal(err)
	}
	drift := func() []string {
		t.Helper()
		files, known, err := st.Drift(context.Background(), k)
		if err != nil || !known {
			t.Fatalf("Drift: %v, known %v", err, known)
		}
		return files
	}

	write("src/a.txt", "v2, longer")
	st.Take(k, nil, true)()
	if got, want := drift(), []string{filepath.Join(root, "src", "a.txt")}; !slices.Equal(got, want) {
		t.Errorf("the first step's stamp: drift %v, want %v (what Prepare read)", got, want)
	}
	st.Take(k, nil, true)()
	if got := drift(); len(got) != 0 {
		t.Errorf("the second step, which reads everything: drift %v, want none (Prepare's manifest serves one step)", got)
	}
	if err := st.Prepare(); err != nil {
		t.Fatal(err)
	}
	st.Started()
	write("src/a.txt", "v3, longer still")
	st.Take(k, nil, true)()
	if got := drift(); len(got) != 0 {
		t.Errorf("a step after Started that reads everything: drift %v, want none", got)
	}
}

// TestStamperDefer: after Defer a first step starts without a walk; its
// stamp (with the pods Pods gave meanwhile) is recorded when the walk
// Started begins has ended, and Known waits for that. A file whose status
// changed after since reads as changed in it (the step may not have read
// it), the others do not; a later step starts from the walk.
func TestStamperDefer(t *testing.T) {
	p := newStamperProject(t)
	ctime := func(rel string) int64 {
		t.Helper()
		_, c, err := lstatIn(nil, filepath.Join(p.root, filepath.Dir(rel)), filepath.Base(rel))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	last := max(ctime("src/a.txt"), ctime("src/b.txt"))
	since := time.Unix(0, last+int64(ctimeGrain)+1) // what came before is older than since, grain and all

	ended := p.st.Defer(since)
	p.st.Take(p.k, nil, true)()
	p.st.Pods(p.k, []string{"pod-1"})
	if r := p.record(t); r != nil {
		t.Fatalf("a stamp was recorded before the walk: %+v", r)
	}
	// Edited after since (the ctime clock ticks coarsely: until it has).
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ctime("src/a.txt") <= last; i++ {
		if time.Now().After(deadline) {
			t.Fatal("a.txt's ctime never passed b.txt's")
		}
		p.write(t, "src/a.txt", fmt.Sprintf("v2 %d", i))
	}
	p.st.Started()
	if !p.st.Known(p.k) {
		t.Fatal("Known: no stamp once the walk has ended")
	}
	if err := <-ended; err != nil {
		t.Fatalf("the walk: %v", err)
	}
	r := p.record(t)
	if r == nil || !slices.Equal(r.Pods, []string{"pod-1"}) || !r.Taken.Equal(since) {
		t.Fatalf("the recorded stamp: %+v, want pods [pod-1] taken at %v", r, since)
	}
	a := filepath.Join(p.root, "src", "a.txt")
	if got, want := p.drift(t), []string{a}; !slices.Equal(got, want) {
		t.Errorf("drift %q, want %q (changed after since: unsure)", got, want)
	}
	// The next step reads a.txt again (a round's changed path).
	p.st.Take(p.k, []string{a}, false)()
	if got := p.drift(t); len(got) != 0 {
		t.Errorf("after the next step: drift %q, want none", got)
	}
}
