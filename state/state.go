// Package state keeps the on-disk record of running pets: which services are
// up, their process groups (pid plus start time), addresses and logs.
//
// Layout under the state directory ($PETS_HOME, else $XDG_STATE_HOME/pets,
// else ~/.local/state/pets; %LocalAppData%\pets on Windows):
//
//	state.json        the record, replaced atomically (write temp, rename); not
//	                  fsynced: it describes running processes, and none survive
//	                  a power loss, the only thing fsync would guard against
//	state.lock        flock'd around every read-modify-write of state.json
//	exits/NAME.PID.START  how a waiter's command ended, written by the waiter
//	                  and folded into state.json by the next update (exits.go)
//	up.lock           held by a `pets up` while it changes which services run
//	locks/NAME.lock   held while a service of that name starts, stops or restarts
//	logs/NAME-TIER.log  each service's output, appended across restarts, rotated
//	                  at a size into NAME-TIER.log.1 .. .3; NAME-TIER.log.lock
//	                  serializes its writers
//
// A process is recorded as soon as it is forked, before pets waits for it, so
// that a `pets` killed at any point leaves nothing that `pets down` cannot find.
package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/windmilleng/pets/proc"
)

// Proc is one recorded process group.
type Proc struct {
	proc.Identity
	Cmd string `json:"cmd"`
	Dir string `json:"dir,omitempty"`
	Run bool   `json:"run,omitempty"` // a foreground run(): removed when it ends
	// Waiter: the process is pets' waiter, which runs Cmd as its child (a
	// process group leader, Child once the waiter has reported it) and
	// stays until Cmd's whole tree is gone (see package supervise).
	Waiter bool          `json:"waiter,omitempty"`
	Child  proc.Identity `json:"child,omitzero"`
	// Exit is how Cmd ended ("exit status 1", "signal: killed"), as its
	// waiter recorded it.
	Exit string `json:"exit,omitempty"`
}

// Status of a recorded service, as recorded (events.State names; a
// service whose processes are gone is crashed whatever its record says).
const (
	Starting = "starting"
	Ready    = "ready"
	Failed   = "failed"   // it did not become ready (Reason says why); no process is left
	Building = "building" // its first build step runs (Procs holds the build, as a run)
)

