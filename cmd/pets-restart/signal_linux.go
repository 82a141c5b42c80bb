//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const noWrapperMsg = "no process runs under pets-restart in this container; " +
	"run the container's command as pets-restart -- CMD ..."

// pollEvery is how often signal mode looks at /proc while it waits.
const pollEvery = 10 * time.Millisecond

// proc is one line of /proc/PID/stat, as far as pets-restart needs it. pid and
// start together name a process: a pid alone may be reused.
type proc struct {
	pid, ppid, pgrp int
	state           byte   // R, S, Z, ...
	start           uint64 // start time, in clock ticks since boot
}

func (p proc) dead() bool { return p.state == 'Z' || p.state == 'X' }

// same reports whether p and q are the same process (its state may differ).
func (p proc) same(q proc) bool { return p.pid == q.pid && p.start == q.start }

// target is a wrapper being restarted.
type target struct {
	proc
	argv []string // the wrapper's command line
	cmd  string   // its CMD, for messages
	old  []proc   // its children when it was signalled
	done string   // the success line, once the restart finished
}

// signalWrappers is signal mode: SIGHUP every wrapper in this container (or the
// one -pid names) and wait until each has replaced its child.
func signalWrappers(opts options, stdout, stderr io.Writer) int {
	deadline := time.Now().Add(opts.timeout)
	targets, err := findWrappers(os.Getpid(), opts.pid)
	if err != nil {
		fmt.Fprintf(stderr, "pets-restart: %v\n", err)
		return exitError
	}
	if len(targets) == 0 {
		if opts.pid != 0 {
			fmt.Fprintf(stderr, "pets-restart: process %d is not a pets-restart wrapper; "+
				"run the container's command as pets-restart -- CMD ...\n", opts.pid)
		} else {
			fmt.Fprintf(stderr, "pets-restart: %s\n", noWrapperMsg)
		}
		return exitNoWrapper
	}

	procs, err := scanProcs()
	if err != nil {
		fmt.Fprintf(stderr, "pets-restart: %v\n", err)
		return exitError
	}
	for _, t := range targets {
		t.old = children(procs, t)
		if err := syscall.Kill(t.pid, syscall.SIGHUP); err != nil && !errors.Is(err, syscall.ESRCH) {
			// ESRCH: it just exited; the wait below says so.
			fmt.Fprintf(stderr, "pets-restart: signal pets-restart (pid %d): %v\n", t.pid, err)
			return exitError
		}
	}

	for {
		procs, err := scanProcs()
		if err != nil {
			fmt.Fprintf(stderr, "pets-restart: %v\n", err)
			return exitError
		}
		pending := 0
		for _, t := range targets {
			if t.done != "" {
				continue
			}
			if !alive(procs, t.proc) {
				fmt.Fprintf(stderr, "pets-restart: pets-restart (pid %d) exited instead of restarting %s; "+
					"the container's log says why\n", t.pid, t.cmd)
				return exitNotRestarted
			}
			now := children(procs, t)
			oldLeft := slices.ContainsFunc(t.old, func(p proc) bool { return alive(procs, p) })
			fresh := slices.DeleteFunc(now, func(p proc) bool {
				return slices.ContainsFunc(t.old, func(o proc) bool { return o.same(p) })
			})
			if len(t.old) == 0 && len(fresh) == 0 {
				if path, ok := waitsFor(t); ok {
					// The wrapper waits for its CMD's file: nothing to restart;
					// it starts CMD once the file is there.
					t.done = fmt.Sprintf("%s is not running yet: pets-restart (pid %d) waits for %s to exist, and starts it then", t.cmd, t.pid, path)
					continue
				}
			}
			if oldLeft || len(fresh) == 0 {
				pending++
				continue
			}
			t.done = fmt.Sprintf("restarted %s: pid %s -> %s", t.cmd, pids(t.old), pids(fresh))
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, t := range targets {
				if t.done != "" {
					continue
				}
				why := "no new process started"
				if slices.ContainsFunc(t.old, func(p proc) bool { return alive(procs, p) }) {
					why = "pid " + pids(t.old) + " still runs"
				}
				fmt.Fprintf(stderr, "pets-restart: %s (under pets-restart pid %d) did not restart within %v: %s; "+
					"the container's log may say why\n", t.cmd, t.pid, opts.timeout, why)
			}
			return exitNotRestarted
		}
		time.Sleep(pollEvery)
	}
	for _, t := range targets {
		fmt.Fprintln(stdout, t.done)
	}
	return 0
}

