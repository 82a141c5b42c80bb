// Package waiter is what each server a provider start()s runs under.
//
// pets runs every start() command as `pets-waiter waiter FLAGS LINE` (or,
// where no pets-waiter is installed beside pets, `pets waiter FLAGS
// LINE`), a small process of pets' own that stays for as long as the
// command's tree does, whichever pets started it and however long that
// pets lives. pets-waiter is the same code in a static binary of its own
// that links neither Starlark nor the command line: it starts in about 2 ms
// where pets takes about 4 (pets-kube, with client-go, about 13), and every
// start and restart waits for it. The waiter
//
//   - is the leader of the process group pets records (its pid and start
//     time, marked as a waiter), forked held: pets records it, and puts it
//     in the service's cgroup where it made one, before releasing it
//     (proc.StartHeld, proc.AwaitRelease); a restart forks it while the
//     old server stops, before its command is known, and the release
//     then carries the command, its directory and its variables;
//   - runs `bash -c LINE` as its child (or, for a plain "exec PROGRAM ARGS",
//     what bash would exec: see direct), the leader of a process group of
//     its own (as pets ran commands before there were waiters: `kill -PID`
//     still ends it), with the waiter's environment (the PETS_* variables)
//     and directory, stdin /dev/null, stdout and stderr one pipe that the
//     waiter owns, and (Linux) SIGKILL should the waiter die first; and
//     reports the child's pid and start time to pets, which records them
//     beside its own and shows the child's pid as the service's;
//   - copies that pipe to the service's log (a Log: rotated at a size,
//     line by line, without losing or splitting lines);
//   - on Linux is a child subreaper (PR_SET_CHILD_SUBREAPER): whatever its
//     command forks and leaves behind (a double fork, a daemon that calls
//     setsid) is re-parented to the waiter rather than to init, so the
//     waiter reaps the whole tree and knows when it is gone; it exits only
//     then, so a service counts as running while any process of its tree
//     does (a --daemonize server included);
//   - runs the next command of its service too, where the pets that
//     released it asks (proc.Proc.Stay) before it stops the command for a
//     restart: once the tree is gone and its output copied, it reports
//     done and waits, held again, for the next release (its environment
//     and directory back to its own first), which spares a restart the
//     fork of a new waiter, its runtime's start, this one's exit and a
//     cgroup made and removed (pets then records this waiter for the new
//     instance, in its cgroup). A command that ends before pets asks is
//     not restarted in it: the waiter exits as below;
//   - records how its command ended (the state record's proc entry, "exit",
//     through a file of its own: state.Dir.RecordExit), as soon as it does, so that any pets can say "crashed (exit status 1)"
//     about a service another pets started; and ends the same way itself
//     (its exit status, or the signal, re-raised), which the pets that
//     started it sees;
//   - passes on the signals it gets (TERM, INT, HUP, QUIT, USR1, USR2) to
//     its whole tree (on Linux; elsewhere to its command's group). pets
//     itself never signals a waiter but to kill it: it signals the tree's
//     processes directly (proc.StopTracked).
package waiter

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/windmilleng/pets/logfile"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// Command is the subcommand of the pets binary that runs a waiter:
// PROGRAM waiter --log PATH --log-max BYTES --state DIR --service NAME LINE.
// pets-waiter takes the same command line.
const Command = "waiter"

// Binary is the name of the waiter's own binary, installed beside pets.
const Binary = "pets-waiter"

// Beside returns the waiter program for the pets binary at exe: Binary in
// the same directory if it is there, else exe itself.
func Beside(exe string) string {
	if p, ok := Sibling(exe, Binary); ok {
		return p
	}
	return exe
}

// Sibling returns the program name (".exe" added on Windows) in the
// directory of exe, and whether it is there, a regular file that can be
// run: how pets finds what is installed beside it (pets-waiter, pets-kube).
func Sibling(exe, name string) (string, bool) {
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	p := filepath.Join(filepath.Dir(exe), name)
	fi, err := os.Stat(p)
	return p, err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode().Perm()&0o111 != 0)
}

