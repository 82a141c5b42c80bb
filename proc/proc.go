package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ErrExited is returned by WaitTCP when the process exits before it is ready.
var ErrExited = errors.New("proc: process exited")

// ErrNoStartTime is returned where a process's start time cannot be known:
// without it pets cannot tell its process from a later one that got the
// same pid, so it neither records nor signals such a process.
var ErrNoStartTime = errors.New("proc: no process start time")

// UntouchedError says that pets did not signal a recorded process, and why.
type UntouchedError struct {
	PID    int
	Reason string
}

func (e *UntouchedError) Error() string {
	return fmt.Sprintf("pid %d was not touched: %s", e.PID, e.Reason)
}

// Unwrap makes errors.Is(err, ErrNoStartTime) hold for a record without one.
func (e *UntouchedError) Unwrap() error { return ErrNoStartTime }

// NoStartTime is the UntouchedError for a record that has no start time.
func NoStartTime(pid int) *UntouchedError {
	return &UntouchedError{PID: pid, Reason: "its record has no start time, so pets cannot tell it from another process that got the same pid; if it is still yours, stop it yourself"}
}

// Identity names one process for its whole life: pid plus start time.
type Identity struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"` // OS-specific start time; see StartTime
}

func (id Identity) String() string { return strconv.Itoa(id.PID) }

// Spec describes a command to run.
type Spec struct {
	Line string    // run as `bash -c Line`
	Dir  string    // working directory
	Env  []string  // extra environment, appended to os.Environ()
	Out  io.Writer // stdout and stderr; an *os.File is handed to the child directly
	// Wrap (StartHeld) runs Wrap[0] with the arguments Wrap[1:] and Line
	// instead of bash: a program that waits for the go-ahead itself
	// (AwaitRelease), runs `bash -c Line` and reports its identity
	// (ReportChild; Proc.Child reads it): pets' waiter.
	Wrap []string
	// Cgroup (StartHeld, Linux): a cgroup v2 directory for the process to
	// be born in (clone3 with CLONE_INTO_CGROUP), which spares the
	// migration that moving it there after the fork costs (8 to 12 ms on
	// the development machine). Where the kernel cannot, it starts where
	// pets is and Proc.InCgroup is false: the caller moves it.
	Cgroup string
}

// Proc is a started background process, the leader of its own process group.
type Proc struct {
	Identity
	// InCgroup: it was born in Spec.Cgroup.
	InCgroup bool

	done    chan struct{}
	err     error         // valid once done is closed
	release *os.File      // write end of the go-ahead pipe while held (after ReleaseTo too)
	report  *os.File      // read end of the report pipe (Spec.Wrap)
	reports *bufio.Reader // its lines
	// again: released with ReleaseTo, its pipes in order: it may be asked
	// to stay and released again (Stay, AwaitDone). Read by Reusable from
	// any goroutine; the other methods are one goroutine's at a time.
	again atomic.Bool
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit error, valid once Done is closed.
func (p *Proc) Err() error { <-p.done; return p.err }

// Start starts spec in the background, in a new process group that outlives
// the calling process.
func Start(spec Spec) (*Proc, error) {
	p, err := StartHeld(spec)
	if err != nil {
		return nil, err
	}
	return p, p.Release()
}

// heldScript waits on fd 3 for "go" before it runs the command ($1). If the
// starter dies first, the pipe closes, the read fails, and it exits: a
// process is never left running that its starter could not record.
const heldScript = `IFS= read -r go <&3 && [ "$go" = go ] || exit 0; exec 3<&-; exec bash -c "$1"`

// StartHeld is Start, except that the command does not begin until Release:
// the caller records the identity first (so a caller killed in between
// leaves nothing behind: the held process exits on its own).
//
// A process whose start time cannot be read is not kept: it is killed (it
// has not begun its command) and StartHeld fails, wrapping ErrNoStartTime.
func StartHeld(spec Spec) (*Proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", spec.Line, err)
	}
	var report, reportW *os.File
	if len(spec.Wrap) > 0 {
		if report, reportW, err = os.Pipe(); err != nil {
			r.Close()
			w.Close()
			return nil, fmt.Errorf("start %q: %w", spec.Line, err)
		}
	}
	cmd, inCgroup, err := startHeld(spec, r, reportW)
	r.Close()
	if reportW != nil {
		reportW.Close()
	}
	if err != nil {
		w.Close()
		if report != nil {
			report.Close()
		}
		return nil, fmt.Errorf("start %q: %w", spec.Line, err)
	}
	FaultPoint("fork") // a test hook: see FaultEnv
	p := &Proc{Identity: Identity{PID: cmd.Process.Pid}, InCgroup: inCgroup, done: make(chan struct{}), release: w, report: report}
	if report != nil {
		p.reports = bufio.NewReaderSize(report, 64)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	// Not reaped before Wait, so the pid cannot be reused under us; a zombie
	// still has its start time.
	if p.Start, err = readStartTime(p.PID, true); err != nil {
		w.Close() // the held process exits on its own; make sure
		_ = cmd.Process.Kill()
		<-p.done
		if report != nil {
			report.Close()
		}
		return nil, startTimeError(spec.Line, p.PID, err)
	}
	return p, nil
}

// startHeld starts the held command, in spec.Cgroup from its birth where
// the kernel can do that (inCgroup), else as any other.
func startHeld(spec Spec, r, reportW *os.File) (cmd *exec.Cmd, inCgroup bool, err error) {
	build := func() *exec.Cmd {
		cmd := heldCommand(spec, r, "pets-start")
		if reportW != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, reportW)
		}
		setGroup(cmd, false)
		return cmd
	}
	if spec.Cgroup != "" {
		cmd := build()
		if done, ok := bornIn(cmd, spec.Cgroup); ok {
			err := cmd.Start()
			done()
			if err == nil {
				return cmd, true, nil
			}
			// An older kernel, or a cgroup it will not clone into: start
			// it as any other (an error that is not the cgroup's comes
			// again below).
		}
	}
	cmd = build()
	return cmd, false, cmd.Start()
}

