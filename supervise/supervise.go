// Package supervise runs a Petsfile's services as local processes: it is the
// petsfile.Host that start(), run() and service() call, and the
// rebuild.Runner the engine drives. Every process it starts is recorded in
// the state directory the moment it is forked; logs go to the service's log
// file there, appended across restarts and rotated at a size (package logfile).
//
// Each server a provider start()s runs under a waiter, a small process of
// pets' own that owns the server's output and records how it ended
// (package waiter); every process of a start is tracked, in a cgroup where pets
// can make one (tracking.go), so that stopping a service stops all of it,
// daemons included, and a stop that leaves its port taken fails, naming
// the process that holds it.
//
// Every process of one start of a service carries PETS_SERVICE, PETS_TIER and
// PETS_INSTANCE (random per start) in its environment: how Ready tells the
// service's own listener from another program's (see ready.go; Linux only,
// through package proc; elsewhere pets checks only that the address answers
// and the server is alive). Set PETS_DEBUG=1 to log readiness waits, and
// how long each start and stop took.
package supervise

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/logfile"
	"github.com/windmilleng/pets/waiter"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
)

// Defaults.
const (
	DefaultGrace        = 5 * time.Second
	DefaultReadyTimeout = 60 * time.Second
	tailLines           = 20
)

// Supervisor runs services locally. Fields are set before use and not changed.
type Supervisor struct {
	State        *state.Dir
	Project      *petsfile.Project
	Stderr       io.Writer     // progress: "Pets ran ...", "Stopping ..."
	Grace        time.Duration // SIGTERM -> SIGKILL
	ReadyTimeout time.Duration // default for service() without timeout=
	DryRun       bool          // print what would run; run nothing
	// Fingerprints (may be nil) of the services as the Petsfile defines them
	// now (petsfile.Project.Fingerprints): a running service whose recorded
	// fingerprint differs is not reused but restarted.
	Fingerprints map[petsfile.Key]string
	// Kube applies manifests for k8s_apply (nil: not available).
	Kube Applier
	// KeepFailed (a watching pets): a service that fails to start stays
	// recorded as failed, with the reason, until its next start or pets
	// down. Without it (pets up), a failed start leaves no record.
	KeepFailed bool
	// LogMax: each service's log rotates at this size; 0 takes
	// PETS_LOG_MAX, else logfile.DefaultMax; < 0: never.
	LogMax int64
	// Tracking: "" or "auto" (a cgroup where pets can make one, else by
	// environment), "environ" or "cgroup" (required); "" reads
	// PETS_TRACKING. See tracking.go.
	Tracking string
	// WaiterPath is the program each server runs under (`PROGRAM waiter
	// ...`, see package waiter); "": pets-waiter beside this executable,
	// else this executable.
	WaiterPath string

	mu    sync.Mutex
	procs map[int]*proc.Proc     // started by this process, by pid; guarded by mu
	early map[petsfile.Key]*host // Prefork's hosts, until Up takes them; guarded by mu
	// taken marks each key whose Up has looked for a forked waiter (see
	// PreforkNext); guarded by mu.
	taken map[petsfile.Key]bool
	// beforeReplaceWrite, if set (by a test), is called before a restart
	// writes, while the next command starts, the record that replaces the
	// old one (see replacing).
	beforeReplaceWrite func()
}

var (
	_ rebuild.Runner = (*Supervisor)(nil)
	_ petsfile.Host  = (*host)(nil)
	_ petsfile.Host  = dryHost{}
)

func (s *Supervisor) grace() time.Duration {
	if s.Grace > 0 {
		return s.Grace
	}
	return DefaultGrace
}

func (s *Supervisor) printf(format string, args ...any) {
	if s.Stderr != nil {
		fmt.Fprintf(s.Stderr, format+"\n", args...)
	}
}

// Check says how k is, without changing it: its value if it is recorded
// at k's tier from this Petsfile, ready, its processes alive and its port
// accepting connections (Healthy, or Redefined if the Petsfile changed its
// definition since); Dead if recorded but not running; else Absent.
func (s *Supervisor) Check(ctx context.Context, k petsfile.Key) (petsfile.Value, rebuild.Health) {
	f, err := s.State.Read()
	if err != nil {
		return petsfile.Value{}, rebuild.Absent
	}
	rec, ok := f.Services[k.Name]
	if !ok || rec.Tier != k.Tier {
		return petsfile.Value{}, rebuild.Absent
	}
	if svc, ok := s.Project.Service(k); ok && rec.Petsfile != svc.File {
		return petsfile.Value{}, rebuild.Absent // another Petsfile's: Up says so
	}
	if rec.Status != state.Ready || !Alive(rec) || rec.Port != 0 && !proc.Accepting(rec.Host()) {
		return petsfile.Value{}, rebuild.Dead
	}
	v := petsfile.Value{PID: rec.PID, Hostname: rec.Hostname, Port: rec.Port}
	if fp := s.Fingerprints[k]; fp != "" && rec.Fingerprint != "" && fp != rec.Fingerprint {
		return v, rebuild.Redefined
	}
	return v, rebuild.Healthy
}

// Alive reports whether rec's service still runs: the process group of its
// main server (the one passed to service()) if it has one, else any of the
// groups it started. Helpers that exited on their own do not count.
func Alive(rec *state.Service) bool {
	someAlive := false
	for _, p := range rec.Procs {
		if p.Run {
			continue
		}
		// A waiter stays while its command's tree does; should it have
		// been killed, its command's group may still run.
		alive := proc.GroupAlive(p.Identity) || p.Child.PID != 0 && proc.GroupAlive(p.Child)
		if rec.PID != 0 && (p.PID == rec.PID || p.Child.PID == rec.PID) {
			return alive
		}
		someAlive = someAlive || alive
	}
	if len(rec.Procs) == 0 {
		return rec.Status == state.Ready // a provider that started nothing
	}
	return someAlive
}

