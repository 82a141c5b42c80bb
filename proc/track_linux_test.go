package proc

// StopTracked finds and stops every process of a service, however they
// left their group: through the service's cgroup, or through its marker
// variable, its groups and their descendants.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// escapeLine forks, from a group pets started, processes that leave it:
// one in its own session, one orphaned (double fork) into its own session
// with an empty environment, and writes their pids to ./pids.
const escapeLine = `setsid sleep 1000 & echo $! >> pids
(env -i setsid sleep 1000 & echo $! >> pids)
echo end >> pids
exec sleep 1000`

// startEscaping starts escapeLine (held, then in cgroup if not ""), and
// returns it and the pids of the processes that left its group.
func startEscaping(t *testing.T, marker, cgroup string) (*Proc, []int) {
	t.Helper()
	dir := t.TempDir()
	p, err := StartHeld(Spec{Line: escapeLine, Dir: dir, Env: []string{marker}})
	if err != nil {
		t.Fatal(err)
	}
	if cgroup != "" {
		if err := CgroupAdd(cgroup, p.PID); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	t.Cleanup(func() {
		_ = signalGroup(p.PID, syscall.SIGKILL)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		<-p.Done()
	})
	waitFor(t, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "pids"))
		return strings.HasSuffix(string(b), "end\n")
	})
	b, _ := os.ReadFile(filepath.Join(dir, "pids"))
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		waitFor(t, func() bool { return CmdLine(pid) == "sleep 1000" })
	}
	return p, pids
}

func testCgroup(t *testing.T) string {
	t.Helper()
	mount, _, err := CgroupMount()
	if err != nil {
		t.Skipf("no cgroup2: %v", err)
	}
	dir := filepath.Join(mount, fmt.Sprintf("pets-proc-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup here (not root, nothing delegated): %v", err)
	}
	t.Cleanup(func() {
		_ = cgroupKill(dir) // whatever a failed test left
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = Tracked{Cgroup: dir}.removeCgroup(ctx)
	})
	return dir
}

func TestStopTrackedCgroup(t *testing.T) {
	cg := testCgroup(t)
	p, escaped := startEscaping(t, "PETS_PROC_TEST=cgroup", cg)
	members, err := CgroupProcs(cg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range append([]int{p.PID}, escaped...) {
		if !slices.Contains(members, pid) {
			t.Errorf("pid %d is not in the cgroup: %v", pid, members)
		}
	}
	how, err := StopTracked(context.Background(), Tracked{Cgroup: cg, Groups: []Identity{p.Identity}}, 5*time.Second)
	if err != nil || how != Terminated {
		t.Fatalf("StopTracked = %v, %v", how, err)
	}
	for _, pid := range append([]int{p.PID}, escaped...) {
		if Alive(Identity{PID: pid}) {
			t.Errorf("pid %d survived", pid)
		}
	}
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup was not removed: %v", err)
	}
}

