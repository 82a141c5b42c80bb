//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the pets-restart binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pets-restart-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "pets-restart") // signal mode looks for this base name
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// appendPid is a child that appends its pid to the file $1 and then runs until
// it is killed (exec keeps the pid).
const appendPid = `echo $$ >> "$1"; exec sleep 1000`

func TestRestartOnSignalMode(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	child := []string{"sh", "-c", appendPid, "sh", pidFile}
	w := startWrapper(t, append([]string{"--"}, child...)...)
	p1 := waitPids(t, pidFile, 1)[0]

	code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid))
	if code != 0 {
		t.Fatalf("pets-restart -restart: exit %d, stderr:\n%s", code, stderr)
	}
	p2 := waitPids(t, pidFile, 2)[1]
	if p2 == p1 {
		t.Fatalf("the restarted child has the old pid %d", p1)
	}
	if want := fmt.Sprintf("restarted %s: pid %d -> %d\n", cmdString(child), p1, p2); stdout != want {
		t.Errorf("signal mode stdout = %q, want %q", stdout, want)
	}
	if running(p1) {
		t.Errorf("old child %d still runs", p1)
	}
	if !running(p2) {
		t.Errorf("new child %d does not run", p2)
	}
	waitFor(t, "the wrapper's restart lines", func() bool {
		log := w.stderr(t)
		return strings.Contains(log, fmt.Sprintf("pets-restart: restarting %s (pid %d)\n", cmdString(child), p1)) &&
			strings.Contains(log, fmt.Sprintf("pets-restart: started %s (pid %d)\n", cmdString(child), p2))
	})
	if w.exited() {
		t.Fatalf("the wrapper exited: %v", w.cmd.ProcessState)
	}

	// And again: each request restarts it once more.
	if code, _, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid)); code != 0 {
		t.Fatalf("second pets-restart -restart: exit %d, stderr:\n%s", code, stderr)
	}
	p3 := waitPids(t, pidFile, 3)[2]
	if p3 == p2 || running(p2) {
		t.Errorf("second restart: pids %d -> %d, old one running: %v", p2, p3, running(p2))
	}
}

func TestRestartKillsChildThatIgnoresSIGTERM(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The ignored SIGTERM survives the exec: only the SIGKILL after -grace stops it.
	w := startWrapper(t, "-grace", "100ms", "--", "sh", "-c", `trap "" TERM; `+appendPid, "sh", pidFile)
	p1 := waitPids(t, pidFile, 1)[0]

	code, _, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid), "-timeout", "5s")
	if code != 0 {
		t.Fatalf("pets-restart -restart: exit %d, stderr:\n%s", code, stderr)
	}
	p2 := waitPids(t, pidFile, 2)[1]
	if p2 == p1 || running(p1) {
		t.Errorf("pids %d -> %d, old one running: %v", p1, p2, running(p1))
	}
	if w.exited() {
		t.Fatalf("the wrapper exited: %v", w.cmd.ProcessState)
	}
}

func TestSignalModeTimesOut(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// -grace 1h: the child that ignores SIGTERM outlives a 200ms -timeout.
	w := startWrapper(t, "-grace", "1h", "--", "sh", "-c", `trap "" TERM; `+appendPid, "sh", pidFile)
	p1 := waitPids(t, pidFile, 1)[0]

	code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid), "-timeout", "200ms")
	if code != exitNotRestarted {
		t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, exitNotRestarted, stdout, stderr)
	}
	if want := fmt.Sprintf("did not restart within 200ms: pid %d still runs", p1); !strings.Contains(stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr, want)
	}
}

func TestChildExitCodeIsWrapperExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 7", 7},
		{"kill -KILL $$", 128 + 9},
	} {
		t.Run(tc.script, func(t *testing.T) {
			t.Parallel()
			w := startWrapper(t, "--", "sh", "-c", tc.script)
			if got := w.wait(t); got != tc.want {
				t.Errorf("wrapper exit code %d, want %d; stderr:\n%s", got, tc.want, w.stderr(t))
			}
		})
	}
}

func TestChildExitKillsItsGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pids")
	// The background sleep is in the child's process group and outlives the child.
	w := startWrapper(t, "--", "sh", "-c", `sleep 1000 & echo $! >> "$1"; exit 7`, "sh", pidFile)
	if got := w.wait(t); got != 7 {
		t.Fatalf("wrapper exit code %d, want 7", got)
	}
	bg := waitPids(t, pidFile, 1)[0]
	waitFor(t, fmt.Sprintf("the background process %d to be killed", bg), func() bool { return !running(bg) })
}

