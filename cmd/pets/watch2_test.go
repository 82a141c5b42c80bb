//go:build linux

package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The reviewer's cases: first-start failures, streamed output, helpers,
// missing watch roots, changed Petsfiles under plain up, Ctrl-C after reuse.

func TestWatchKeepsGoingWhenTheFirstStartFails(t *testing.T) {
	e := newEnv(t)
	e.chainWithBadData()
	e.write("a/data", "bad")
	w := e.watch("up", "--watch")
	out := w.output()
	for _, want := range []string{"pets: a-local failed:", "a cannot start: bad data", "pets: b-local not started: a dependency failed", "The service c-local is now running"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	e.write("a/data", "good")
	m := w.waitLine(roundRE)
	if m[3] != strings.TrimSpace(m[3]) || !strings.HasPrefix(m[3], "a-local restarted in ") || !strings.Contains(m[3], "b-local bounced in ") {
		t.Errorf("round after the fix: %q", m[0])
	}
	if l := e.list(); l["a-local"].Status != "ready" || l["b-local"].Status != "ready" {
		t.Errorf("after the fix: %+v", l)
	}
}

func TestWatchStreamsStartupAndAddedServicesLogs(t *testing.T) {
	e := newEnv(t)
	e.chain()
	cmd := e.cmd("up", "--watch")
	var out syncBuffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	defer func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }()
	waitFor(t, "a's startup line", func() bool {
		return strings.Contains(out.String(), "a-local | ") && strings.Contains(out.String(), "a (pid")
	})
	port := freePort(t)
	e.edit("Petsfile", func(s string) string {
		return s + fmt.Sprintf("\nregister(\"z\", \"local\", lambda: service(start(\"echo z says hello; exec $PETSERVER --name z --port %d\"), \"127.0.0.1\", %d), watch=[\"c/**\"])\n", port, port)
	})
	waitFor(t, "the added service's log", func() bool { return strings.Contains(out.String(), "z says hello") })
}

func TestHelpersThatExitDoNotMakeAServiceDead(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf(`
def web():
  start("true")
  s = start("exec $PETSERVER --port %d")
  start("sleep 0.01")
  return service(s, "127.0.0.1", %d)
register("web", "local", web)
`, port, port))
	e.mustPets("up")
	// Wait until the helpers are gone, then: still running, and reused.
	// The server and its waiter remain.
	waitFor(t, "the helpers to exit", func() bool { return len(e.strays()) == 2 })
	if st := e.list()["web-local"].Status; st != "ready" {
		t.Errorf("status with exited helpers: %s", st)
	}
	if r := e.mustPets("up"); !strings.Contains(r.stderr, "already running") {
		t.Errorf("not reused:\n%s", r.stderr)
	}
}

func TestWatchWithoutItsWatchDirectoryKeepsRunning(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("Petsfile", fmt.Sprintf("register(\"s\", \"local\", lambda: service(start(\"exec $PETSERVER --port %d\"), \"127.0.0.1\", %d), watch=[\"src/**\"])\n", port, port))
	w := e.watch("up", "--watch")
	if want := filepath.Join(e.dir, "src") + " does not exist yet; watching " + e.dir + " for it"; !strings.Contains(w.output(), want) {
		t.Errorf("no word about the missing directory (%q):\n%s", want, w.output())
	}
	// Created with a file in it: the file counts at once; so do later ones.
	e.write("src/main.go", "x")
	w.waitLine(`round \d+: .*src/main.go -> s-local restarted`)
	e.write("src/util.go", "y")
	w.waitLine(`round \d+: .*src/util.go -> s-local restarted`)
	// Files outside src are not s's, though its parent is watched.
	e.write("other.txt", "z")
	e.write("src/sentinel", "1")
	if m := w.waitLine(roundRE); m[2] != "src/sentinel" {
		t.Errorf("a round for %s", m[2])
	}
}

func TestUpRestartsAServiceWhosePetsfileDefinitionChanged(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up")
	before := e.pids()
	e.edit("Petsfile", func(s string) string { return strings.Replace(s, "--name c ", "--name c2 ", 1) })
	r := e.mustPets("up")
	if !strings.Contains(r.stderr, "Restarting c-local: the Petsfile changed it since it started") {
		t.Errorf("no restart message:\n%s", r.stderr)
	}
	after := e.pids()
	if after["c-local"] == before["c-local"] || after["a-local"] != before["a-local"] || after["b-local"] != before["b-local"] {
		t.Errorf("pids %v -> %v: only c should restart", before, after)
	}
}

func TestWatchCtrlCLeavesUpWhatWasUpBefore(t *testing.T) {
	e := newEnv(t)
	e.chain()
	e.mustPets("up", "a")
	before := e.pids()
	w := e.watch("up", "--watch")
	if !strings.Contains(w.output(), "The service a-local is already running") || !strings.Contains(w.output(), "Ctrl-C stops what this command started; what was up before stays up.") {
		t.Fatalf("not reused, or no word about Ctrl-C:\n%s", w.output())
	}
	// A reload adds d: started by this command, stopped on Ctrl-C.
	dport := freePort(t)
	e.edit("Petsfile", func(s string) string {
		return s + fmt.Sprintf("\nregister(\"d\", \"local\", lambda: service(start(\"exec $PETSERVER --name d --port %d\"), \"127.0.0.1\", %d), watch=[\"d/**\"])\n", dport, dport)
	})
	w.reloaded("d-local", "", "", 3)
	if code := w.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
	// What was up before the command (a) stays up, same pid; what it
	// started (b, c, and d from the reload) is stopped.
	l := e.list()
	if len(l) != 1 || l["a-local"].PID != before["a-local"] || l["a-local"].Status != "ready" {
		t.Errorf("after Ctrl-C: %+v; want only a-local, as it was (pid %d)", l, before["a-local"])
	}
}

func TestSecondCtrlCQuitsAtOnceAndDownCleansUp(t *testing.T) {
	e := newEnv(t)
	port := freePort(t)
	e.write("s/keep", "")
	e.write("Petsfile", fmt.Sprintf("register(\"stubborn\", \"local\", lambda: service(start(\"exec $PETSERVER --ignore-term --port %d\"), \"127.0.0.1\", %d), watch=[\"s/**\"])\n", port, port))
	w := e.watch("up", "--watch", "--grace", "10m")
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	w.waitLine(`^Stopping stubborn-local`) // now waiting out the grace period
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	if code := w.stop(); code != 130 {
		t.Errorf("exit code after a second Ctrl-C: %d", code)
	}
	if !strings.Contains(w.output(), "pets down` stops whatever is still running") {
		t.Errorf("no word about what is left:\n%s", w.output())
	}
	if l := e.list(); l["stubborn-local"].Status != "ready" {
		t.Errorf("the stubborn service should still be recorded: %+v", l)
	}
	e.mustPets("down", "--grace", "100ms")
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind: %v", s)
	}
}
