package main

import (
	"fmt"
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

// TestCompare: each figure's medians are paired run by run, by name, and
// the pairs this binary won counted; rows with no median (notes), figures
// missing from a run, and a figure with the same medians as the one before
// (the chain against its bounds) are left out.
func TestCompare(t *testing.T) {
	run := func(save, chain string, extra ...row) []row {
		return append([]row{
			{figure: "save", value: "median " + save + " ms, p90 30.0 ms"},
			{figure: "checkout", value: "[1 1 1 1 1]"},
			{figure: "chain", value: "median " + chain + " ms of 3"},
			{figure: "the chain against its bound", value: "median " + chain + " ms of 3"},
		}, extra...)
	}
	this := [][]row{run("16.0", "50.0"), run("18.0", "60.0", row{figure: "only here", value: "median 1.0 ms"})}
	that := [][]row{run("17.0", "49.0"), run("20.0", "61.0")}
	got := compare(this, that)
	if len(got) != 2 || got[0].figure != "save" || got[1].figure != "chain" {
		t.Fatalf("compared %+v; want save and chain, in that order", got)
	}
	if s := got[0]; s.faster != 2 || mean(s.this) != 17 || mean(s.that) != 18.5 {
		t.Errorf("save: %+v, means %.2f / %.2f; want faster in 2, means 17 / 18.5", s, mean(s.this), mean(s.that))
	}
	if c := got[1]; c.faster != 1 || fmt.Sprint(c.this, c.that) != "[50 60] [49 61]" {
		t.Errorf("chain: %+v; want faster in 1, [50 60] against [49 61]", c)
	}
	if got := compare(this, that[:1]); got != nil {
		t.Errorf("runs of unequal count compared: %+v", got)
	}
}