func TestStopSignalStopsChild(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		sig    syscall.Signal
		script string
		want   int
	}{
		{"SIGTERM", syscall.SIGTERM, appendPid, 128 + int(syscall.SIGTERM)},
		{"SIGINT", syscall.SIGINT, appendPid, 128 + int(syscall.SIGINT)},
		{"SIGTERM ignored, SIGKILL after grace", syscall.SIGTERM, `trap "" TERM; ` + appendPid, 128 + 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pids")
			w := startWrapper(t, "-grace", "100ms", "--", "sh", "-c", tc.script, "sh", pidFile)
			child := waitPids(t, pidFile, 1)[0]
			if err := syscall.Kill(w.pid, tc.sig); err != nil {
				t.Fatal(err)
			}
			if got := w.wait(t); got != tc.want {
				t.Errorf("wrapper exit code %d, want %d; stderr:\n%s", got, tc.want, w.stderr(t))
			}
			if running(child) {
				t.Errorf("child %d still runs after the wrapper exited", child)
			}
		})
	}
}

func TestSignalModeWithoutWrapper(t *testing.T) {
	t.Parallel()
	// The test process is not a wrapper.
	code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(os.Getpid()))
	want := fmt.Sprintf("pets-restart: process %d is not a pets-restart wrapper; "+
		"run the container's command as pets-restart -- CMD ...\n", os.Getpid())
	if code != exitNoWrapper || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stderr %q", code, stdout, stderr, exitNoWrapper, want)
	}
}

// TestInPIDNamespace runs pets-restart the way a container does: as PID 1 of a
// PID namespace of its own, signal mode entering it like kubectl exec and
// searching without -pid. Needs unshare(1) with CAP_SYS_ADMIN.
func TestInPIDNamespace(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").Run(); err != nil {
		t.Skipf("no PID namespaces here (unshare --pid --fork --mount-proc: %v)", err)
	}

	t.Run("no wrapper", func(t *testing.T) {
		t.Parallel()
		out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", bin, "-restart").CombinedOutput()
		want := "pets-restart: " + noWrapperMsg + "\n"
		if code := exitCodeOf(t, err); code != exitNoWrapper || string(out) != want {
			t.Errorf("exit %d, output %q; want exit %d, %q", code, out, exitNoWrapper, want)
		}
	})

	t.Run("wrapper is PID 1", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "pids")
		// The subshell leaves an orphan behind that the kernel hands to PID 1.
		script := `(exec sleep 1000 &); ` + appendPid
		u := startProcess(t, "unshare", "--pid", "--mount-proc", "--kill-child", bin, "--", "sh", "-c", script, "sh", pidFile)
		var wpid int // the wrapper, as the test sees it
		waitFor(t, "the wrapper in the namespace", func() bool {
			wpid = childOf(t, u.pid, func(p proc) bool { return true })
			return wpid != 0
		})
		track(t, wpid)
		p1 := readPids(t, pidFile, 1)[0] // pids of the namespace: not to be tracked

		// PID 1 reaps the orphan: once killed, it leaves no zombie behind.
		var orphan int
		waitFor(t, "the orphan to be reparented to the wrapper", func() bool {
			// Not the wrapper's CMD, which leads its own group once it runs.
			orphan = childOf(t, wpid, func(p proc) bool {
				argv, _ := cmdline(p.pid)
				return p.pgrp != p.pid && len(argv) > 0 && argv[0] == "sleep"
			})
			return orphan != 0
		})
		if err := syscall.Kill(orphan, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("the wrapper to reap the orphan %d", orphan), func() bool {
			_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
			return os.IsNotExist(err)
		})

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(wpid), "-p", "-m", bin, "-restart").CombinedOutput()
		if code := exitCodeOf(t, err); code != 0 {
			t.Fatalf("nsenter ... pets-restart -restart: exit %d, output:\n%s", code, out)
		}
		p2 := readPids(t, pidFile, 2)[1]
		if want := fmt.Sprintf(": pid %d -> %d\n", p1, p2); p1 == p2 || !strings.HasSuffix(string(out), want) {
			t.Errorf("output %q, want it to end with %q", out, want)
		}
		if u.exited() {
			t.Fatalf("the wrapper exited: %v", u.cmd.ProcessState)
		}
	})
}