// Args returns the waiter's command line, up to LINE (which
// proc.StartHeld appends).
func Args(program, logPath string, logMax int64, stateDir, service string) []string {
	return []string{program, Command, "--log", logPath, "--log-max", strconv.FormatInt(logMax, 10),
		"--state", stateDir, "--service", service, "--"}
}

// Run is the waiter's main: args are those after Command. It
// returns the exit status to end with (having re-raised the signal its
// command died of, where it could).
func Run(args []string) int {
	fs := flag.NewFlagSet(Command, flag.ContinueOnError)
	logPath := fs.String("log", "", "the service's log")
	logMax := fs.Int64("log-max", logfile.DefaultMax, "rotate the log at this size (0: never)")
	stateDir := fs.String("state", "", "the state directory, to record how the command ended")
	service := fs.String("service", "", "the service's name in the state record")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *logPath == "" {
		fmt.Fprintf(os.Stderr, "usage: pets %s --log PATH [--log-max BYTES] [--state DIR --service NAME] LINE\n", Command)
		return 2
	}
	// A test hook of pets' own (kill pets at its N-th state write): not for
	// the waiter, nor for its command.
	_ = os.Unsetenv(proc.FaultEnv)
	// What runs nothing is done while held, in the time pets takes to
	// record this process: the release finds it ready to fork the command.
	w := &waiter{stateDir: *stateDir, service: *service, env: os.Environ()}
	w.relaySignals()
	w.dir, _ = os.Getwd()
	log, logErr := logfile.Open(*logPath, *logMax)
	if st, err := proc.StartTime(os.Getpid()); err == nil {
		w.self = proc.Identity{PID: os.Getpid(), Start: st}
	}
	w.bash, w.bashErr = exec.LookPath("bash")
	if path, argv, ok := direct(fs.Arg(0)); ok {
		w.direct = &program{path: path, argv: argv, env: directEnv()}
	}
	warmFork()
	rel, ok := proc.AwaitRelease()
	if !ok {
		if logErr == nil {
			log.Close()
		}
		return 0 // whoever forked it did not record it: run nothing
	}
	if logErr != nil {
		fmt.Fprintf(os.Stderr, "pets waiter: %v\n", logErr)
		return 125
	}
	defer log.Close()
	w.log = log
	line := fs.Arg(0)
	for {
		if rel.Line != "" {
			// Forked before its command was known (a restart forks the
			// next waiter while the old server stops), or staying for
			// the next: the release says it.
			line = rel.Line
			if err := w.take(rel); err != nil {
				return w.failed(err)
			}
		}
		code, stay := w.run(line)
		if !stay {
			return code
		}
		// Asked to stay (pets restarts the service): pets learns that the
		// tree is gone, and releases this waiter again with the next
		// command (or lets it go: EOF).
		w.relayTo.Store(held)
		if proc.ReportDone() != nil {
			return 0
		}
		if rel, ok = proc.AwaitRelease(); !ok || rel.Line == "" {
			return 0
		}
	}
}

// warmFork does now, held, what Go does once before a process's first
// fork: on Linux it checks that pidfds work, down to forking a child that
// exits at once (os.checkPidfd: 0.14 to 0.21 ms here, its first call timed
// in a throwaway program), which would otherwise come between the release
// and the command's fork. Looking up a process makes that check.
func warmFork() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
}

// take makes rel's directory and variables the waiter's, as if it had been
// forked with them (a waiter released again starts from its own), and
// prepares rel's line as Run does while held.
func (w *waiter) take(rel proc.Release) error {
	if w.runs > 0 {
		os.Clearenv()
		for _, kv := range w.env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				_ = os.Setenv(k, v)
			}
		}
	}
	dir := rel.Dir
	if dir == "" {
		dir = w.dir
	}
	if dir != "" && (rel.Dir != "" || w.runs > 0) {
		if err := os.Chdir(dir); err != nil {
			return err
		}
	}
	path := os.Getenv("PATH")
	for _, kv := range rel.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
	}
	if os.Getenv("PATH") != path || w.runs > 0 {
		w.bash, w.bashErr = exec.LookPath("bash")
	}
	w.direct = nil
	if path, argv, ok := direct(rel.Line); ok {
		w.direct = &program{path: path, argv: argv, env: directEnv()}
	}
	return nil
}