// findWrappers returns the wrapper-mode pets-restart processes other than self
// that share self's mount namespace (its container); only pid if pid != 0.
func findWrappers(self, pid int) ([]*target, error) {
	candidates := []int{pid}
	if pid == 0 {
		var err error
		if candidates, err = listPids(); err != nil {
			return nil, err
		}
	}
	selfNS, _ := os.Readlink("/proc/self/ns/mnt")
	var out []*target
	for _, p := range candidates {
		if p == self {
			continue
		}
		argv, err := cmdline(p)
		if err != nil || !isWrapper(argv) {
			continue
		}
		// Another container of the pod (shareProcessNamespace) is not ours to restart.
		// Where the namespace cannot be read, assume it is ours.
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p)); err == nil && selfNS != "" && ns != selfNS {
			continue
		}
		st, err := readStat(p)
		if err != nil || st.dead() {
			continue
		}
		out = append(out, &target{proc: st, argv: argv, cmd: cmdString(argv[slices.Index(argv, "--")+1:])})
	}
	return out, nil
}

// waitsFor reports whether t's CMD is a path (with a /) whose file does not
// exist, as t sees it (a relative path from t's working directory): the
// wrapper then waits for it instead of running it. It returns the path.
func waitsFor(t *target) (string, bool) {
	cmd := t.argv[slices.Index(t.argv, "--")+1:]
	if len(cmd) == 0 || !strings.Contains(cmd[0], "/") {
		return "", false
	}
	p := cmd[0]
	if !filepath.IsAbs(p) {
		p = filepath.Join(fmt.Sprintf("/proc/%d/cwd", t.pid), p)
	}
	_, err := os.Stat(p)
	return cmd[0], errors.Is(err, fs.ErrNotExist)
}

// isWrapper reports whether argv is pets-restart in wrapper mode.
func isWrapper(argv []string) bool {
	return len(argv) > 1 && filepath.Base(argv[0]) == "pets-restart" && slices.Contains(argv[1:], "--")
}

// children returns the processes t started: children of t that lead their own
// process group (the wrapper starts each CMD in a new group; an orphan the
// wrapper inherits as PID 1 usually does not) and have run exec (until then a
// child shows its parent's command line).
func children(procs map[int]proc, t *target) []proc {
	var out []proc
	for _, p := range procs {
		if p.ppid != t.pid || p.pgrp != p.pid || p.dead() {
			continue
		}
		if argv, err := cmdline(p.pid); err != nil || slices.Equal(argv, t.argv) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b proc) int { return a.pid - b.pid })
	return out
}

// alive reports whether p (pid and start time) still runs.
func alive(procs map[int]proc, p proc) bool {
	now, ok := procs[p.pid]
	return ok && now.same(p) && !now.dead()
}

func pids(ps []proc) string {
	if len(ps) == 0 {
		return "(none)"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p.pid)
	}
	return strings.Join(s, ",")
}

// listPids returns the pids in /proc.
func listPids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w (is /proc mounted?)", err)
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out, nil
}

// scanProcs reads /proc/*/stat. Processes that exit meanwhile are left out.
func scanProcs() (map[int]proc, error) {
	all, err := listPids()
	if err != nil {
		return nil, err
	}
	out := make(map[int]proc, len(all))
	for _, pid := range all {
		if p, err := readStat(pid); err == nil {
			out[pid] = p
		}
	}
	return out, nil
}

// readStat parses /proc/PID/stat: "pid (comm) state ppid pgrp ... starttime ...".
// comm may hold spaces and parentheses, so the fields start after the last ')'.
func readStat(pid int) (proc, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return proc{}, fmt.Errorf("parse /proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state) of proc(5)
	if len(f) < 20 || len(f[0]) != 1 {
		return proc{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	p := proc{pid: pid, state: f[0][0]}
	if p.ppid, err = strconv.Atoi(f[1]); err != nil {
		return proc{}, fmt.Errorf("parse /proc/%d/stat: ppid: %w", pid, err)
	}
	if p.pgrp, err = strconv.Atoi(f[2]); err != nil {
		return proc{}, fmt.Errorf("parse /proc/%d/stat: pgrp: %w", pid, err)
	}
	if p.start, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return proc{}, fmt.Errorf("parse /proc/%d/stat: starttime: %w", pid, err)
	}
	return p, nil
}

// cmdline returns the argv of pid (empty for a zombie or a kernel thread).
func cmdline(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\x00"), nil
}
