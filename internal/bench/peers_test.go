package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestReason(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, c := range []struct{ out, want string }{
		{"", "(no output)"},
		{"  \n\n", "(no output)"},
		{"go: downloading a\ngo: module b: not found\n", "go: module b: not found"},
		{"E: Unable to locate package entr\n\n", "E: Unable to locate package entr"},
		{long, long[:117] + "..."},
	} {
		if got := reason(c.out); got != c.want {
			t.Errorf("reason(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}

// TestStartsLine: with a starts file, every start of the server appends the
// pid that then becomes the server's; without one the server is execed
// as it is.
func TestStartsLine(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh")
	}
	s := session{server: []string{"echo", "hello"}}
	if got := s.serverArgv(); strings.Join(got, " ") != "echo hello" {
		t.Errorf("serverArgv without starts = %q", got)
	}
	if got := s.serverLine(); got != "exec echo hello" {
		t.Errorf("serverLine without starts = %q", got)
	}
	dir := t.TempDir()
	s.starts = filepath.Join(dir, "starts")
	script := filepath.Join(dir, "server.sh")
	if err := os.WriteFile(script, []byte("echo $$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.server = []string{"sh", script} // prints its pid, as petserver answers with it
	for i := 0; i < 2; i++ {
		argv := s.serverArgv()
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(s.starts)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != i+1 || lines[i] != strings.TrimSpace(string(out)) {
			t.Errorf("start %d: starts file %q, the server's pid %q", i, b, out)
		}
	}
}

func TestGoInstallNA(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=mod")
	_, err := goInstall(t.TempDir(), "nope", "example.invalid/nope@v0.0.1")
	if err == nil {
		t.Fatal("go install of a module that cannot be had did not fail")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "go install example.invalid/nope@v0.0.1: ") {
		t.Errorf("not one line naming the module: %q", msg)
	}
}