// readStartTime is startTime where a process pets forks is identified (a
// test makes it fail).
var readStartTime = startTime

// startTimeError says why a process pets could not identify was not run.
func startTimeError(line string, pid int, err error) error {
	return fmt.Errorf("start %q: cannot read the start time of pid %d (%w): pets identifies its processes by pid and start time, and does not run one it could not tell from a later process with the same pid", line, pid, errors.Join(ErrNoStartTime, err))
}

// heldCommand runs heldScript (or spec.Wrap), waiting on r (fd 3) before
// spec.Line.
func heldCommand(spec Spec, r *os.File, name string) *exec.Cmd {
	var cmd *exec.Cmd
	if len(spec.Wrap) > 0 {
		cmd = exec.Command(spec.Wrap[0], append(append([]string{}, spec.Wrap[1:]...), spec.Line)...)
	} else {
		cmd = exec.Command(shell(), shellFlag(), heldScript, name, spec.Line)
	}
	cmd.Dir = spec.Dir
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = spec.Out, spec.Out
	cmd.ExtraFiles = []*os.File{r}
	return cmd
}

// Child waits until a Spec.Wrap program reports the process it runs
// (ReportChild) and returns its identity. It fails if the program exits
// without reporting one (it could not start the command), or when ctx ends.
func (p *Proc) Child(ctx context.Context) (Identity, error) {
	if p.report == nil {
		return Identity{}, fmt.Errorf("pid %d runs no wrapped command", p.PID)
	}
	line, err := p.readReport(ctx)
	if ctx.Err() != nil {
		return Identity{}, ctx.Err()
	}
	var id Identity
	if err == nil {
		_, err = fmt.Sscanf(line, "%d %d", &id.PID, &id.Start)
	}
	if err != nil || id.PID <= 0 {
		p.again.Store(false)
		return Identity{}, fmt.Errorf("pid %d exited without starting its command", p.PID)
	}
	return id, nil
}