// As PID 1 (a container's command) a wrapper that waits for its CMD's file
// still reaps the orphans the kernel hands to it, and starts CMD once the
// file is there.
func TestWaitingWrapperIsPID1(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").Run(); err != nil {
		t.Skipf("no PID namespaces here (unshare --pid --fork --mount-proc: %v)", err)
	}
	dir := t.TempDir()
	server, pidFile := filepath.Join(dir, "bin", "server"), filepath.Join(dir, "pids")
	u := startProcess(t, "unshare", "--pid", "--mount-proc", "--kill-child", bin, "--", server, pidFile)
	var wpid int // the wrapper, as the test sees it
	waitFor(t, "the wrapper in the namespace", func() bool {
		wpid = childOf(t, u.pid, func(p proc) bool { return true })
		return wpid != 0
	})
	track(t, wpid)
	waitFor(t, "the wrapper to say it waits", func() bool { return strings.Contains(u.stderr(t), "waiting for it") })

	// An orphan inside the namespace: the subshell exits, its sleep is reparented to PID 1.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(wpid), "-p", "-m", "sh", "-c", "(exec sleep 1000 </dev/null >/dev/null 2>&1 &)").CombinedOutput(); err != nil {
		t.Fatalf("nsenter: %v\n%s", err, out)
	}
	var orphan int
	waitFor(t, "the orphan to be reparented to the wrapper", func() bool {
		orphan = childOf(t, wpid, func(p proc) bool { argv, _ := cmdline(p.pid); return len(argv) > 0 && argv[0] == "sleep" })
		return orphan != 0
	})
	if err := syscall.Kill(orphan, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("the waiting wrapper to reap the orphan %d", orphan), func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
		return os.IsNotExist(err)
	})

	install(t, server, serverScript)
	readPids(t, pidFile, 1) // a pid of the namespace: not to be tracked
	if u.exited() {
		t.Fatalf("the wrapper exited: %v\n%s", u.cmd.ProcessState, u.stderr(t))
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"sleep", "1"}, exitUsage, "unexpected argument \"sleep\": put the command after --"},
		{nil, exitUsage, "missing -- and the command to run"},
		{[]string{"--"}, exitUsage, "no command after --"},
		{[]string{"-bogus", "--", "true"}, exitUsage, "flag provided but not defined: -bogus"},
		{[]string{"-grace", "soon", "--", "true"}, exitUsage, "invalid value \"soon\" for flag -grace"},
		{[]string{"-restart", "--", "true"}, exitUsage, "-restart takes no command"},
		{[]string{"-restart", "-grace", "1s"}, exitUsage, "-grace belongs to the wrapper"},
		{[]string{"-pid", "1", "--", "true"}, exitUsage, "-timeout and -pid belong to -restart"},
		{[]string{"--", "/dev/null"}, exitCannotStart, "cannot start /dev/null:"}, // there, but not executable
		{[]string{"--", "no-such-command-pets"}, exitCannotStart, "cannot start no-such-command-pets:"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		if code := exitCodeOf(t, err); code != tc.code || !strings.Contains(string(out), "pets-restart: "+tc.msg) {
			t.Errorf("pets-restart %q: exit %d, output:\n%s\nwant exit %d and %q", tc.args, code, out, tc.code, tc.msg)
		}
	}
}

// serverScript is a CMD for the waiting tests: it appends its pid to $1, then
// runs until killed.
const serverScript = "#!/bin/sh\n" + appendPid + "\n"