func TestStopTrackedCgroupKillsAfterGrace(t *testing.T) {
	cg := testCgroup(t)
	p, escaped := startEscaping(t, "PETS_PROC_TEST=kill", cg)
	// One that ignores SIGTERM.
	stubborn, err := StartHeld(Spec{Line: "trap '' TERM; setsid sleep 1000 & wait", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := CgroupAdd(cg, stubborn.PID); err != nil {
		t.Fatal(err)
	}
	stubborn.Release()
	t.Cleanup(func() { _ = signalGroup(stubborn.PID, syscall.SIGKILL); <-stubborn.Done() })
	waitFor(t, func() bool { m, _ := CgroupProcs(cg); return len(m) >= 5 })
	t0 := time.Now()
	how, err := StopTracked(context.Background(), Tracked{Cgroup: cg, Groups: []Identity{p.Identity, stubborn.Identity}}, 200*time.Millisecond)
	if err != nil || how != Killed || time.Since(t0) < 200*time.Millisecond {
		t.Fatalf("StopTracked = %v, %v after %s; want killed after the grace period", how, err, time.Since(t0))
	}
	for _, pid := range escaped {
		if Alive(Identity{PID: pid}) {
			t.Errorf("pid %d survived", pid)
		}
	}
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup was not removed: %v", err)
	}
}

func TestStopTrackedByEnvironment(t *testing.T) {
	marker := fmt.Sprintf("PETS_PROC_TEST=environ-%d", os.Getpid())
	p, escaped := startEscaping(t, marker, "")
	// The orphan cleared its environment and its parent is gone: only a
	// cgroup (or a subreaper parent: pets' waiter) can find it.
	orphan, found := escaped[1], escaped[:1]
	t.Cleanup(func() { _ = syscall.Kill(orphan, syscall.SIGKILL) })
	tr := Tracked{Marker: marker, Groups: []Identity{p.Identity}}
	members, err := tr.Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range append([]int{p.PID}, found...) {
		if !slices.Contains(members, pid) {
			t.Errorf("pid %d is not found: %v", pid, members)
		}
	}
	how, err := StopTracked(context.Background(), tr, 5*time.Second)
	if err != nil || how != Terminated {
		t.Fatalf("StopTracked = %v, %v", how, err)
	}
	for _, pid := range append([]int{p.PID}, found...) {
		if Alive(Identity{PID: pid}) {
			t.Errorf("pid %d survived", pid)
		}
	}
}

func TestSignalMemberSparesReusedPID(t *testing.T) {
	p := startT(t, "exec sleep 1000", nil)
	if err := signalMember(member{pid: p.PID, start: p.Start - 1}, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if !Alive(p.Identity) {
		t.Error("a process with another start time than the one found was signalled")
	}
	if err := signalMember(member{pid: p.PID, start: p.Start}, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
}

// A shell and the commands it waits for are signalled shell first, however
// they were listed: a shell that sees its command die before it gets the
// signal itself ends without running its trap.
func TestSignalReachesParentsFirst(t *testing.T) {
	p := startT(t, "sleep 1000 & (sleep 1000 & wait) & wait", nil)
	var ms []member
	waitFor(t, func() bool {
		pids, err := Tree("", []int{p.PID})
		ms = withStart(pids)
		return err == nil && len(ms) == 4 // bash, sleep, subshell, its sleep
	})
	depth := func(pid int) int {
		d := 0
		for pid != p.PID && d < 10 {
			st, err := readStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			pid, d = st.ppid, d+1
		}
		return d
	}
	for i := range 20 {
		in := slices.Clone(ms)
		if i == 0 {
			slices.Reverse(in)
		} else {
			rand.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		}
		out := parentsFirst(in)
		if len(out) != len(in) {
			t.Fatalf("parentsFirst(%v) = %v", in, out)
		}
		for j := 1; j < len(out); j++ {
			if depth(out[j-1].pid) > depth(out[j].pid) {
				t.Fatalf("parentsFirst(%v) = %v: pid %d (depth %d) before pid %d (depth %d)",
					in, out, out[j-1].pid, depth(out[j-1].pid), out[j].pid, depth(out[j].pid))
			}
		}
	}
}

// A held process with Spec.Cgroup is born in the cgroup: it is a member
// before it is released, and was never anywhere else.
func TestStartHeldBornInCgroup(t *testing.T) {
	cg := testCgroup(t)
	p, err := StartHeld(Spec{Line: "exec sleep 1000", Dir: t.TempDir(), Cgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = signalGroup(p.PID, syscall.SIGKILL)
		<-p.Done()
	}()
	if !p.InCgroup {
		t.Fatalf("not born in the cgroup (a kernel without CLONE_INTO_CGROUP?)")
	}
	members, err := CgroupProcs(cg)
	if err != nil || !slices.Contains(members, p.PID) {
		t.Errorf("held pid %d: the cgroup holds %v (%v)", p.PID, members, err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
	if err != nil || !strings.Contains(string(b), "::/"+filepath.Base(cg)) {
		t.Errorf("/proc/%d/cgroup: %s (%v)", p.PID, b, err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return CmdLine(p.PID) == "sleep 1000" })
	if members, _ := CgroupProcs(cg); !slices.Contains(members, p.PID) {
		t.Errorf("after its release, pid %d left the cgroup: %v", p.PID, members)
	}
	// A cgroup that is not one: the process starts as any other.
	q, err := StartHeld(Spec{Line: "exit 0", Dir: t.TempDir(), Cgroup: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if q.InCgroup {
		t.Errorf("born in a plain directory")
	}
	_ = q.Release()
	<-q.Done()
}

// A group's leader gets its SIGTERM before the group is listed, and only
// that one: the listing signals the rest (here a child), not the leader
// again. Each process is this test binary (see TestMain), which logs each
// SIGTERM it gets, and exits a moment after the first.
func TestStopTrackedSignalsTheLeaderOnce(t *testing.T) {
	cg := testCgroup(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	counter := func(label string) string { return fmt.Sprintf("%s=%s exec %q", termsVar, label, self) }
	for _, tc := range []struct {
		name, line, cgroup, want string
	}{
		{"alone in its cgroup", counter("leader"), cg, "leader TERM\nleader up\n"},
		{"with a child, in a cgroup", "(" + counter("child") + ") & " + counter("leader"), cg, "child TERM\nchild up\nleader TERM\nleader up\n"},
		{"with a child, no cgroup", "(" + counter("child") + ") & " + counter("leader"), "", "child TERM\nchild up\nleader TERM\nleader up\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := StartHeld(Spec{Line: tc.line, Dir: dir, Cgroup: tc.cgroup})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = signalGroup(p.PID, syscall.SIGKILL); <-p.Done() })
			if err := p.Release(); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "log")
			ups := strings.Count(tc.want, " up")
			waitFor(t, func() bool {
				b, _ := os.ReadFile(log)
				return strings.Count(string(b), " up") == ups
			})
			how, err := StopTracked(context.Background(), Tracked{Cgroup: tc.cgroup, Groups: []Identity{p.Identity}}, 5*time.Second)
			if err != nil || how != Terminated {
				t.Fatalf("StopTracked = %v, %v", how, err)
			}
			b, _ := os.ReadFile(log)
			got := strings.Split(strings.TrimSpace(string(b)), "\n")
			slices.Sort(got)
			if strings.Join(got, "\n")+"\n" != tc.want {
				t.Errorf("logged: %q; want %q (one SIGTERM each)", b, tc.want)
			}
		})
	}
}

// termsVar makes this test binary (see TestMain) log each SIGTERM it gets,
// as the variable's value, to ./log, and exit 100 ms after the first.
const termsVar = "PETS_PROC_TEST_TERMS"

func countTerms(label string) {
	c := make(chan os.Signal, 8)
	signal.Notify(c, syscall.SIGTERM)
	f, err := os.OpenFile("log", os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(2)
	}
	fmt.Fprintln(f, label, "up")
	var done <-chan time.Time
	for {
		select {
		case <-c:
			fmt.Fprintln(f, label, "TERM")
			if done == nil {
				done = time.After(100 * time.Millisecond)
			}
		case <-done:
			os.Exit(0)
		}
	}
}

func TestMain(m *testing.M) {
	if label := os.Getenv(termsVar); label != "" {
		countTerms(label)
	}
	os.Exit(m.Run())
}