// readReport reads the report pipe's next line (without its newline). A
// failed read leaves the pipe out of step: the program is not released
// again.
func (p *Proc) readReport(ctx context.Context) (string, error) {
	// Read here, not in a goroutine of its own: the line wakes this one
	// directly. An end of ctx makes the read fail at once.
	stop := context.AfterFunc(ctx, func() { _ = p.report.SetReadDeadline(time.Now()) })
	line, err := p.reports.ReadString('\n')
	if !stop() || ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		p.again.Store(false)
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// Release lets a held process run its command.
func (p *Proc) Release() error {
	err := p.write([]byte(goAhead))
	p.closeRelease()
	return err
}

// ReleaseTo releases a Spec.Wrap program that StartHeld forked with no
// Line (before its command was known), telling it what to run. The
// go-ahead pipe stays open: the program may be asked to stay once its
// command is gone (Stay) and released again.
func (p *Proc) ReleaseTo(r Release) error {
	if r.Line == "" {
		return fmt.Errorf("release pid %d: no command to run", p.PID)
	}
	if err := p.write(r.encode()); err != nil {
		p.closeRelease()
		return err
	}
	p.again.Store(p.report != nil)
	return nil
}

// Stay asks a program released with ReleaseTo not to exit once its
// command's tree is gone, but to report done (AwaitDone) and wait for its
// next release: the caller asks before it signals that tree. A program
// whose command ended before it was asked exits as ever (AwaitDone then
// says false).
func (p *Proc) Stay() error {
	if !p.Reusable() {
		return fmt.Errorf("pid %d cannot be released again", p.PID)
	}
	if err := p.write([]byte(stayMsg + "\n")); err != nil {
		p.again.Store(false)
		return err
	}
	return nil
}

// Reusable says whether p may be asked to stay (Stay): released with
// ReleaseTo, not exited, its pipes in order.
func (p *Proc) Reusable() bool {
	select {
	case <-p.done:
		return false
	default:
	}
	return p.again.Load()
}

// AwaitDone waits until a program asked to stay (Stay) reports that its
// command's tree is gone (true: it waits, held, for ReleaseTo), or it
// exits instead, or ctx ends (false).
func (p *Proc) AwaitDone(ctx context.Context) bool {
	if !p.again.Load() {
		return false
	}
	line, err := p.readReport(ctx)
	if err != nil || line != doneMsg {
		p.again.Store(false)
		return false
	}
	return true
}

// Abandon lets a held process go without releasing it: it exits without
// running anything. Abandon returns once it has been reaped.
func (p *Proc) Abandon() {
	p.letGo()
	if p.report != nil {
		p.report.Close()
	}
	<-p.done
}

func (p *Proc) write(msg []byte) error {
	if p.release == nil {
		return nil
	}
	if _, err := p.release.Write(msg); err != nil {
		return fmt.Errorf("release pid %d: %w", p.PID, err)
	}
	return nil
}

// letGo closes the go-ahead pipe of a program asked to stay that will not
// be released again: it exits once its command is gone (EOF).
func (p *Proc) letGo() {
	p.again.Store(false)
	p.closeRelease()
}

func (p *Proc) closeRelease() {
	p.again.Store(false)
	if p.release != nil {
		p.release.Close()
		p.release = nil
	}
}

// Run runs spec in the foreground, in its own process group; onStart (may be
// nil) learns its identity before Run waits. When ctx ends the group is killed.
func Run(ctx context.Context, spec Spec, onStart func(Identity)) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("run %q: %w", spec.Line, err)
	}
	cmd := heldCommand(spec, r, "pets-run")
	setGroup(cmd, true)
	// Output for a writer that is not a file goes through a pipe that this
	// call drains (see outPipe), not exec's, whose Wait would also wait for
	// whatever the command left holding the pipe.
	var out *outPipe
	if _, isFile := spec.Out.(*os.File); spec.Out != nil && !isFile {
		if out, err = newOutPipe(spec.Out); err != nil {
			r.Close()
			w.Close()
			return fmt.Errorf("run %q: %w", spec.Line, err)
		}
		cmd.Stdout, cmd.Stderr = out.w, out.w
	}
	err = cmd.Start()
	r.Close()
	if out != nil {
		out.started()
	}
	if err != nil {
		w.Close()
		if out != nil {
			out.finish(0)
		}
		return fmt.Errorf("run %q: %w", spec.Line, err)
	}
	FaultPoint("fork") // a test hook: see FaultEnv
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	id := Identity{PID: cmd.Process.Pid}
	if id.Start, err = readStartTime(id.PID, true); err != nil {
		w.Close() // the held process exits without running the command
		<-waited
		if out != nil {
			out.finish(0)
		}
		return startTimeError(spec.Line, id.PID, err)
	}
	if onStart != nil {
		onStart(id) // recorded before the command begins: see heldScript
	}
	_, _ = w.Write([]byte("go\n"))
	w.Close()
	select {
	case err := <-waited:
		// The command is done; whatever it left in its group goes too.
		killGroup(id.PID)
		if out != nil {
			out.finish(outDrain)
		}
		return err
	case <-ctx.Done():
		killGroup(id.PID)
		<-waited
		if out != nil {
			out.finish(outDrain)
		}
		return ctx.Err()
	}
}

// outDrain bounds how long Run copies output once its command has ended
// and its group is gone: a process that left the group may hold the pipe.
const outDrain = 500 * time.Millisecond

// outPipe copies a command's output to a writer.
type outPipe struct {
	r, w *os.File
	to   io.Writer
	done chan struct{}
}