// waiter is one running waiter.
type waiter struct {
	log      *logfile.Log
	stateDir string
	service  string
	self     proc.Identity
	bash     string // bash's path (LookPath), or bashErr
	bashErr  error
	direct   *program // what to exec for a plain "exec PROGRAM ARGS" (see direct), or nil
	env      []string // its own environment and directory, where each release starts
	dir      string
	runs     int // commands run so far
	// relayTo is where a signal the waiter gets goes (relaySignals): the
	// command's pid while it runs; held, the waiter itself (it ends); 0:
	// nowhere.
	relayTo  atomic.Int64
	relaying <-chan struct{} // closed once the signals are relayed (relaySignals)
}

// held (relayTo): the waiter waits for its release, as first forked.
const held = -1

// relaySignals passes the signals the waiter gets (relayed) on to its
// command's tree while it runs, and ends the waiter by one that comes while
// it is held, as the default action would (a held waiter that pets stops
// ends at once). It returns at once: each signal.Notify is a round trip to
// the Go runtime's signal thread, which the first one starts (0.2 to 0.5
// ms in all here), and they go on while the waiter is held, beside the
// rest of its start (a launch's first release waited for them). relaying
// is closed once they are done, and no command is forked before; until
// then a signal has its default action, which ends a held waiter too.
// (pets' main leaves these signals alone in `pets waiter`.) One goroutine
// for the waiter's life.
func (w *waiter) relaySignals() {
	w.relayTo.Store(held)
	relaying := make(chan struct{})
	w.relaying = relaying
	if len(relayed) == 0 {
		close(relaying)
		return
	}
	go func() { // lives as long as the process
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, relayed...)
		close(relaying)
		for s := range sigs {
			sig := s.(syscall.Signal)
			switch to := w.relayTo.Load(); {
			case to > 0:
				relay(sig, int(to))
			case to == held:
				raise(sig)
			}
		}
	}()
}

// program is what the waiter execs without bash.
type program struct {
	path      string
	argv, env []string
}

// exited is how a command ended.
type exited struct {
	text string         // "exit status 1", "signal: killed"
	code int            // its exit status, if it exited
	sig  syscall.Signal // the signal that ended it, or 0
}

// run runs line and waits until its tree is gone. It returns the status to
// exit with, or stay: pets asked the waiter (before it stopped the command)
// to stay for the next one.
func (w *waiter) run(line string) (code int, stay bool) {
	w.runs++
	// The child dies with the thread that forked it (Pdeathsig): this one,
	// which stays until the process exits.
	runtime.LockOSThread()
	subreaper := becomeSubreaper() == nil
	r, wr, err := os.Pipe()
	if err != nil {
		return w.failed(fmt.Errorf("create the output pipe: %w", err)), false
	}
	if w.bashErr != nil {
		wr.Close()
		r.Close()
		return w.failed(w.bashErr), false
	}
	files := []*os.File{os.Stdin, wr, wr}
	<-w.relaying // no command runs before its signals are passed on
	child, err := (*os.Process)(nil), error(nil)
	if d := w.direct; d != nil {
		child, err = os.StartProcess(d.path, d.argv, &os.ProcAttr{Env: d.env, Files: files, Sys: childAttr()})
	}
	if child == nil { // not a plain exec, or the exec failed: bash says why, or runs it (a script without #!)
		child, err = os.StartProcess(w.bash, []string{"bash", "-c", line}, &os.ProcAttr{Files: files, Sys: childAttr()})
	}
	wr.Close()
	if err != nil {
		r.Close()
		return w.failed(err), false
	}
	id := proc.Identity{PID: child.Pid}
	id.Start, _ = proc.ChildStartTime(child.Pid)
	_ = proc.ReportChild(id)
	c := newCopier(r, w.log)

	// Signals for the service are passed on until the tree is gone.
	w.relayTo.Store(int64(child.Pid))
	how := reapTree(child, subreaper, func(e exited) {
		// pets asks before it stops the command for a restart: its end is
		// then no crash to record (the record that follows names this
		// waiter again, for the next command).
		if stay = proc.StayAsked(); !stay {
			w.recordExit(e.text)
		}
	})
	// A signal that comes now is not passed on, and mirrorExit restores
	// the default action of the one it raises.
	w.relayTo.Store(0)

	// Whatever the tree wrote is in the pipe: copy it. With the whole tree
	// reaped nobody should hold the pipe but a process that left the tree
	// some other way: give it a moment, not forever.
	drain := time.Duration(-1)
	if subreaper {
		drain = 200 * time.Millisecond
	}
	c.finish(drain)
	_ = child.Release()
	if stay {
		return 0, true
	}
	return mirrorExit(how), false
}

