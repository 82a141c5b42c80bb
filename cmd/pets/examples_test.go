//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/windmilleng/pets/proc"
)

// The examples run as the README says, unchanged (go run and fixed ports).
func TestExamples(t *testing.T) {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name, dir string
		args      []string
		ports     []int
		want      map[int]string // port -> what its answer contains
	}{
		{"announcement", "../../examples/announcement", []string{"up", "frontend"}, []int{8080, 8081},
			map[int]string{8081: "the backend at localhost:8080 says: hello from the backend"}},
		{"two repos, diamond", "../../examples/two-repos/web-repo", []string{"up", "web"}, []int{8090, 8091, 8092},
			map[int]string{8090: "; api -> [api (pid", 8091: "; store -> [store (pid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.ports {
				if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", p)) {
					t.Fatalf("port %d is in use by another program; the example needs it", p)
				}
			}
			e := newEnv(t)
			e.dir = abs(tc.dir)
			r := e.mustPets(tc.args...)
			if n := strings.Count(r.stderr, "is now running"); n != len(tc.ports) {
				t.Errorf("%d services started, want %d:\n%s", n, len(tc.ports), r.stderr)
			}
			for port, want := range tc.want {
				if body := get(t, port); !strings.Contains(body, want) {
					t.Errorf(":%d answered %q, want it to contain %q", port, body, want)
				}
			}
			e.mustPets("down")
			for _, p := range tc.ports {
				if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", p)) {
					t.Errorf("port %d still served after down", p)
				}
			}
		})
	}
}

// In the announcement's example (a copy, on its fixed ports) an edit to a
// server's code rebuilds and restarts that server alone, and the
// backend's dependent with it: each watches its own code.
func TestAnnouncementEditRestartsItsOwner(t *testing.T) {
	for _, p := range []int{8080, 8081} {
		if proc.Accepting(fmt.Sprintf("127.0.0.1:%d", p)) {
			t.Fatalf("port %d is in use by another program; the example needs it", p)
		}
	}
	e := newEnv(t)
	e.dir = t.TempDir()
	if err := os.CopyFS(e.dir, os.DirFS("../../examples/announcement")); err != nil {
		t.Fatal(err)
	}
	e.write("go.mod", "module announcement\n") // its builds' module, out of pets' tree
	w := e.watch("up", "--watch", "frontend")
	edit := func(file string) string {
		t.Helper()
		src := readFile(t, filepath.Join(e.dir, file))
		e.write(file, src+"\n// edited\n")
		return w.waitLine(`round \d+: ` + regexp.QuoteMeta(file) + ` -> .*`)[0]
	}
	if l := edit("cmd/frontend/main.go"); !strings.Contains(l, "frontend-local restarted") || strings.Contains(l, "backend-local") {
		t.Errorf("an edit to the frontend's code: %q; want the frontend alone", l)
	}
	if l := edit("cmd/backend/main.go"); !strings.Contains(l, "backend-local restarted") || !strings.Contains(l, "frontend-local bounced") {
		t.Errorf("an edit to the backend's code: %q; want the backend, and its dependent bounced", l)
	}
	if body := get(t, 8081); !strings.Contains(body, "hello from the backend") {
		t.Errorf(":8081 answered %q after the edits", body)
	}
	w.stop()
}

// A service skipped because its dependency failed has no log (the waiter
// forked ahead for it made one, empty, and pets logs printed nothing).
func TestASkippedServiceHasNoLog(t *testing.T) {
	e := newEnv(t)
	// a fails slowly: b's waiter is forked ahead meanwhile.
	e.write("Petsfile", fmt.Sprintf(`register('a', 'local', lambda: service(start('sleep 0.5; exit 3'), '127.0.0.1', %d))
register('b', 'local', lambda a: service(start('exec $PETSERVER --port %d'), '127.0.0.1', %d), deps=['a'])
`, freePort(t), freePort(t), freePort(t)))
	if r := e.pets("up"); r.code == 0 || !strings.Contains(r.stderr, "a-local failed") {
		t.Fatalf("pets up: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.pets("logs", "b"); r.code == 0 || !strings.Contains(r.stderr, `no log for "b"`) || r.stdout != "" {
		t.Errorf("pets logs of a service that never started: exit %d, %q%s; want no log", r.code, r.stdout, r.stderr)
	}
	if r := e.mustPets("logs", "a"); !strings.Contains(r.stdout, "--- pets: starting a-local") {
		t.Errorf("pets logs a: %q", r.stdout)
	}
	e.nothingRunning()
}

func TestLogsFollow(t *testing.T) {
	e := newEnv(t)
	e.twoServers()
	e.mustPets("up", "frontend")
	cmd := e.cmd("logs", "-f", "backend")
	var out syncBuffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(t, "the existing log", func() bool { return strings.Count(out.String(), "listening on") == 1 })
	// A restart appends to the same log; -f shows it.
	e.mustPets("down", "backend")
	e.mustPets("up", "backend")
	waitFor(t, "the restart's lines", func() bool { return strings.Count(out.String(), "listening on") == 2 })
	if strings.Contains(out.String(), "frontend") {
		t.Errorf("logs -f backend shows the frontend:\n%s", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The README's Petsfile is examples/announcement/Petsfile (below its first
// comment), so that what a reader copies is what make demo runs.
func TestReadmeShowsTheExample(t *testing.T) {
	readme := readFile(t, "../../README.md")
	i := strings.Index(readme, "```python\n")
	j := strings.Index(readme[i+len("```python\n"):], "```")
	if i < 0 || j < 0 {
		t.Fatal("no Petsfile in the README")
	}
	block := readme[i+len("```python\n") : i+len("```python\n")+j]
	example := readFile(t, "../../examples/announcement/Petsfile")
	if k := strings.Index(example, "\n\n"); k < 0 || example[k+2:] != block {
		t.Errorf("the README's Petsfile is not examples/announcement/Petsfile:\n%s\n---\n%s", block, example)
	}
}
