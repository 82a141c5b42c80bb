package waiter

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
)

func TestDirect(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no env or sh on PATH to name")
	}
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("server", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string
		path string // "" means bash runs it
		argv []string
	}{
		{"exec env --port 8080 a=b x,y:z@1%+", env, []string{"env", "--port", "8080", "a=b", "x,y:z@1%+"}},
		{"exec   ./server   -v ", "./server", []string{"./server", "-v"}},
		{"exec " + filepath.Join(dir, "server"), filepath.Join(dir, "server"), []string{filepath.Join(dir, "server")}},
		{"env", "", nil},            // no exec: bash decides
		{"exec ./missing", "", nil}, // bash says it is not there
		{"exec no-such-program-here", "", nil},
		{`exec "env"`, "", nil},       // quotes
		{"exec env $HOME", "", nil},   // a variable
		{"exec env *", "", nil},       // a glob
		{"exec env ~", "", nil},       // tilde
		{"exec env > out", "", nil},   // a redirection
		{"exec env; env", "", nil},    // a list
		{"exec env\n", "", nil},       // a newline
		{"exec\tenv", "", nil},        // a tab
		{"exec -a name env", "", nil}, // exec's own option
		{"exec A=1 env", "", nil},     // not a program
		{"exec", "", nil},
	} {
		path, argv, ok := direct(tc.line)
		if ok != (tc.path != "") || path != tc.path || !reflect.DeepEqual(argv, tc.argv) {
			t.Errorf("direct(%q) = %q, %q, %v; want %q, %q", tc.line, path, argv, ok, tc.path, tc.argv)
		}
	}
}

// A program the waiter execs itself sees the environment bash would have
// given it: PWD the directory it runs in, SHLVL as it was or 0.
func TestDirectEnvIsBashs(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	t.Chdir(t.TempDir())
	for _, shlvl := range []string{"", "3"} {
		t.Setenv("PWD", "/somewhere/else")
		t.Setenv("SHLVL", shlvl) // restored after the test
		if shlvl == "" {
			os.Unsetenv("SHLVL")
		}
		viaBash, err := exec.Command(bash, "-c", "exec env").Output()
		if err != nil {
			t.Fatal(err)
		}
		path, argv, ok := direct("exec env")
		if !ok {
			t.Fatal("exec env: not direct")
		}
		cmd := &exec.Cmd{Path: path, Args: argv, Env: directEnv()}
		ours, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		lines := func(b []byte) []string {
			l := strings.Split(strings.TrimSpace(string(b)), "\n")
			sort.Strings(l)
			return l
		}
		if got, want := lines(ours), lines(viaBash); !reflect.DeepEqual(got, want) {
			t.Errorf("SHLVL=%q: the environment differs from bash's:\nours: %q\nbash: %q", shlvl, got, want)
		}
	}
}