// install puts an executable file at path whole, as a rename does: the
// wrapper never sees it half-written.
func install(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(filepath.Dir(path)), ".install-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// An image without the application: CMD's file arrives later (the first sync
// brings it). The wrapper waits, saying so once; -restart meanwhile succeeds
// without starting anything; once the file is there it starts, and restarts
// as usual.
func TestWaitsForCommandToAppear(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server := filepath.Join(dir, "app", "bin", "server") // not even app/ exists
	pidFile := filepath.Join(dir, "pids")
	w := startWrapper(t, "--", server, pidFile)
	waiting := fmt.Sprintf("pets-restart: %s does not exist yet: waiting for it (it starts as soon as it is there)\n", server)
	waitFor(t, "the wrapper to say it waits", func() bool { return strings.Contains(w.stderr(t), waiting) })

	// Signal mode finds the waiting wrapper: nothing to restart, not a failure.
	code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid), "-timeout", "2s")
	if want := fmt.Sprintf("%s %s is not running yet: pets-restart (pid %d) waits for %s to exist, and starts it then\n", server, pidFile, w.pid, server); code != 0 || stdout != want {
		t.Errorf("pets-restart -restart while waiting: exit %d, stdout %q, stderr %q; want exit 0, stdout %q", code, stdout, stderr, want)
	}
	if w.exited() {
		t.Fatalf("the wrapper exited while waiting: %v\n%s", w.cmd.ProcessState, w.stderr(t))
	}

	install(t, server, serverScript)
	p1 := waitPids(t, pidFile, 1)[0]
	waitFor(t, "the wrapper's start line", func() bool {
		return strings.Contains(w.stderr(t), fmt.Sprintf("pets-restart: started %s %s (pid %d)\n", server, pidFile, p1))
	})
	if n := strings.Count(w.stderr(t), "waiting for it"); n != 1 {
		t.Errorf("the wrapper said %d times that it waits, want once:\n%s", n, w.stderr(t))
	}
	// A child of the wrapper, leading its own group, as any CMD.
	if st, err := readStat(p1); err != nil || st.ppid != w.pid || st.pgrp != p1 {
		t.Errorf("the started CMD: %+v (%v); want a child of %d leading its own group", st, err, w.pid)
	}

	if code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid)); code != 0 {
		t.Fatalf("pets-restart -restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if p2 := waitPids(t, pidFile, 2)[1]; p2 == p1 || running(p1) {
		t.Errorf("restart: pids %d -> %d, old one running: %v", p1, p2, running(p1))
	}
}

// The sync brings the file, then pets runs -restart at once: the wrapper
// starts CMD on the signal (not at its next look), and signal mode reports
// the start.
func TestRestartStartsAWaitingCommandOnceItIsThere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server := filepath.Join(dir, "bin", "server")
	pidFile := filepath.Join(dir, "pids")
	w := startWrapper(t, "--", server, pidFile)
	waitFor(t, "the wrapper to say it waits", func() bool { return strings.Contains(w.stderr(t), "waiting for it") })
	install(t, server, serverScript)
	code, stdout, stderr := runSignalMode(t, "-pid", strconv.Itoa(w.pid))
	if code != 0 {
		t.Fatalf("pets-restart -restart: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Usually "(none) -> N"; if the wrapper's own look came first, a restart
	// of what it had just started: "M -> N".
	m := regexp.MustCompile(fmt.Sprintf(`^restarted %s %s: pid (\(none\)|\d+) -> (\d+)\n$`, regexp.QuoteMeta(server), regexp.QuoteMeta(pidFile))).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("signal mode stdout %q", stdout)
	}
	started, _ := strconv.Atoi(m[2])
	pids := waitPids(t, pidFile, 1)
	if m[1] != "(none)" {
		pids = waitPids(t, pidFile, 2)
	}
	if last := pids[len(pids)-1]; last != started || !running(started) {
		t.Errorf("signal mode says it started %d; the pids CMD wrote: %v, %d running: %v", started, pids, started, running(started))
	}
}

// tar creates the file with its mode, then writes it: until it closes the
// file, exec fails with ETXTBSY. The wrapper waits for the whole file.
func TestWaitsForAFileBeingWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server := filepath.Join(dir, "server")
	pidFile := filepath.Join(dir, "pids")
	f, err := os.OpenFile(server, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := len(serverScript) / 2
	if _, err := f.WriteString(serverScript[:half]); err != nil {
		t.Fatal(err)
	}
	w := startWrapper(t, "--", server, pidFile)
	waitFor(t, "the wrapper to say it waits", func() bool {
		return strings.Contains(w.stderr(t), fmt.Sprintf("pets-restart: %s is being written: waiting for it", server))
	})
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatal("the half-written file ran")
	}
	if _, err := f.WriteString(serverScript[half:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := waitPids(t, pidFile, 1)[0]
	if !running(p) || w.exited() {
		t.Errorf("after the file was whole: CMD running %v, wrapper exited %v\n%s", running(p), w.exited(), w.stderr(t))
	}
}

func TestStopSignalWhileWaiting(t *testing.T) {
	t.Parallel()
	w := startWrapper(t, "--", filepath.Join(t.TempDir(), "bin", "server"))
	waitFor(t, "the wrapper to say it waits", func() bool { return strings.Contains(w.stderr(t), "waiting for it") })
	if err := syscall.Kill(w.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got, want := w.wait(t), 128+int(syscall.SIGTERM); got != want {
		t.Errorf("exit code %d, want %d; stderr:\n%s", got, want, w.stderr(t))
	}
}

// A file that is there but cannot run is an error at once, not a wait: its
// #! interpreter is missing (exec says ENOENT too), or it is not executable.
func TestCommandThatCannotRunIsNotWaitedFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noInterp := filepath.Join(dir, "no-interp")
	if err := os.WriteFile(noInterp, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{noInterp, notExec} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, bin, "--", path).CombinedOutput()
		cancel()
		if code := exitCodeOf(t, err); code != exitCannotStart || !strings.Contains(string(out), "pets-restart: cannot start "+path+":") {
			t.Errorf("pets-restart -- %s: exit %d, output %q; want exit %d, cannot start", path, code, out, exitCannotStart)
		}
	}
}