// Recorded says which of keys are recorded (running, starting or failed):
// not those pets down has stopped. Where the record cannot be read, each is
// (the step that asks goes on, and fails on the record itself).
func (s *Supervisor) Recorded(keys ...petsfile.Key) map[petsfile.Key]bool {
	out := make(map[petsfile.Key]bool, len(keys))
	var f *state.File // nil: a dry run, or no record to read
	if !s.DryRun {
		if read, err := s.State.Read(); err == nil {
			f = read
		}
	}
	for _, k := range keys {
		if f == nil {
			out[k] = true
			continue
		}
		rec, ok := f.Services[k.Name]
		out[k] = ok && rec.Tier == k.Tier
	}
	return out
}

// Alive is the cheap liveness check the watch loop runs between rounds: the
// recorded processes, without connecting to the service. When the service's
// main process was started by this Supervisor and has exited, exit says how,
// and the record keeps it.
func (s *Supervisor) Alive(_ context.Context, k petsfile.Key) (bool, string) {
	f, err := s.State.Read()
	if err != nil {
		return true, "" // cannot tell; do not report a crash
	}
	rec, ok := f.Services[k.Name]
	if !ok || rec.Tier != k.Tier {
		return false, ""
	}
	if Alive(rec) {
		return true, ""
	}
	exit := MainExit(rec)
	s.mu.Lock()
	p := s.procs[rec.PID]
	s.mu.Unlock()
	if p != nil && exit == "" {
		// Its group looks gone as soon as the leader is a zombie, a moment
		// before it is reaped: wait that moment for its exit status.
		select {
		case <-p.Done():
			exit = exitText(p.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = s.State.Update(func(f *state.File) error {
		if r, ok := f.Services[k.Name]; ok && r.Tier == k.Tier && r.Started.Equal(rec.Started) && r.Status == state.Ready {
			r.Exit = exit
			r.Reason = "its processes are gone"
			if exit != "" {
				r.Reason = "it exited (" + exit + ")"
			}
		}
		return nil
	})
	return false, exit
}

// MainExit is how rec's main server's command ended, as its waiter
// recorded it ("" if unknown or still running).
func MainExit(rec *state.Service) string {
	for _, p := range rec.Procs {
		if !p.Run && (p.PID == rec.PID || p.Child.PID == rec.PID || rec.PID == 0) && p.Exit != "" {
			return p.Exit
		}
	}
	return ""
}

// ServiceError is a service that failed to come up, with the tail of its log.
type ServiceError struct {
	Key     petsfile.Key
	Err     error
	LogPath string
	Tail    []string
}

func (e *ServiceError) Error() string {
	msg := e.Err.Error()
	if len(e.Tail) > 0 {
		msg += fmt.Sprintf("\n--- last %d lines of %s ---", len(e.Tail), e.LogPath)
		for _, l := range e.Tail {
			msg += "\n" + l
		}
	} else if e.LogPath != "" {
		msg += "\n(its log " + e.LogPath + " is empty)"
	}
	return msg
}

func (e *ServiceError) Unwrap() error { return e.Err }

// Up starts k, replacing whatever runs under k's name, and waits until ready.
func (s *Supervisor) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	return s.UpAfter(ctx, k, deps, nil)
}

// UpAfter is Up that starts nothing before gate (nil: none) is closed: what
// runs under k's name is stopped meanwhile (rebuild.Gater).
func (s *Supervisor) UpAfter(ctx context.Context, k petsfile.Key, deps []petsfile.Value, gate <-chan struct{}) (petsfile.Value, error) {
	svc, ok := s.Project.Service(k)
	if !ok {
		return petsfile.Value{}, fmt.Errorf("%s: not registered", k)
	}
	if s.DryRun {
		if gate != nil {
			<-gate // the plan is printed in order
		}
		return s.dryUp(ctx, k, deps)
	}
	t0 := time.Now()
	h, err := s.takeEarly(k)
	if err != nil {
		return petsfile.Value{}, err
	}
	// A waiter never released is let go, and the cgroup made for it
	// removed, however this start ends.
	defer h.dropUnused()
	instance, logPath := h.instance, h.logPath
	// The new record takes the old one's place in the same write, so that
	// the service is never unrecorded while it restarts (pets list, pets
	// wait and pets restart would say it is not running).
	next := &state.Service{
		Name: k.Name, Tier: k.Tier, Petsfile: svc.File, Root: s.Project.Path, Deps: svc.Deps,
		Status: state.Starting, Started: time.Now(), Fingerprint: s.Fingerprints[k], Instance: instance,
	}
	if err := s.replace(ctx, k, svc, next, h); err != nil {
		return petsfile.Value{}, err
	}
	stopped := time.Since(t0)
	if gate != nil {
		<-gate
	}
	logf, err := logfile.Open(logPath, h.logMax)
	if err != nil {
		return petsfile.Value{}, err
	}
	defer logf.Close()
	before := logf.Pos()
	fmt.Fprintf(logf, "--- pets: starting %s at %s ---\n", k, time.Now().Format(time.RFC3339))

	h.log, h.logStart = logf, logf.Pos().Offset()
	v, err := s.Project.Provide(ctx, k, deps, h)
	h.dropUnused()
	if rerr := h.awaitRecords(); err == nil {
		err = rerr
	}
	if err == nil {
		err = s.State.Update(func(f *state.File) error {
			rec, ok := f.Services[k.Name]
			if !ok || rec.Tier != k.Tier {
				return fmt.Errorf("%s: its record vanished while it started (did `pets down` run meanwhile?)", k)
			}
			rec.Status, rec.PID, rec.Hostname, rec.Port = state.Ready, v.PID, v.Hostname, v.Port
			rec.Started = time.Now()
			return nil
		})
	}
	slog.Debug("supervise: up", "service", k, "stop", stopped, "total", time.Since(t0), "err", err)
	if err != nil {
		serr := &ServiceError{Key: k, Err: err, LogPath: logPath, Tail: logfile.TailSince(before, tailLines)}
		stopCtx, cancel := context.WithTimeout(context.Background(), s.grace()+15*time.Second)
		defer cancel()
		var failed *state.Service // KeepFailed: recorded as failed, with why, once its processes are stopped
		if s.KeepFailed {
			reason := err.Error()
			if i := strings.IndexByte(reason, '\n'); i >= 0 {
				reason = reason[:i]
			}
			failed = &state.Service{
				Name: k.Name, Tier: k.Tier, Petsfile: svc.File, Root: s.Project.Path, Deps: svc.Deps,
				Status: state.Failed, Started: time.Now(), Reason: reason, Fingerprint: s.Fingerprints[k],
			}
		}
		if derr := s.down(stopCtx, k.Name, false, failed); derr != nil {
			serr.Err = fmt.Errorf("%w (and stopping it failed: %v)", err, derr)
		}
		return petsfile.Value{}, serr
	}
	return v, nil
}

// newHost returns the host of a new start of k: a new instance, its log.
func (s *Supervisor) newHost(k petsfile.Key) (*host, error) {
	maxLog, err := logfile.Max(s.LogMax)
	if err != nil {
		return nil, err
	}
	if _, err := s.trackingWanted(); err != nil {
		return nil, err
	}
	return &host{s: s, key: k, instance: newInstance(), logPath: s.State.LogPath(k.Name, k.Tier), logMax: maxLog}, nil
}

// takeEarly returns the host Prefork made for k, else a new one.
func (s *Supervisor) takeEarly(k petsfile.Key) (*host, error) {
	s.mu.Lock()
	if s.taken == nil {
		s.taken = map[petsfile.Key]bool{}
	}
	s.taken[k] = true
	h := s.early[k]
	delete(s.early, k)
	s.mu.Unlock()
	if h != nil {
		return h, nil
	}
	return s.newHost(k)
}

// Prefork forks, in the background, the waiter of the next start of each
// of keys that is not running, held with no command (as a restart forks
// its next one, host.prefork), so that its fork and its runtime's start
// overlap what pets does before it starts anything (the state, the
// watches): Up takes it. Nothing is recorded until Up records it; if pets
// dies first it exits by itself. DropPreforked lets go of those Up did not
// take.
func (s *Supervisor) Prefork(keys []petsfile.Key) {
	s.prefork(keys, func(petsfile.Key, *state.Service) bool {
		return false // reused, or replaced (Up forks the next waiter then)
	})
}

// PreforkNext is Prefork for a round about to start, restart or bounce
// first (its steps that begin at once) and later (those that wait for
// others): the next waiters of the running ones that start()ed a server
// are forked too, unless the running waiter is to run the next command
// itself (reusable) (Up would fork each while it stops the old server), so
// that a dependent's fork overlaps its dependencies' restarts (for a
// server that is slow to start, mostly waiting) rather than its own stop.
// An edit to a service with 30 dependents that sleep 100 ms: 569 ms
// against 617 (means of 9 interleaved pairs of `-only parallel -n 5`, 6
// of them faster).
//
// First's are forked now, side by side; later's one after another, in the
// background: 30 forks at once took the cores from the restart the 30 wait
// for, whose stop then took 12 to 112 ms (median 80; 8 to 45, median 24,
// one at a time: PETS_DEBUG's "supervise: up" lines, 30 rounds each). A
// later one whose Up came first forks its own. It returns what lets go of
// those no Up took.
func (s *Supervisor) PreforkNext(first, later []petsfile.Key) (drop func()) {
	restarting := func(k petsfile.Key, rec *state.Service) bool {
		return s.reusable(k, rec) == nil && slices.ContainsFunc(rec.Procs, func(p state.Proc) bool { return p.Waiter })
	}
	forked := s.prefork(first, restarting) // and, once done is closed, later's
	quit := false                          // guarded by s.mu
	done := make(chan struct{})
	s.mu.Lock()
	for _, k := range later {
		delete(s.taken, k)
	}
	s.mu.Unlock()
	forkLater := func() { // owned by PreforkNext: drop stops it, and waits for it
		defer close(done)
		for _, k := range later {
			s.mu.Lock()
			end, skip := quit, s.taken[k]
			s.mu.Unlock()
			if end {
				return
			}
			if skip {
				continue // its Up began: it forks its own
			}
			hs := s.prefork([]petsfile.Key{k}, restarting)
			for _, h := range hs {
				<-h.preforked // one fork at a time (an Up may have taken h meanwhile)
			}
			forked = append(forked, hs...)
		}
	}
	if len(later) > 0 {
		go forkLater()
	} else {
		close(done) // a lone save's round: nothing to fork in the background
	}
	return func() {
		s.mu.Lock()
		quit = true
		s.mu.Unlock()
		<-done
		for _, h := range forked {
			s.mu.Lock()
			untaken := s.early[h.key] == h
			if untaken {
				delete(s.early, h.key)
			}
			s.mu.Unlock()
			if untaken {
				h.dropUnused()
			}
		}
	}
}

// prefork forks the next waiter of each of keys that is not running, or
// whose running record restarting wants, unless one is forked already;
// it returns the hosts it made.
func (s *Supervisor) prefork(keys []petsfile.Key, restarting func(k petsfile.Key, rec *state.Service) bool) []*host {
	if s.DryRun {
		return nil
	}
	f, err := s.State.Read()
	if err != nil {
		return nil
	}
	var out []*host
	for _, k := range keys {
		if rec, ok := f.Services[k.Name]; ok && Alive(rec) && !restarting(k, rec) {
			continue
		}
		s.mu.Lock()
		dup := s.early[k] != nil // a round after a launch: Prefork forked it
		s.mu.Unlock()
		if dup {
			continue
		}
		h, err := s.newHost(k)
		if err != nil {
			return out // Up says why
		}
		h.prefork()
		s.mu.Lock()
		if s.early == nil {
			s.early = map[petsfile.Key]*host{}
		}
		dup = s.early[k] != nil
		if !dup {
			s.early[k] = h
		}
		s.mu.Unlock()
		if dup { // forked meanwhile by another call
			h.dropUnused()
			continue
		}
		out = append(out, h)
	}
	return out
}

// DropPreforked lets go of the waiters Prefork forked that no Up took (and
// removes their cgroups).
func (s *Supervisor) DropPreforked() {
	s.mu.Lock()
	early := s.early
	s.early = nil
	s.mu.Unlock()
	for _, h := range early {
		h.dropUnused()
	}
}

// replace stops a recorded service of the same name before k starts, and
// records next in its place. A service of that name from another Petsfile
// that is still alive is refused. If the stop leaves its port taken, the
// start fails (and, with KeepFailed, k is recorded as failed, saying why).
// When a running instance that start()ed a server is stopped (a restart),
// h forks the next waiter meanwhile (host.prefork), unless Prefork forked
// it before; the write of next records it.
func (s *Supervisor) replace(ctx context.Context, k petsfile.Key, svc *petsfile.Service, next *state.Service, h *host) error {
	f, err := s.State.Read()
	if err != nil {
		return err
	}
	rec, ok := f.Services[k.Name]
	if !ok {
		if h.held != nil {
			h.recordAhead(next) // forked by Prefork
		}
		return s.State.Update(func(f *state.File) error {
			f.Services[k.Name] = next
			return nil
		})
	}
	alive := Alive(rec)
	if rec.Petsfile != svc.File && alive {
		return fmt.Errorf("%s is already running from %s; stop it first with `pets down %s`", rec.Key(), rec.Petsfile, k.Name)
	}
	if rec.Tier != k.Tier {
		s.printf("Replacing %s with %s", rec.Key(), k)
	} else if fp := s.Fingerprints[k]; fp != "" && rec.Fingerprint != "" && fp != rec.Fingerprint && alive {
		s.printf("Restarting %s: the Petsfile changed it since it started", k)
	}
	if alive {
		h.listeningAhead()
	}
	if h.held == nil && alive {
		if p := s.reusable(k, rec); p != nil && p.Stay() == nil {
			h.reuse(p, rec)
		} else if slices.ContainsFunc(rec.Procs, func(p state.Proc) bool { return p.Waiter }) {
			h.prefork()
		}
	}
	r := &replacing{written: func(wait func() error) { h.replacing = wait }, before: s.beforeReplaceWrite}
	if h.held != nil {
		r.settle = func() { h.recordAhead(next) }
	}
	return s.stopRecorded(ctx, rec, false, next, r, h.reused)
}

// reusable returns the waiter of rec, a running start of k, if it can run
// k's next command itself (Proc.Stay): a waiter this process forked ahead
// and released with ReleaseTo, the only process rec's start began, on
// Linux (where pets stops a service by its tree, which a waiter outlives).
// Running the next command in it spares a restart the fork of a new
// waiter, its runtime's start, the old one's exit, and a cgroup made and
// removed.
func (s *Supervisor) reusable(k petsfile.Key, rec *state.Service) *proc.Proc {
	if runtime.GOOS != "linux" || rec.Tier != k.Tier || rec.Tracking == "" || len(rec.Procs) != 1 || !rec.Procs[0].Waiter {
		return nil
	}
	id := rec.Procs[0].Identity
	s.mu.Lock()
	p := s.procs[id.PID]
	s.mu.Unlock()
	if p == nil || p.Identity != id || !p.Reusable() {
		return nil
	}
	return p
}

// Down stops k and removes its record.
func (s *Supervisor) Down(ctx context.Context, k petsfile.Key) error {
	if s.DryRun {
		s.printf("Pets would stop %s", k)
		return nil
	}
	f, err := s.State.Read()
	if err != nil {
		return err
	}
	if rec, ok := f.Services[k.Name]; ok && rec.Tier != k.Tier {
		return nil // another tier of the name runs: not k
	}
	return s.down(ctx, k.Name, true, nil)
}

// down stops the recorded service name and removes its record, or puts
// next in its place (if not nil). If its port is still taken afterwards,
// it fails, and (with KeepFailed, when next is given) records it as failed.
func (s *Supervisor) down(ctx context.Context, name string, say bool, next *state.Service) error {
	f, err := s.State.Read()
	if err != nil {
		return err
	}
	rec, ok := f.Services[name]
	if !ok {
		if next == nil {
			return nil
		}
		return s.State.Update(func(f *state.File) error {
			f.Services[name] = next
			return nil
		})
	}
	return s.stopRecorded(ctx, rec, say, next, nil, nil)
}

// stopRecorded is down for the record rec, as just read. r (may be nil)
// says what a restart's stop does besides (see replacing); keep (may be
// nil) is rec's waiter, asked to stay for next.
func (s *Supervisor) stopRecorded(ctx context.Context, rec *state.Service, say bool, next *state.Service, r *replacing, keep *proc.Proc) error {
	if say {
		s.printf("Stopping %s", rec.Key())
	}
	var failed func(error) *state.Service
	if next != nil && s.KeepFailed {
		failed = func(err error) *state.Service {
			r := *next
			reason := headLine(err.Error())
			if r.Status == state.Failed && r.Reason != "" {
				reason = r.Reason + "; and " + reason
			}
			r.Status, r.Reason, r.Started = state.Failed, reason, time.Now()
			return &r
		}
	}
	_, err := s.stopService(ctx, rec, next, failed, r, keep)
	return err
}

// replacing is what a restart's stop does besides stopping: settle (may be
// nil) adds to next once the old processes are gone, before it is written;
// written (may be nil), where the old instance's waiter stays for the next
// (so that both records name it), is handed the wait for the write of next,
// which then goes on while the next command starts (see stopService).
type replacing struct {
	settle  func()
	written func(wait func() error)
	before  func() // a test's hook: called before that write (nil)
}

// headLine is s up to its first newline.
func headLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// stopService is StopService for a service this Supervisor may have started
// itself (for a record of an older pets, it waits for its own children's
// exit instead of polling). Its record is replaced by next (nil: removed),
// or, if its port is still taken afterwards, by what failed returns (failed
// nil, or returning nil: removed); repl (may be nil) is what a restart's
// stop does besides (see replacing).
func (s *Supervisor) stopService(ctx context.Context, rec, next *state.Service, failed func(error) *state.Service, r *replacing, keep *proc.Proc) ([]proc.Stopped, error) {
	// Its waiters are this process's children: whether or not they are
	// stopped through p, forget them.
	s.mu.Lock()
	for _, rp := range rec.Procs {
		for _, pid := range []int{rp.PID, rp.Child.PID} {
			if p := s.procs[pid]; p != nil && p.Identity == rp.Identity && rec.Tracking != "" {
				delete(s.procs, pid)
			}
		}
	}
	s.mu.Unlock()
	return stopService(ctx, s.State, rec, next, failed, r, keep, s.grace(), func(id proc.Identity) (proc.Stopped, error) {
		s.mu.Lock()
		p := s.procs[id.PID]
		if p != nil && p.Identity == id {
			delete(s.procs, id.PID)
		} else {
			p = nil
		}
		s.mu.Unlock()
		if p != nil {
			return p.Stop(ctx, s.grace())
		}
		return proc.Stop(ctx, id, s.grace())
	}, func(msg string) { s.printf("pets: %s", msg) })
}

// StopService stops every process of rec and removes its record, and
// fails if its port is still taken afterwards. It returns how its
// processes ended: one entry for a service pets tracks as a whole (see
// tracking.go), one per process group, newest first, for a record of an
// older pets.
func StopService(ctx context.Context, dir *state.Dir, rec *state.Service, grace time.Duration) ([]proc.Stopped, error) {
	return stopServiceSaying(ctx, dir, rec, grace, nil)
}

// stopServiceSaying is StopService, saying on w (may be nil) which
// recorded processes it did not touch, and why.
func stopServiceSaying(ctx context.Context, dir *state.Dir, rec *state.Service, grace time.Duration, w io.Writer) ([]proc.Stopped, error) {
	say := func(msg string) {
		if w != nil {
			fmt.Fprintln(w, "pets: "+msg)
		}
	}
	return stopService(ctx, dir, rec, nil, nil, nil, nil, grace, func(id proc.Identity) (proc.Stopped, error) { return proc.Stop(ctx, id, grace) }, say)
}

func stopService(ctx context.Context, dir *state.Dir, rec, next *state.Service, failed func(error) *state.Service, repl *replacing, keep *proc.Proc, grace time.Duration,
	stop func(proc.Identity) (proc.Stopped, error), say func(string)) ([]proc.Stopped, error) {
	var how []proc.Stopped
	var errs []error
	untouched := func(p state.Proc, err *proc.UntouchedError) {
		say(fmt.Sprintf("%s: pid %d (%s) was not touched: %s", rec.Key(), p.PID, p.Cmd, err.Reason))
	}
	t0 := time.Now()
	var processes time.Duration // until its processes were gone
	defer func() {
		slog.Debug("supervise: stopped", "service", rec.Key(), "processes", processes, "total", time.Since(t0))
	}()
	if rec.Tracking != "" {
		for _, p := range rec.Procs {
			if p.Start == 0 {
				untouched(p, proc.NoStartTime(p.PID))
			}
		}
		t := tracked(rec)
		t.Keep = keep
		st, err := proc.StopTracked(ctx, t, grace)
		how = append(how, st)
		if err != nil {
			return how, fmt.Errorf("stop %s: %w", rec.Key(), err)
		}
		if keep == nil || !keep.Reusable() {
			removeCgroupParents(rec.Cgroup)
		}
	} else {
		for i := len(rec.Procs) - 1; i >= 0; i-- {
			p := rec.Procs[i]
			st, err := stop(p.Identity)
			var ue *proc.UntouchedError
			if errors.As(err, &ue) {
				untouched(p, ue)
				err = nil
			}
			how = append(how, st)
			if err != nil {
				errs = append(errs, fmt.Errorf("stop %q (pid %d): %w", p.Cmd, p.PID, err))
				continue
			}
			err = dir.Update(func(f *state.File) error {
				if r, ok := f.Services[rec.Name]; ok {
					r.Procs = removeProc(r.Procs, p.Identity)
				}
				return nil
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return how, errors.Join(errs...)
		}
	}
	processes = time.Since(t0)
	portErr, err := recordStopped(ctx, dir, rec, next, failed, repl, keep, grace)
	if rec.Fresh != nil && rec.Fresh.Manifest != "" && filepath.IsLocal(filepath.FromSlash(rec.Fresh.Manifest)) {
		// Nothing runs what it describes any more.
		_ = os.Remove(filepath.Join(dir.Path, filepath.FromSlash(rec.Fresh.Manifest)))
	}
	if portErr != nil {
		return how, portErr
	}
	return how, err
}

// recordStopped records rec's stop, once its processes are gone: next in
// its place (nil: no record), or, if its port is still taken (portErr),
// what failed returns for it (failed nil, or returning nil: no record).
// repl and keep are stopService's.
func recordStopped(ctx context.Context, dir *state.Dir, rec, next *state.Service, failed func(error) *state.Service, repl *replacing, keep *proc.Proc, grace time.Duration) (portErr, err error) {
	// Where next takes rec's place (a restart), it is written while the
	// port is checked, and the record a port still taken calls for (see
	// failed) replaces it if it is: a reader sees the next instance
	// starting for that moment, never one said to be ready.
	var portc chan error
	if next != nil {
		portc = make(chan error, 1)
		go func() { portc <- portFreed(ctx, rec, grace) }() // awaited below
		if repl != nil && repl.settle != nil {
			repl.settle()
		}
	} else {
		portErr = portFreed(ctx, rec, grace)
	}
	portFailed := func(f *state.File, err error) {
		var instead *state.Service
		if failed != nil {
			instead = failed(err)
		}
		if instead != nil {
			f.Services[rec.Name] = instead
		} else {
			delete(f.Services, rec.Name)
		}
	}
	write := func(portErr error) func(f *state.File) error {
		return func(f *state.File) error {
			r, ok := f.Services[rec.Name]
			if ok && rec.Tracking != "" && r.Instance == rec.Instance {
				r.Procs = nil // all of them are gone
			}
			switch {
			case ok && (r.Tier != rec.Tier || !r.Started.Equal(rec.Started)):
				// Another pets recorded another instance meanwhile: leave it.
			case portErr != nil:
				portFailed(f, portErr)
			case next != nil:
				f.Services[rec.Name] = next
			case ok && len(r.Procs) == 0:
				delete(f.Services, rec.Name)
			}
			return nil
		}
	}
	// A port still taken after next was written: what it calls for, in
	// next's place.
	rewrite := func(portErr error) func(f *state.File) error {
		return func(f *state.File) error {
			if r, ok := f.Services[rec.Name]; ok && r.Instance == next.Instance && r.Started.Equal(next.Started) {
				portFailed(f, portErr)
			}
			return nil
		}
	}
	switch {
	case portc != nil && repl != nil && repl.written != nil && keep != nil && keep.Reusable():
		// The waiter stays for next: rec names it, and so does next, so
		// whichever record a reader finds (or a pets down, should this
		// pets die now) names what runs. next is written while the next
		// command starts; only the port must be seen free first.
		done := make(chan error, 1)
		go func() { // awaited through written, or here
			if repl.before != nil {
				repl.before()
			}
			done <- dir.Update(write(nil))
		}()
		if portErr = <-portc; portErr != nil {
			if err = <-done; err == nil {
				err = dir.Update(rewrite(portErr))
			}
			break
		}
		var once sync.Once
		var werr error
		repl.written(func() error {
			once.Do(func() { werr = <-done })
			return werr
		})
	default:
		err = dir.Update(write(portErr))
		if portc != nil {
			if portErr = <-portc; portErr != nil && err == nil {
				err = dir.Update(rewrite(portErr))
			}
		}
	}
	return portErr, err
}

func removeProc(ps []state.Proc, id proc.Identity) []state.Proc {
	out := ps[:0]
	for _, p := range ps {
		if p.Identity != id {
			out = append(out, p)
		}
	}
	return out
}

// host is the petsfile.Host for one service's provider call. The provider
// calls it from one goroutine; the fields after instance are touched only
// there.
type host struct {
	s        *Supervisor
	key      petsfile.Key
	log      *logfile.Log
	logStart int64  // where this start's output begins in log (its file then)
	instance string // PETS_INSTANCE of every process this start runs

	forked   bool            // start() or run() has forked a process
	before   map[uint64]bool // sockets (inodes) listening before the first fork; nil: unknown
	starts   []proc.Identity // the process groups start() began (their waiters)
	tracking string          // how its processes are tracked, once one is forked
	cgroup   string          // its cgroup (tracking "cgroup")
	entered  bool            // a process was put in cgroup
	held     *heldWaiter     // a waiter forked ahead of start() (prefork), until start() takes it
	reused   *proc.Proc      // held is the running instance's waiter, asked to stay (reuse)
	// preforked is closed once prefork's fork is done (or failed); set
	// by prefork before h is shared, never changed after.
	preforked <-chan struct{}
	ahead     bool   // held is in the record that replaced the old one (recordAhead)
	newLog    bool   // the log did not exist when prefork forked held (which makes it)
	logPath   string // the service's log (log's file), known before log is open
	logMax    int64  // its rotation size
	// recording are the writes of its commands' pids that start() began
	// and awaitRecords has not waited for.
	recording []chan error
	// listening, if not nil, gives what listened as the old instance began
	// to stop (listeningAhead), for before.
	listening chan []proc.Socket
	// replacing, if not nil, waits for the write of the record that
	// replaces the old instance's, under way while the next command starts
	// (see replacing), and returns how it went.
	replacing func() error
}

// heldWaiter is a waiter prefork forked, held, in the background: p (or
// err) once done is closed.
type heldWaiter struct {
	done chan struct{}
	p    *proc.Proc
	err  error
}

// prefork forks, in the background, the waiter that this start's start()
// will use, held with no command yet (it gets its line, directory and
// variables when released), so that the waiter's fork and its runtime's
// start overlap the old instance's stop rather than follow it. Nothing is
// recorded: if pets dies meanwhile, the held waiter exits by itself, and a
// waiter start() does not take is let go (dropUnused).
//
// Its cgroup is made in the background too (h.track: a restart's SIGTERM
// waits for nothing of it), so h's tracking fields are prefork's until
// hw.done is closed: whatever reads them waits for that (takeHeld,
// recordAhead, settleHeld).
func (h *host) prefork() {
	hw := &heldWaiter{done: make(chan struct{})}
	h.held, h.preforked = hw, hw.done
	if _, err := os.Stat(h.logPath); errors.Is(err, fs.ErrNotExist) {
		h.newLog = true
	}
	env := h.env(nil)
	go func() { // owned by h: taken by start(), or let go by dropUnused
		defer close(hw.done)
		spec, err := h.waiterSpec(proc.Spec{Env: env})
		if err != nil {
			hw.err = err // start() forks itself, and says why it cannot
			return
		}
		hw.p, hw.err = h.startWaiter(spec)
	}()
}

// reuse makes p, the waiter of rec (the running start of h's service, about
// to be stopped), asked to stay (Proc.Stay), the waiter that start() takes
// once rec's tree is gone: with the cgroup it is in.
func (h *host) reuse(p *proc.Proc, rec *state.Service) {
	done := make(chan struct{})
	close(done)
	h.held, h.preforked, h.reused = &heldWaiter{done: done, p: p}, done, p
	h.tracking, h.cgroup = rec.Tracking, rec.Cgroup
}

// unreuse gives up the reused waiter, which did not stay (its command's
// tree took long to go, or the stop failed): the stop let it go, with its
// cgroup, and start() forks a waiter of its own, in a new one.
func (h *host) unreuse() {
	if h.reused == nil || h.reused.Reusable() {
		return
	}
	h.held, h.reused = nil, nil
	h.tracking, h.cgroup = "", ""
}

// settleHeld waits until the waiter prefork forks (if any) is forked, or
// its fork failed, leaving it held for start().
func (h *host) settleHeld() {
	if hw := h.held; hw != nil {
		<-hw.done
	}
}

// recordAhead adds the waiter prefork forked, if it is forked by now, to
// next, the record that is about to take the old one's place: the stop's
// write records it, and start() need not write again before it releases
// it. Its command is recorded when it reports its child.
func (h *host) recordAhead(next *state.Service) {
	h.unreuse()
	hw := h.held
	if hw == nil {
		return
	}
	select {
	case <-hw.done:
	default:
		return // still forking: start() records it
	}
	if hw.p == nil {
		return
	}
	next.Procs = append(next.Procs, state.Proc{Identity: hw.p.Identity, Waiter: true})
	next.Tracking, next.Cgroup = h.tracking, h.cgroup
	h.ahead = true
}

// takeHeld returns the waiter prefork forked (nil: none, or its fork
// failed, which start() then does again).
func (h *host) takeHeld() *proc.Proc {
	hw := h.held
	if hw == nil {
		return nil
	}
	h.held, h.reused = nil, nil
	<-hw.done
	if hw.err != nil {
		slog.Debug("supervise: forking the next waiter ahead failed", "service", h.key, "err", hw.err)
	}
	return hw.p
}

// recordedAhead says whether the stop's write recorded the waiter id
// (recordAhead) in this start's record: it then needs no write of its own.
func (h *host) recordedAhead(id proc.Identity) bool {
	if !h.ahead {
		return false
	}
	h.ahead = false // taken: whatever happens next is start()'s
	if h.replacing != nil {
		return true // the write under way names it (and the old record did)
	}
	f, err := h.s.State.Read()
	if err != nil {
		return false
	}
	rec, ok := f.Services[h.key.Name]
	return ok && rec.Instance == h.instance && slices.ContainsFunc(rec.Procs, func(p state.Proc) bool { return p.Identity == id })
}

// awaitRecords waits for the writes of the commands' pids that start()
// began, and returns what failed.
func (h *host) awaitRecords() error {
	var errs []error
	if h.replacing != nil {
		errs = append(errs, h.replacing())
	}
	for _, done := range h.recording {
		errs = append(errs, <-done)
	}
	h.recording = nil
	return errors.Join(errs...)
}

// dropUnused lets go of a waiter prefork forked that start() did not take
// (and of its record), and removes the cgroup made for this start if
// nothing entered it.
func (h *host) dropUnused() {
	if h.replacing != nil {
		_ = h.replacing() // its record first: what follows changes it
	}
	h.unreuse()
	if p := h.takeHeld(); p != nil {
		p.Abandon()
		h.dropNewLog()
		if h.ahead {
			h.ahead = false
			_ = h.s.State.Update(func(f *state.File) error {
				if rec, ok := f.Services[h.key.Name]; ok && rec.Instance == h.instance {
					rec.Procs = removeProc(rec.Procs, p.Identity)
				}
				return nil
			})
		}
	}
	h.dropUnusedCgroup()
}

// dropNewLog removes the log that the waiter prefork forked made (pets and
// the waiter open it as it forks), if nothing was written to it since: a
// service skipped before it started (a dependency failed) has no log, not
// an empty one, and pets logs says so.
func (h *host) dropNewLog() {
	if !h.newLog {
		return
	}
	h.newLog = false
	if fi, err := os.Stat(h.logPath); err == nil && fi.Size() == 0 {
		_ = os.Remove(h.logPath)
	}
}

// forkWaiter forks a waiter, held, for spec, in the service's cgroup where
// it has one.
func (h *host) forkWaiter(spec proc.Spec) (*proc.Proc, error) {
	spec, err := h.waiterSpec(spec)
	if err != nil {
		return nil, err
	}
	return h.startWaiter(spec)
}

// waiterSpec is spec run under a waiter (spec.Line empty: told at its
// release), born in the service's cgroup where it has one (made now).
func (h *host) waiterSpec(spec proc.Spec) (proc.Spec, error) {
	if err := h.track(); err != nil {
		return spec, err
	}
	exe, err := h.waiterPath()
	if err != nil {
		return spec, err
	}
	spec.Wrap = waiter.Args(exe, h.logPath, h.logMax, h.s.State.Path, h.key.Name)
	if h.tracking == TrackCgroup {
		spec.Cgroup = h.cgroup // born there: no move after the fork
	}
	return spec, nil
}

// startWaiter forks spec's waiter, held. Its own output (a crash, a race
// report) goes to the log directly; its command's goes through it.
func (h *host) startWaiter(spec proc.Spec) (*proc.Proc, error) {
	out, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer out.Close()
	spec.Out = out
	return proc.StartHeld(spec)
}

// instanceVar marks every process of one start of a service (and their
// descendants, which inherit it): how Ready finds the service's own tree,
// and how stopping it finds its processes without a cgroup.
const instanceVar = "PETS_INSTANCE"

// newInstance returns a new PETS_INSTANCE value.
func newInstance() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// env is the environment of the service's commands, after os.Environ():
// pets' own variables, then the command's (which win over pets' but not
// over the instance marker, which pets needs to find its processes).
func (h *host) env(extra []string) []string {
	env := make([]string, 0, len(extra)+3)
	env = append(env, "PETS_SERVICE="+h.key.Name, "PETS_TIER="+h.key.Tier)
	env = append(env, extra...)
	return append(env, instanceVar+"="+h.instance)
}

// forking notes, before the first process of this start is forked, which
// sockets listen already: a port that was busy before the start is not the
// service's, whoever answers on it later.
func (h *host) forking() {
	if h.forked {
		return
	}
	h.forked = true
	var socks []proc.Socket
	var err error
	if h.listening != nil {
		socks = <-h.listening
		if socks == nil {
			err = errors.ErrUnsupported
		}
	} else {
		socks, err = proc.Listening()
	}
	if err != nil {
		return // cannot tell on this OS
	}
	h.before = make(map[uint64]bool, len(socks))
	for _, sk := range socks {
		h.before[sk.Inode] = true
	}
}

// listeningAhead notes what listens now, in the background, as a restart
// begins to stop the old instance, for forking: the old server's sockets
// are among them, but none of them is the new server's, so the start need
// not wait for /proc/net/tcp's reading once the old server is gone.
func (h *host) listeningAhead() {
	ch := make(chan []proc.Socket, 1)
	h.listening = ch
	go func() { // owned by h: forking takes its result
		socks, err := proc.Listening()
		if err == nil && socks == nil {
			socks = []proc.Socket{}
		}
		ch <- socks
	}()
}

// waiterPath is the program servers run under: WaiterPath, else
// pets-waiter beside this executable (a small static binary: it starts in
// about 2 ms where pets takes about 4, pets-kube about 13), else
// this executable itself (`pets waiter`).
func (h *host) waiterPath() (string, error) {
	if h.s.WaiterPath != "" {
		return h.s.WaiterPath, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the pets binary (each server runs under `pets %s`): %w", waiter.Command, err)
	}
	return waiter.Beside(exe), nil
}

func (h *host) Start(ctx context.Context, c petsfile.Command) (petsfile.Process, error) {
	h.forking()
	// Held until recorded (and in its cgroup): if pets dies in between, the
	// process exits by itself.
	t0 := time.Now()
	h.unreuse()
	reused := h.reused != nil
	p := h.takeHeld()
	ahead := p != nil
	if !ahead {
		var err error
		p, err = h.forkWaiter(proc.Spec{Line: c.Line, Dir: c.Dir, Env: h.env(c.Env)})
		if err != nil {
			h.dropUnusedCgroup()
			return petsfile.Process{}, err
		}
	}
	h.starts = append(h.starts, p.Identity)
	h.s.mu.Lock()
	if h.s.procs == nil {
		h.s.procs = map[int]*proc.Proc{}
	}
	h.s.procs[p.PID] = p
	h.s.mu.Unlock()
	entry := state.Proc{Identity: p.Identity, Cmd: c.Line, Dir: c.Dir, Waiter: true}
	var err error
	recorded := ahead && h.recordedAhead(p.Identity)
	if !recorded {
		err = h.s.State.Update(func(f *state.File) error {
			rec, ok := f.Services[h.key.Name]
			if !ok {
				return fmt.Errorf("%s: no record to add pid %d to", h.key, p.PID)
			}
			rec.Procs = append(rec.Procs, entry)
			rec.Instance, rec.Tracking, rec.Cgroup = h.instance, h.tracking, h.cgroup
			return nil
		})
	}
	if err == nil && p.InCgroup {
		h.entered = true
	} else if err == nil {
		if err = h.enter(p.PID); err != nil {
			_ = h.s.State.Update(func(f *state.File) error {
				if rec, ok := f.Services[h.key.Name]; ok {
					rec.Procs = removeProc(rec.Procs, p.Identity)
				}
				return nil
			})
		}
	}
	if err != nil {
		_, _ = p.Stop(context.Background(), 0)
		h.dropUnusedCgroup()
		return petsfile.Process{}, err
	}
	release := p.Release
	if ahead {
		release = func() error { return p.ReleaseTo(proc.Release{Line: c.Line, Dir: c.Dir, Env: h.env(c.Env)}) }
	}
	if err := release(); err != nil {
		return petsfile.Process{}, err
	}
	// The waiter reports its command's process: the service's pid.
	released := time.Now()
	child, err := p.Child(ctx)
	if err != nil {
		return petsfile.Process{}, fmt.Errorf("start %q: %w", c.Line, err)
	}
	slog.Debug("supervise: started", "service", h.key, "tracking", h.tracking, "forked ahead", ahead, "reused", reused, "recorded ahead", recorded,
		"fork+record", released.Sub(t0), "waiter", time.Since(released))
	h.starts = append(h.starts, child)
	h.s.mu.Lock()
	h.s.procs[child.PID] = p
	h.s.mu.Unlock()
	// The child is recorded while the provider waits for it to be ready
	// (Up waits for the write before it records the service ready): the
	// waiter, recorded already, is what finds and stops its tree.
	done := make(chan error, 1)
	h.recording = append(h.recording, done)
	go func() { // awaited by awaitRecords
		if h.replacing != nil {
			if err := h.replacing(); err != nil {
				done <- err
				return
			}
		}
		done <- h.s.State.Update(func(f *state.File) error {
			if rec, ok := f.Services[h.key.Name]; ok {
				for i := range rec.Procs {
					if rec.Procs[i].Identity == p.Identity {
						// Its command too, for a waiter recorded before it
						// was known (recordAhead).
						rec.Procs[i].Child, rec.Procs[i].Cmd, rec.Procs[i].Dir = child, c.Line, c.Dir
					}
				}
			}
			return nil
		})
	}()
	h.s.printf("Pets ran %q", c.Line)
	return petsfile.Process{PID: child.PID}, nil
}

func (h *host) Run(ctx context.Context, c petsfile.Command) error {
	h.forking()
	h.settleHeld() // its cgroup is the prefork's to make
	if err := h.track(); err != nil {
		return err
	}
	var id proc.Identity
	from := h.log.Pos()
	err := proc.Run(ctx, proc.Spec{Line: c.Line, Dir: c.Dir, Env: h.env(c.Env), Out: h.log}, func(i proc.Identity) {
		id = i
		_ = h.s.State.Update(func(f *state.File) error {
			if rec, ok := f.Services[h.key.Name]; ok {
				rec.Procs = append(rec.Procs, state.Proc{Identity: i, Cmd: c.Line, Dir: c.Dir, Run: true})
				rec.Instance, rec.Tracking, rec.Cgroup = h.instance, h.tracking, h.cgroup
			}
			return nil
		})
		// In its cgroup before it runs, so that whatever it leaves behind
		// is stopped with the service. (If it cannot be put there, it is
		// still stopped as a group when it ends.)
		if err := h.enter(i.PID); err != nil {
			slog.Debug("supervise: run() outside the service's cgroup", "service", h.key, "err", err)
		}
	})
	_ = h.s.State.Update(func(f *state.File) error {
		if rec, ok := f.Services[h.key.Name]; ok {
			rec.Procs = removeProc(rec.Procs, id)
		}
		return nil
	})
	h.dropUnusedCgroup() // if it never ran
	if err != nil {
		tail := logfile.TailSince(from, tailLines)
		msg := fmt.Sprintf("run %q: %v", c.Line, err)
		if len(tail) > 0 {
			msg += "; its output ended with:\n  " + strings.Join(tail, "\n  ")
		}
		return errors.New(msg)
	}
	h.s.printf("Pets ran %q", c.Line)
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
