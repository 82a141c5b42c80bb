package petsfile_test

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

// writeModule adds module@version, holding files, to a GOPROXY=file:// tree.
func writeModule(t *testing.T, proxy, module, version string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(proxy, module, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files["go.mod"] = "module " + module + "\n"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(module + "@" + version + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(version+".zip", buf.String())
	write(version+".mod", files["go.mod"])
	write(version+".info", `{"Version":"`+version+`","Time":"2026-01-01T00:00:00Z"}`)
	list, _ := os.ReadFile(filepath.Join(dir, "list"))
	write("list", string(list)+version+"\n")
}

func goGetEnv(t *testing.T, proxy string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed for go-get:// loads: %v", err)
	}
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(proxy))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "-modcacherw") // so t.TempDir can remove the module cache
	t.Setenv("GOMODCACHE", filepath.Join(t.TempDir(), "modcache"))
}

const backendPetsfile = `
def backend_local():
  return service(start("./backend"), "localhost", 8080)
register("backend", "local", backend_local)
`

func TestGoGetLoad(t *testing.T) {
	proxy := t.TempDir()
	writeModule(t, proxy, "example.test/petsbackend", "v1.0.0", map[string]string{
		"Petsfile":     backendPetsfile,
		"sub/Petsfile": `register("tool", "local", lambda: None)`,
	})
	goGetEnv(t, proxy)

	project := t.TempDir()
	root := filepath.Join(project, "Petsfile")
	if err := os.WriteFile(root, []byte(`
load("go-get://example.test/petsbackend", "backend_local", backend_dir="dir")
load("go-get://example.test/petsbackend/sub", "dir")
print(backend_dir)
register("frontend", "local", lambda b: None, deps=["backend"])
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	p, err := petsfile.Load(context.Background(), root, petsfile.Options{Stderr: &printed})
	if err != nil {
		t.Fatal(err)
	}
	backend, ok := p.Service(petsfile.Key{Name: "backend", Tier: "local"})
	if !ok {
		t.Fatal("backend-local from the go-get module is not registered")
	}
	wantDir := filepath.Join(os.Getenv("GOMODCACHE"), "example.test", "petsbackend@v1.0.0")
	if backend.Dir != wantDir {
		t.Errorf("backend dir = %s, want %s", backend.Dir, wantDir)
	}
	if got := strings.TrimSpace(printed.String()); got != wantDir {
		t.Errorf("the module's dir export = %q, want %q", got, wantDir)
	}
	if _, ok := p.Service(petsfile.Key{Name: "tool", Tier: "local"}); !ok {
		t.Error("tool-local from the module's sub directory is not registered")
	}
	lock, err := os.ReadFile(filepath.Join(project, petsfile.LockName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lock), "example.test/petsbackend v1.0.0\n") {
		t.Fatalf("lock file does not pin v1.0.0:\n%s", lock)
	}

	// A newer version appears: the lock keeps the project on v1.0.0.
	writeModule(t, proxy, "example.test/petsbackend", "v1.1.0", map[string]string{
		"Petsfile":     strings.ReplaceAll(backendPetsfile, "8080", "9090"),
		"sub/Petsfile": `register("tool", "local", lambda: None)`,
	})
	p, err = petsfile.Load(context.Background(), root, petsfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backend, _ = p.Service(petsfile.Key{Name: "backend", Tier: "local"})
	if backend.Dir != wantDir {
		t.Errorf("after v1.1.0 appeared, backend dir = %s, want the pinned %s", backend.Dir, wantDir)
	}

	// Without the pin, @latest resolves to v1.1.0.
	if err := os.Remove(filepath.Join(project, petsfile.LockName)); err != nil {
		t.Fatal(err)
	}
	p, err = petsfile.Load(context.Background(), root, petsfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	backend, _ = p.Service(petsfile.Key{Name: "backend", Tier: "local"})
	if !strings.HasSuffix(backend.Dir, "petsbackend@v1.1.0") {
		t.Errorf("unpinned backend dir = %s, want v1.1.0", backend.Dir)
	}
}

func TestGoGetFailureShowsGoError(t *testing.T) {
	goGetEnv(t, t.TempDir()) // an empty proxy: every module is missing
	project := t.TempDir()
	root := filepath.Join(project, "Petsfile")
	if err := os.WriteFile(root, []byte(`load("go-get://example.test/nothere", "x")`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := petsfile.Load(context.Background(), root, petsfile.Options{})
	if err == nil {
		t.Fatal("load of a missing module succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"Petsfile:1:1:",
		"go mod download example.test/nothere@latest failed",
		"example.test/nothere", // go's own text names the module...
		"file://",              // ...and the proxy it asked
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if _, err := os.Stat(filepath.Join(project, petsfile.LockName)); err == nil {
		t.Error("a failed fetch wrote a lock file")
	}
}