// failed notes in the log that the command could not be started, and
// records it.
func (w *waiter) failed(err error) int {
	_ = proc.ReportChild(proc.Identity{})
	fmt.Fprintf(w.log, "--- pets: could not start the command: %v ---\n", err)
	w.recordExit("failed to start: " + err.Error())
	return 127
}

// recordExit records how the command ended, for the waiter's entry of the
// state record (a file of its own: state.Dir.RecordExit).
func (w *waiter) recordExit(text string) {
	if w.stateDir == "" || w.service == "" || w.self.Start == 0 {
		return
	}
	d := &state.Dir{Path: w.stateDir}
	_ = d.RecordExit(w.service, w.self, text)
}

// copier copies a command's output to its log, whole lines at a time: a
// line without its end yet waits (at most partialWait, or until it is
// 64 kB long) for the rest, so that writers sharing the log do not cut
// into each other's lines and a rotation falls between lines.
type copier struct {
	r    *os.File
	to   io.Writer
	done chan struct{}

	mu    sync.Mutex
	final time.Time // when finishing: read until EOF or this deadline
}

const partialWait = 100 * time.Millisecond

func newCopier(r *os.File, to io.Writer) *copier {
	c := &copier{r: r, to: to, done: make(chan struct{})}
	go c.run() // owned by c: finish waits for it
	return c
}

// finish waits until the copier has copied everything up to EOF, or, if d
// >= 0, for at most d more; then closes the pipe.
func (c *copier) finish(d time.Duration) {
	if d >= 0 {
		c.mu.Lock()
		c.final = time.Now().Add(d)
		_ = c.r.SetReadDeadline(c.final)
		c.mu.Unlock()
	}
	<-c.done
	c.r.Close()
}

// deadline sets the read deadline for a partial line, unless finishing.
func (c *copier) deadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final.IsZero() {
		_ = c.r.SetReadDeadline(t)
	}
}

func (c *copier) finishing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.final.IsZero() && !time.Now().Before(c.final)
}

func (c *copier) run() {
	defer close(c.done)
	buf := make([]byte, 64<<10)
	var pending []byte // the start of a line
	flush := func() {
		if len(pending) > 0 {
			_, _ = c.to.Write(pending)
			pending = pending[:0]
		}
	}
	for {
		n, err := c.r.Read(buf)
		if n > 0 {
			data := buf[:n]
			if len(pending) > 0 {
				pending = append(pending, data...)
				data = pending
			}
			if i := lastNewline(data); i >= 0 {
				_, _ = c.to.Write(data[:i+1])
				pending = append(pending[:0], data[i+1:]...)
			} else if len(pending) == 0 {
				pending = append(pending, data...)
			}
			if len(pending) >= 64<<10 {
				flush()
			}
			if len(pending) > 0 {
				c.deadline(time.Now().Add(partialWait))
			} else {
				c.deadline(time.Time{})
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !c.finishing():
			flush() // a line that does not end (a prompt): write what there is
			c.deadline(time.Time{})
		default: // EOF, or finishing
			flush()
			return
		}
	}
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}