func newOutPipe(to io.Writer) (*outPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	o := &outPipe{r: r, w: w, to: to, done: make(chan struct{})}
	go func() { // owned by o: finish waits for it
		defer close(o.done)
		buf := make([]byte, 64<<10)
		for {
			n, err := o.r.Read(buf)
			if n > 0 {
				_, _ = o.to.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return o, nil
}

// started closes this process's copy of the write end (the child has its own).
func (o *outPipe) started() { o.w.Close() }

// finish waits until every writer is gone, or for at most d more, and
// stops copying.
func (o *outPipe) finish(d time.Duration) {
	_ = o.r.SetReadDeadline(time.Now().Add(d))
	<-o.done
	o.r.Close()
}

// killGroup SIGKILLs a group and waits (a bounded time) until it is gone.
func killGroup(pgid int) {
	if !groupExists(pgid) {
		return
	}
	_ = signalGroup(pgid, sigKill)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = waitGone(ctx, pgid)
}

// Alive reports whether the process with this identity is still running.
// Without a start time it says only whether some process has the pid: a
// question callers may ask, but never a reason to signal it.
func Alive(id Identity) bool {
	if id.PID <= 0 {
		return false
	}
	st, err := StartTime(id.PID)
	if err != nil {
		return false
	}
	return id.Start == 0 || st == id.Start
}

// Stopped says how Stop ended a group.
type Stopped int

const (
	AlreadyGone Stopped = iota // nothing of ours was running
	Terminated                 // gone after SIGTERM
	Killed                     // needed SIGKILL after the grace period
)

func (s Stopped) String() string {
	switch s {
	case Terminated:
		return "terminated"
	case Killed:
		return "killed after the grace period"
	}
	return "already gone"
}

// Stop stops the process group led by id: SIGTERM, then SIGKILL once grace has
// passed, and returns only when no process of the group is left (or ctx ends).
func Stop(ctx context.Context, id Identity, grace time.Duration) (Stopped, error) {
	return stop(ctx, id, grace, nil)
}

// Stop stops p's group like the package's Stop; knowing when p itself exits
// saves polling for the common case of a group of one.
func (p *Proc) Stop(ctx context.Context, grace time.Duration) (Stopped, error) {
	return stop(ctx, p.Identity, grace, p.done)
}

func stop(ctx context.Context, id Identity, grace time.Duration, exited <-chan struct{}) (Stopped, error) {
	if id.Start == 0 {
		return AlreadyGone, NoStartTime(id.PID)
	}
	if !ours(id) {
		return AlreadyGone, nil
	}
	_ = signalGroup(id.PID, sigTerm)
	termCtx, cancel := context.WithTimeout(ctx, grace)
	if exited != nil {
		select {
		case <-exited:
		case <-termCtx.Done():
		}
	}
	err := waitGone(termCtx, id.PID)
	cancel()
	if err == nil {
		return Terminated, nil
	}
	if ctx.Err() != nil {
		return AlreadyGone, ctx.Err()
	}
	if err := signalGroup(id.PID, sigKill); err != nil && groupExists(id.PID) {
		return Killed, fmt.Errorf("kill process group %d: %w", id.PID, err)
	}
	killCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := waitGone(killCtx, id.PID); err != nil {
		return Killed, fmt.Errorf("process group %d still has processes after SIGKILL: %w", id.PID, err)
	}
	return Killed, nil
}

// ours reports whether the group led by id may still hold our processes.
// An identity without a start time is never ours: its pid may have been
// reused.
func ours(id Identity) bool {
	if id.PID <= 0 || id.Start == 0 {
		return false
	}
	if st, err := StartTime(id.PID); err == nil {
		// The leader's pid exists: ours only if it is the same process. A
		// different process there means the pid was reused, which the kernel
		// allows only once our group is empty.
		return st == id.Start
	}
	return groupExists(id.PID)
}

// GroupAlive reports whether any process of the group led by id is running.
func GroupAlive(id Identity) bool { return ours(id) && (Alive(id) || groupExists(id.PID)) }

func waitGone(ctx context.Context, pgid int) error {
	return poll(ctx, func() bool { return !groupExists(pgid) })
}

// poll calls done until it returns true or ctx ends: every millisecond for
// the first 50ms (a restart is waiting on it), then every 10ms.
func poll(ctx context.Context, done func() bool) error {
	start := time.Now()
	for !done() {
		d := time.Millisecond
		if time.Since(start) > 50*time.Millisecond {
			d = 10 * time.Millisecond
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// WaitClosed waits until addr no longer accepts TCP connections.
func WaitClosed(ctx context.Context, addr string) error {
	return poll(ctx, func() bool { return !Accepting(addr) })
}

// WaitTCP waits until addr accepts a TCP connection. It fails with ErrExited
// as soon as exited is closed, and with ctx's error when ctx ends.
func WaitTCP(ctx context.Context, addr string, exited <-chan struct{}) error {
	var d net.Dialer
	gone := false
	err := poll(ctx, func() bool {
		dctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			gone = true
			return true
		default:
			return false
		}
	})
	switch {
	case gone:
		return ErrExited
	case err != nil:
		return fmt.Errorf("wait for %s: %w", addr, err)
	}
	return nil
}

// Accepting reports whether addr accepts a TCP connection right now.
func Accepting(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 250*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
