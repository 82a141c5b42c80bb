package fresh

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

// TestStamperFirstStepStartsFromPrepare: the first step after Prepare
// stamps what Prepare read, without a walk of its own (so a file edited in
// between is drift: pets cannot say the step read it); once Started, a
// step that reads everything walks again.
func TestStamperFirstStepStartsFromPrepare(t *testing.T) {
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, body string) {
		t.Helper()
		f := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Petsfile", `register("s", "local", lambda: service(start("true"), "127.0.0.1", 1), watch=["src/**"])`+"\n")
	write("src/a.txt", "v1")
	project, err := petsfile.Load(context.Background(), filepath.Join(root, "Petsfile"), petsfile.Options{Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	g, err := project.Resolve([]string{"s"}, "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := state.Open(filepath.Join(root, "home"))
	if err != nil {
		t.Fatal(err)
	}
	k := petsfile.Key{Name: "s", Tier: "local"}
	if err := dir.Update(func(f *state.File) error {
		f.Services[k.Name] = &state.Service{Name: k.Name, Tier: k.Tier}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := NewStamper(dir, project, g, []string{filepath.ToSlash(dir.Path) + "/**"})
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