// Service is one running service.
type Service struct {
	Name     string    `json:"name"`
	Tier     string    `json:"tier"`
	Petsfile string    `json:"petsfile"`       // the file that registered it
	Root     string    `json:"root,omitempty"` // the Petsfile pets was run with (which may load Petsfile)
	Deps     []string  `json:"deps,omitempty"` // names of the services it depends on
	Status   string    `json:"status"`
	Started  time.Time `json:"started"`
	PID      int       `json:"pid,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Port     int       `json:"port,omitempty"`
	Procs    []Proc    `json:"procs,omitempty"`
	// Fingerprint of the definition it was started from (see
	// petsfile.Project.Fingerprints), to notice a changed Petsfile.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Reason says why a failed or crashed service is down; Exit how its
	// main process ended, where pets knows it.
	Reason string `json:"reason,omitempty"`
	Exit   string `json:"exit,omitempty"`
	// Fresh is what the running instance was started or last synced from;
	// nil (a record of an older pets): its freshness is unknown.
	Fresh *Stamp `json:"fresh,omitempty"`
	// Instance is the PETS_INSTANCE value in the environment of every
	// process of this start. Tracking says how pets finds those processes:
	// "cgroup" (all are in the cgroup v2 directory Cgroup), "environ" (by
	// Instance in their environment, their process groups and the
	// descendants of these), "group" (by their process groups alone: where
	// pets cannot see processes' environments, and in the records of older
	// pets, which leave it empty).
	Instance string `json:"instance,omitempty"`
	Tracking string `json:"tracking,omitempty"`
	Cgroup   string `json:"cgroup,omitempty"`
}

// Stamp says what a running instance was started or last synced from, so
// that pets can tell whether what runs is what is on disk.
type Stamp struct {
	Taken time.Time `json:"taken"`
	// Config maps the Petsfile and each file it loads (absolute paths) to
	// the sha256 (hex) of the content that was evaluated.
	Config map[string]string `json:"config,omitempty"`
	// Manifest is the file, relative to the state directory, that lists
	// the service's watch set (how to find it, and each file's size and
	// modification time when the stamp was taken).
	Manifest string `json:"manifest,omitempty"`
	// Pods are the pods (namespace/name, uid and container) that hold its
	// sync rules' trees.
	Pods []string `json:"pods,omitempty"`
}

// Watcher is a watching pets (pets up --watch, pets watch): which services
// it watches and where it takes requests (pets restart, list, wait).
type Watcher struct {
	proc.Identity
	Socket   string    `json:"socket"`
	Services []string  `json:"services"` // display names, "name-tier"
	Petsfile string    `json:"petsfile"`
	Started  time.Time `json:"started"`
	UI       string    `json:"ui,omitempty"` // its status page's address (http://127.0.0.1:PORT/, without its token), if it serves one
}

// Key is the display name "name-tier".
func (s *Service) Key() string { return s.Name + "-" + s.Tier }

// Host is "hostname:port" or "".
func (s *Service) Host() string {
	if s.Hostname == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", s.Hostname, s.Port)
}

// File is the whole record.
type File struct {
	Version  int                 `json:"version"`
	Services map[string]*Service `json:"services"` // by name: one tier of a name runs at a time
	Watchers []Watcher           `json:"watchers,omitempty"`
}

// Dir is a state directory.
type Dir struct {
	Path string
	// Removed, if set, is called when a read finds the record gone while
	// this process had services recorded in it (see read): once, until
	// the record is written again.
	Removed func()
	removed atomic.Bool
	// ahead is the file the next write fills (see tempFile), once made.
	ahead atomic.Pointer[os.File]
	// events is the events file AppendEvent appends to, kept open.
	events appending
}

// DefaultDir returns the state directory pets uses.
func DefaultDir() (string, error) {
	if d := os.Getenv("PETS_HOME"); d != "" {
		return filepath.Abs(d)
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "pets"), nil
		}
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "pets"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find state directory: %w (set PETS_HOME)", err)
	}
	return filepath.Join(home, ".local", "state", "pets"), nil
}

// Open creates the state directory if needed.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(path, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	return &Dir{Path: path}, nil
}

// LogPath is where the output of service name-tier is appended.
func (d *Dir) LogPath(name, tier string) string {
	return filepath.Join(d.Path, "logs", name+"-"+tier+".log")
}

func (d *Dir) file() string { return filepath.Join(d.Path, "state.json") }

// Read returns the current record. Writers replace the file atomically, so a
// reader never sees half of one.
// The waiters' records of how their commands ended are folded in (see
// exits.go).
func (d *Dir) Read() (*File, error) {
	f, _, err := d.read()
	return f, err
}

// read is Read, also returning the exit notes it folded in.
func (d *Dir) read() (*File, []exitNote, error) {
	// The notes before state.json: a note removed meanwhile was written
	// into state.json first.
	notes := d.readExits()
	f := &File{Version: 1, Services: map[string]*Service{}}
	data, err := os.ReadFile(d.file())
	if errors.Is(err, os.ErrNotExist) {
		if kept := parsedOf(d.file()).last(); kept != nil && len(kept.Services) > 0 {
			// pets never removes the record (pets down writes one that
			// names nothing): someone removed it, or the directory, while
			// this process had services recorded. They may run still; as
			// this process last knew them, they stay recorded (the next
			// update writes them back) rather than run unrecorded.
			if !d.removed.Swap(true) && d.Removed != nil {
				d.Removed()
			}
			foldExits(kept, notes)
			return kept, notes, nil
		}
		return f, notes, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read state: %w", err)
	}
	if len(bytes.Trim(data, "\x00")) == 0 {
		// pets never writes an empty record: this one lost its last write
		// to a crash of the machine (see replace), which nothing it named
		// survived.
		return f, notes, nil
	}
	if f, err = parsedOf(d.file()).parse(data); err != nil {
		return nil, nil, fmt.Errorf("read state %s: %w (move it away to start afresh; the processes it names may need stopping by hand)", d.file(), err)
	}
	foldExits(f, notes)
	return f, notes, nil
}

// parsed is the last version of one state file that this process parsed
// or wrote: a read of the same bytes gets a copy of it rather than a
// parse. The file is still read whole each time, so a version written by
// anyone else, however soon after the last, is parsed; but a parse costs
// far more than a copy (a few hundred microseconds with 30 services
// recorded), and a round that bounces 30 services reads the record
// hundreds of times, nearly always just after this process wrote it.
type parsed struct {
	mu   sync.Mutex
	data []byte
	f    *File // never handed out: parse returns copies
}

// parsedFiles holds a *parsed per state file path.
var parsedFiles sync.Map

// parses counts the parses of state files (for tests: what a read costs).
var parses atomic.Int64

func parsedOf(path string) *parsed {
	if p, ok := parsedFiles.Load(path); ok {
		return p.(*parsed)
	}
	p, _ := parsedFiles.LoadOrStore(path, &parsed{})
	return p.(*parsed)
}

// parse returns data as a File of the caller's own.
// The parse itself runs outside p.mu, so that goroutines reading different
// versions do not wait for each other; whichever pair is kept last is
// consistent (bytes and their File), so it can only cost a later parse.
func (p *parsed) parse(data []byte) (*File, error) {
	p.mu.Lock()
	if p.f != nil && bytes.Equal(p.data, data) {
		defer p.mu.Unlock()
		return p.f.clone(), nil
	}
	p.mu.Unlock()
	parses.Add(1)
	f := &File{Version: 1, Services: map[string]*Service{}}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, err
	}
	if f.Services == nil {
		f.Services = map[string]*Service{}
	}
	kept := f.clone()
	p.mu.Lock()
	p.data, p.f = bytes.Clone(data), kept
	p.mu.Unlock()
	return f, nil
}

// wrote notes that data, f marshalled, is the file's version now. (What a
// parse of data gives differs from f only where JSON cannot tell: a time's
// monotonic reading, an empty list against none.)
func (p *parsed) wrote(data []byte, f *File) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data, p.f = data, f.clone()
}

// last returns a copy of the version p holds, or nil.
func (p *parsed) last() *File {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	return p.f.clone()
}

// Update reads the record, applies fn and writes it back, all under the
// state lock, so concurrent pets commands never lose each other's changes.
// If fn returns an error nothing of fn's is written.
//
// Updates that goroutines of one process ask for while another is being
// written are committed together, in the order asked: one read and one
// write under the lock for all of them (each fn still sees the changes of
// those before it, and one that fails is undone alone). When many services
// start or stop at once, each recording itself several times, this is what
// keeps the lock from becoming a queue: one write costs about a millisecond
// with 30 services recorded, and 30 bounces ask for some 200.
func (d *Dir) Update(fn func(*File) error) error {
	c := committerOf(d.Path)
	u := &update{fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	c.pending = append(c.pending, u)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead {
		<-u.done
		if !u.lead {
			return u.err
		}
	}
	// This call commits what is pending (its own update among it), then
	// hands the next batch to the first update asked for meanwhile.
	c.mu.Lock()
	batch := c.pending
	c.pending = nil
	c.mu.Unlock()
	d.commit(batch, u)
	c.mu.Lock()
	if len(c.pending) > 0 {
		next := c.pending[0]
		next.lead = true
		close(next.done)
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return u.err
}

// committer batches one process's updates of one state directory.
type committer struct {
	mu      sync.Mutex
	pending []*update // asked for, not yet taken by a commit
	busy    bool      // an Update is committing
}

// update is one Update call: done is closed once it is committed (err
// set), or, with lead set, when it is to commit the next batch itself.
type update struct {
	fn   func(*File) error
	err  error
	lead bool
	done chan struct{}
}

// committers holds a committer per state directory path.
var committers sync.Map

func committerOf(path string) *committer {
	if c, ok := committers.Load(path); ok {
		return c.(*committer)
	}
	c, _ := committers.LoadOrStore(path, &committer{})
	return c.(*committer)
}

// commit applies batch's updates in order under the state lock, with one
// read and one write, and tells each but self how it went.
func (d *Dir) commit(batch []*update, self *update) {
	defer func() {
		for _, u := range batch {
			if u != self {
				close(u.done)
			}
		}
	}()
	fail := func(err error) {
		for _, u := range batch {
			u.err = err
		}
	}
	unlock, err := lockFile(context.Background(), filepath.Join(d.Path, "state.lock"))
	if errors.Is(err, os.ErrNotExist) {
		// The directory is gone (see read): made again, so that what this
		// process records is not lost with it.
		if _, err = Open(d.Path); err == nil {
			unlock, err = lockFile(context.Background(), filepath.Join(d.Path, "state.lock"))
		}
	}
	if err != nil {
		fail(err)
		return
	}
	defer unlock()
	f, notes, err := d.read()
	if err != nil {
		fail(err)
		return
	}
	applied := false
	for _, u := range batch {
		var before *File
		if len(batch) > 1 {
			before = f.clone() // to undo u alone if it fails
		}
		if u.err = u.fn(f); u.err != nil {
			if before != nil {
				f = before
			}
			continue
		}
		applied = true
	}
	if !applied {
		return
	}
	if err := d.write(f); err != nil {
		for _, u := range batch {
			if u.err == nil {
				u.err = err
			}
		}
		return
	}
	d.removeExits(notes) // state.json has them now
}

// clone is a deep copy of f: nothing it holds is shared with f.
func (f *File) clone() *File {
	out := &File{Version: f.Version, Services: make(map[string]*Service, len(f.Services))}
	if f.Services == nil {
		out.Services = nil
	}
	for name, s := range f.Services {
		if s == nil {
			out.Services[name] = nil
			continue
		}
		c := *s
		c.Deps = slices.Clone(s.Deps)
		c.Procs = slices.Clone(s.Procs)
		if s.Fresh != nil {
			fr := *s.Fresh
			fr.Config = maps.Clone(s.Fresh.Config)
			fr.Pods = slices.Clone(s.Fresh.Pods)
			c.Fresh = &fr
		}
		out.Services[name] = &c
	}
	if f.Watchers != nil {
		out.Watchers = make([]Watcher, len(f.Watchers))
		for i, w := range f.Watchers {
			w.Services = slices.Clone(w.Services)
			out.Watchers[i] = w
		}
	}
	return out
}

// newTemp makes a file for a write to fill, and returns it and its name.
func (d *Dir) newTemp() (*os.File, string, error) {
	f, err := os.CreateTemp(d.Path, "state-*.json")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}

// beforeReplace, if set (by a test), runs between a write's temporary
// file and its rename into place.
var beforeReplace func()

func (d *Dir) write(f *File) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	// Written whole under a temporary name, then put in the record's place
	// (replace): a reader sees the old record or the new one, never half
	// of one.
	tmp, name, err := d.tempFile()
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if beforeReplace != nil {
			beforeReplace()
		}
		err = replace(name, d.file())
	}
	if err != nil {
		// state.json is as it was: what this process last read or wrote
		// of it stays what it knows (read returns it should the file be
		// gone, as when its directory is removed while pets writes).
		_ = os.Remove(name)
		return fmt.Errorf("write state: %w", err)
	}
	parsedOf(d.file()).wrote(data, f)
	d.removed.Store(false)
	d.makeAhead()
	proc.FaultPoint("state-write") // a test hook: see proc.FaultEnv
	return nil
}

// LockUp takes the lock that serialises `pets up` runs. waiting is called
// once if another holder makes this call wait. The returned func releases it.
func (d *Dir) LockUp(ctx context.Context, waiting func()) (func(), error) {
	path := filepath.Join(d.Path, "up.lock")
	if unlock, err := tryLockFile(path); err == nil {
		return unlock, nil
	}
	if waiting != nil {
		waiting()
	}
	return lockFile(ctx, path)
}