// process is a process the test started; it is killed when the test ends.
type process struct {
	cmd    *exec.Cmd
	pid    int
	done   chan struct{} // closed when cmd.Wait returned
	errOut string        // file with its stderr
}

// startWrapper starts pets-restart with args.
func startWrapper(t *testing.T, args ...string) *process {
	t.Helper()
	return startProcess(t, bin, args...)
}

// startProcess starts name with args, stdout and stderr going to a file. At cleanup
// the children of the process are killed with their process groups, then the
// process itself; cleanup waits for it.
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	errOut := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(errOut)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), errOut: errOut}
	go func() { // owned by the test: cleanup waits for it
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() { // not yet reaped, so the pid is still ours
			freeze(p.pid) // a wrapper must not start a new child meanwhile
			killChildren(p.pid)
			_ = cmd.Process.Kill()
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.pid)
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("pid %d did not exit within 10s; stderr:\n%s", p.pid, p.stderr(t))
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) stderr(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.errOut)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runSignalMode runs pets-restart -restart args and returns its exit code and output.
func runSignalMode(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	cmd := exec.CommandContext(ctx, bin, append([]string{"-restart"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return exitCodeOf(t, err), out.String(), errOut.String()
}

func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 0 {
		return ee.ExitCode()
	}
	t.Fatalf("run: %v", err)
	return -1
}

// waitPids waits until file holds at least n pids, one a line, and returns them.
// Each one is killed, with its process group, when the test ends.
func waitPids(t *testing.T, file string, n int) []int {
	t.Helper()
	pids := readPids(t, file, n)
	for _, pid := range pids {
		track(t, pid)
	}
	return pids
}

// readPids waits until file holds at least n pids, one a line, and returns them.
func readPids(t *testing.T, file string, n int) []int {
	t.Helper()
	var pids []int
	waitFor(t, fmt.Sprintf("%d pids in %s", n, file), func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pids = pids[:0]
		for _, line := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(line)
			if err != nil {
				t.Fatalf("%s: %q is not a pid", file, line)
			}
			pids = append(pids, pid)
		}
		return len(pids) >= n
	})
	return pids
}

// track kills pid and its process group when the test ends, unless the pid
// names another process by then. Never for a pid from inside a PID namespace:
// outside it, that pid is another process.
func track(t *testing.T, pid int) {
	then, thenErr := readStat(pid)
	t.Cleanup(func() {
		now, err := readStat(pid)
		if err == nil && (thenErr != nil || !now.same(then)) {
			return
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		if err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// freeze stops pid with SIGSTOP and waits (up to 10s) until it has stopped.
func freeze(pid int) {
	if syscall.Kill(pid, syscall.SIGSTOP) != nil {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if p, err := readStat(pid); err != nil || p.dead() || p.state == 'T' {
			return
		}
	}
}

// killChildren kills the children of pid and their process groups.
func killChildren(pid int) {
	procs, _ := scanProcs()
	for _, p := range procs {
		if p.ppid == pid {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// childOf returns a running child of pid that ok accepts, or 0.
func childOf(t *testing.T, pid int, ok func(proc) bool) int {
	t.Helper()
	procs, err := scanProcs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.ppid == pid && !p.dead() && ok(p) {
			return p.pid
		}
	}
	return 0
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	p, err := readStat(pid)
	return err == nil && !p.dead()
}

// waitFor polls cond every 10ms until it holds, and fails the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
