package state

// The events log, beside the record in the state directory:
//
//	events.jsonl    one JSON object (an events.Event) per line, appended
//	events.1.jsonl  the previous generation: events.jsonl is renamed to it
//	                (replacing the one before) when it would grow past the cap
//	events.lock     flock'd around every append and every rotation
//
// The cap is 4 MiB (PETS_EVENTS_MAX, in bytes, overrides it), so at most about
// twice that is on disk. Every append takes events.lock, opens events.jsonl,
// rotates it if needed and writes the line with one write(2), unbuffered: the
// events of a pets killed with kill -9 are all there, lines never interleave,
// and nothing is ever written to a generation after it was renamed, which is
// what lets a follower switch files without losing or repeating a line. A
// writer killed in the middle of its write(2) can leave a partial line; the
// next append first ends it with a newline, and readers skip it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/windmilleng/pets/events"
)

const (
	eventsName     = "events.jsonl"
	eventsOldName  = "events.1.jsonl"
	eventsLockName = "events.lock"

	// DefaultEventsMax is the size in bytes past which events.jsonl is
	// rotated, unless PETS_EVENTS_MAX says otherwise.
	DefaultEventsMax = 4 << 20
)

var (
	// eventsMax is the cap, read once; tests replace it.
	eventsMax = sync.OnceValue(func() int64 {
		s := os.Getenv("PETS_EVENTS_MAX")
		if s == "" {
			return DefaultEventsMax
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			slog.Debug("ignoring PETS_EVENTS_MAX: not a positive number of bytes", "value", s)
			return DefaultEventsMax
		}
		return n
	})
	// eventsPoll is how often a follower looks at the files when fsnotify
	// says nothing (it is only a safety net); tests replace it.
	eventsPoll = time.Second
	// eventsLockWait bounds how long an append waits for events.lock, held
	// only for a few system calls unless its holder is stopped (Ctrl-Z).
	eventsLockWait = 10 * time.Second
)

// EventsPath is the file events are appended to.
func (d *Dir) EventsPath() string { return filepath.Join(d.Path, eventsName) }

func (d *Dir) eventsOldPath() string  { return filepath.Join(d.Path, eventsOldName) }
func (d *Dir) eventsLockPath() string { return filepath.Join(d.Path, eventsLockName) }

// AppendEvent appends e to the events file as one line, filling in V and
// Time when they are zero, and rotates the file when it would grow past the
// cap. It is safe to call from several goroutines and several processes.
func (d *Dir) AppendEvent(e events.Event) error {
	if e.V == 0 {
		e.V = events.Version
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	line = append(line, '\n')

	ctx, cancel := context.WithTimeout(context.Background(), eventsLockWait)
	defer cancel()
	// One goroutine of this process at a time asks for the lock: the others
	// wait here, not each in flock(2), whose release wakes every waiter.
	turn := appendTurn(d.eventsLockPath())
	select {
	case turn <- struct{}{}:
		defer func() { <-turn }()
	case <-ctx.Done():
		return fmt.Errorf("append event: lock %s: %w", d.eventsLockPath(), ctx.Err())
	}
	unlock, err := lockFile(ctx, d.eventsLockPath())
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	defer unlock()

	path := d.EventsPath()
	f, size, err := d.events.open(path)
	if err != nil {
		return err
	}
	if size > 0 && size+int64(len(line)) > eventsMax() {
		// Close before renaming: Windows renames no open file.
		d.events.close()
		if err := os.Rename(path, d.eventsOldPath()); err != nil {
			// Better a file past its cap than a lost event.
			slog.Debug("rotate events", "err", err)
		}
		if f, size, err = d.events.open(path); err != nil {
			return err
		}
	}
	if size > 0 && size != d.events.end {
		// A writer killed in the middle of its line left it without a
		// newline: end it, so that this line is not glued to it. (Where
		// the file ends where this Dir's last line did, it ends with one.)
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		d.events.close()
		return fmt.Errorf("append event: %w", err)
	}
	d.events.end = size + int64(len(line))
	if !keepEventsOpen {
		d.events.close()
	}
	return nil
}

// keepEventsOpen: not on Windows, which renames no open file (another
// process could not rotate it).
const keepEventsOpen = runtime.GOOS != "windows"

// appending is the events file as a Dir last opened it to append, kept
// open from one append to the next where keepEventsOpen (its open and
// close were a third of an append's time); used under the append turn.
type appending struct {
	f   *os.File
	fi  os.FileInfo // f's, as opened
	end int64       // where the last line written through f ended; -1: none
}

// open returns the events file at path, open to append, and its size:
// the one kept open if path still names it (a rotation, by any process,
// makes it another), else opened anew.
func (a *appending) open(path string) (*os.File, int64, error) {
	if a.f != nil {
		if fi, err := os.Stat(path); err == nil && os.SameFile(fi, a.fi) {
			return a.f, fi.Size(), nil
		}
		a.close()
	}
	f, size, err := openEventsForAppend(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("append event: %w", err)
	}
	a.f, a.fi, a.end = f, fi, -1
	return f, size, nil
}

func (a *appending) close() {
	if a.f != nil {
		a.f.Close()
	}
	a.f, a.fi, a.end = nil, nil, -1
}

// appendTurns holds, per events lock path, a channel of capacity one: the
// turn of this process's appenders.
var appendTurns sync.Map

func appendTurn(path string) chan struct{} {
	if c, ok := appendTurns.Load(path); ok {
		return c.(chan struct{})
	}
	c, _ := appendTurns.LoadOrStore(path, make(chan struct{}, 1))
	return c.(chan struct{})
}

// openEventsForAppend opens (creating) the events file for appending, and
// readable so that its last byte can be checked, and returns its size.
func openEventsForAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("append event: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("append event: %w", err)
	}
	return f, fi.Size(), nil
}

// EventQuery says which events ReadEvents passes on.
type EventQuery struct {
	// Last is how many of the matching events already in the files to pass
	// on first, the most recent ones, oldest first: 0 none, negative all.
	Last int
	// Match selects events; nil selects every event.
	Match func(events.Event) bool
	// Follow keeps passing on matching events as they are appended, until
	// the context ends.
	Follow bool
}

// RecentEvents returns the last n events (every one kept if n is negative),
// oldest first, from events.1.jsonl and events.jsonl. Malformed and
// truncated lines are skipped.
func (d *Dir) RecentEvents(n int) ([]events.Event, error) {
	var out []events.Event
	err := d.ReadEvents(context.Background(), EventQuery{Last: n}, func(e events.Event, _ []byte) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// FollowEvents calls fn with the last from events (see EventQuery.Last),
// then with each event appended after, in order, until ctx ends (it then
// returns nil) or fn returns an error (returned as it is).
func (d *Dir) FollowEvents(ctx context.Context, from int, fn func(events.Event) error) error {
	return d.ReadEvents(ctx, EventQuery{Last: from, Follow: true}, func(e events.Event, _ []byte) error { return fn(e) })
}

// ReadEvents calls fn with each event q selects and its line as it is on
// disk (without the newline; fn may keep it). Without q.Follow it returns
// once the recent events are passed on; with it, when ctx ends (returning
// nil) or fn returns an error (returned as it is).
//
// A follower notices appends at once (fsnotify on the state directory, with
// a slow poll as a safety net), waits for a partial line's newline, and
// follows the file across rotations without losing or repeating a line. It
// reads the generation it has open to its end and, after two rotations,
// the one in between from events.1.jsonl; only a follower that falls three
// rotations behind (more than twice the cap's worth of events appended
// while fn blocks, say) finds a generation gone, and skips it.
func (d *Dir) ReadEvents(ctx context.Context, q EventQuery, fn func(e events.Event, line []byte) error) error {
	r := &eventReader{d: d, match: q.Match, fn: fn}
	defer r.close()
	var fw *fsnotify.Watcher
	if q.Follow {
		// Watch before the first read, so that nothing appended after it
		// goes unnoticed.
		fw = watchEvents(d.Path)
		if fw != nil {
			defer fw.Close()
		}
	}
	if err := r.open(ctx); err != nil {
		if q.Follow && ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := r.recent(q.Last); err != nil {
		return err
	}
	if !q.Follow {
		return nil
	}
	return r.follow(ctx, fw)
}

func watchEvents(dir string) *fsnotify.Watcher {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		slog.Debug("follow events: polling only", "err", err)
		return nil
	}
	if err := fw.Add(dir); err != nil {
		slog.Debug("follow events: polling only", "err", err)
		fw.Close()
		return nil
	}
	return fw
}

// eventReader reads the events files; it belongs to one ReadEvents call.
type eventReader struct {
	d        *Dir
	match    func(events.Event) bool
	fn       func(events.Event, []byte) error
	fnFailed bool // fn returned an error: it is returned as it is

	cur *os.File // events.jsonl as it was when last opened; nil if there was none
	off int64    // in cur, just past the last complete line passed on
	// old is the generation in events.1.jsonl that needs no reading: it was
	// there when the reader started, or it was cur before a rotation. Kept
	// open so that its inode cannot be reused by a newer generation.
	old *os.File
}

func (r *eventReader) close() {
	if r.cur != nil {
		r.cur.Close()
	}
	if r.old != nil {
		r.old.Close()
	}
}

// openPair opens events.jsonl and events.1.jsonl (nil where absent) under
// the events lock, so that they are two consecutive generations.
func (r *eventReader) openPair(ctx context.Context) (cur, old *os.File, err error) {
	ctx, cancel := context.WithTimeout(ctx, eventsLockWait)
	defer cancel()
	unlock, err := lockFile(ctx, r.d.eventsLockPath())
	if err != nil {
		return nil, nil, fmt.Errorf("read events: %w", err)
	}
	defer unlock()
	if cur, err = openIfExists(r.d.EventsPath()); err != nil {
		return nil, nil, err
	}
	if old, err = openIfExists(r.d.eventsOldPath()); err != nil {
		if cur != nil {
			cur.Close()
		}
		return nil, nil, err
	}
	return cur, old, nil
}

func openIfExists(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return f, nil
}

func (r *eventReader) open(ctx context.Context) error {
	cur, old, err := r.openPair(ctx)
	if err != nil {
		return err
	}
	r.cur, r.old = cur, old
	return nil
}

// recent passes on the last n matching events of old and cur (all if n is
// negative) and leaves r.off just past cur's last complete line.
func (r *eventReader) recent(n int) error {
	type item struct {
		e    events.Event
		line []byte
	}
	var picked []item // newest first
	collect := func(line []byte) bool {
		if n >= 0 && len(picked) >= n {
			return false
		}
		if e, ok := r.parse(line); ok {
			picked = append(picked, item{e, append([]byte(nil), line...)})
		}
		return n < 0 || len(picked) < n
	}
	if r.cur != nil {
		fi, err := r.cur.Stat()
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if r.off, err = scanBack(r.cur, fi.Size(), collect); err != nil {
			return err
		}
	}
	if r.old != nil && (n < 0 || len(picked) < n) {
		fi, err := r.old.Stat()
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if _, err := scanBack(r.old, fi.Size(), collect); err != nil {
			return err
		}
	}
	for i := len(picked) - 1; i >= 0; i-- {
		if err := r.call(picked[i].e, picked[i].line); err != nil {
			return err
		}
	}
	return nil
}

// parse decodes a line; ok is false for anything that is not an event.
func (r *eventReader) parse(line []byte) (e events.Event, ok bool) {
	if len(line) == 0 || json.Unmarshal(line, &e) != nil || e.Type == "" {
		return e, false
	}
	return e, r.match == nil || r.match(e)
}

func (r *eventReader) emit(line []byte) error {
	if e, ok := r.parse(line); ok {
		return r.call(e, append([]byte(nil), line...))
	}
	return nil
}

func (r *eventReader) call(e events.Event, line []byte) error {
	err := r.fn(e, line)
	r.fnFailed = r.fnFailed || err != nil
	return err
}

// follow passes on what is appended until ctx ends.
func (r *eventReader) follow(ctx context.Context, fw *fsnotify.Watcher) error {
	var (
		fsEvents <-chan fsnotify.Event
		fsErrs   <-chan error
	)
	if fw != nil {
		fsEvents, fsErrs = fw.Events, fw.Errors
	}
	tick := time.NewTicker(eventsPoll)
	defer tick.Stop()
	// An error that comes of ctx ending (a lock not taken) is no error.
	ended := func(err error) error {
		if err != nil && !r.fnFailed && ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		if err := r.catchUp(ctx); err != nil {
			return ended(err)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				// What was appended before the end is still passed on.
				end, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				defer cancel()
				return ended(r.catchUp(end))
			case ev := <-fsEvents:
				if b := filepath.Base(ev.Name); b == eventsName || b == eventsOldName {
					break wait
				} // else state.json, logs/, the locks
			case <-fsErrs: // an overflow, say: look anyway
				break wait
			case <-tick.C:
				break wait
			}
		}
	}
}

// catchUp passes on every complete line appended to cur since the last
// look, across any rotations since.
func (r *eventReader) catchUp(ctx context.Context) error {
	for {
		if r.cur != nil {
			off, err := readLines(r.cur, r.off, r.emit)
			r.off = off
			if err != nil {
				return err
			}
		}
		fi, err := os.Stat(r.d.EventsPath())
		switch {
		case errors.Is(err, os.ErrNotExist):
			// Not created yet, or removed by hand: wait for a new one.
			return nil
		case err != nil:
			return fmt.Errorf("read events: %w", err)
		case r.cur == nil:
			// It appeared.
		default:
			ci, err := r.cur.Stat()
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			if os.SameFile(fi, ci) {
				if ci.Size() < r.off { // truncated by hand: start again
					r.off = 0
					continue
				}
				return nil
			}
		}
		if err := r.rotated(ctx); err != nil {
			return err
		}
	}
}

// rotated switches to the events.jsonl that replaced cur. Every line of cur
// was written before it was renamed (appends and renames hold the events
// lock), so reading it to its end now misses nothing; if events.1.jsonl is
// neither cur nor the generation before (two rotations since the last
// look), it is read whole too.
func (r *eventReader) rotated(ctx context.Context) error {
	cur, old, err := r.openPair(ctx)
	if err != nil {
		return err
	}
	closeNew := func() {
		for _, f := range []*os.File{cur, old} {
			if f != nil {
				f.Close()
			}
		}
	}
	if r.cur != nil {
		off, err := readLines(r.cur, r.off, r.emit)
		r.off = off
		if err != nil {
			closeNew()
			return err
		}
		// A partial line left at its end will never be completed.
	}
	if old != nil && !sameOpenFile(old, r.cur) && !sameOpenFile(old, r.old) {
		if _, err := readLines(old, 0, r.emit); err != nil {
			closeNew()
			return err
		}
	}
	if r.old != nil {
		r.old.Close()
	}
	if r.cur != nil {
		r.cur.Close()
	}
	r.cur, r.old, r.off = cur, old, 0
	return nil
}

func sameOpenFile(a, b *os.File) bool {
	if a == nil || b == nil {
		return false
	}
	ai, err1 := a.Stat()
	bi, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}

const eventsChunk = 64 << 10

// readLines calls fn with each complete line of f from off on, and returns
// the offset just past the last one: a partial line is read again next
// time, complete by then.
func readLines(f *os.File, off int64, fn func([]byte) error) (int64, error) {
	buf := make([]byte, 0, eventsChunk)
	for {
		if len(buf) == cap(buf) { // one line longer than the buffer
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := f.ReadAt(buf[len(buf):cap(buf)], off+int64(len(buf)))
		buf = buf[:len(buf)+n]
		start := 0
		for i := 0; i < len(buf); i++ {
			if buf[i] == '\n' {
				if ferr := fn(buf[start:i]); ferr != nil {
					return off + int64(i+1), ferr
				}
				start = i + 1
			}
		}
		off += int64(start)
		buf = append(buf[:0], buf[start:]...)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("read events: %w", err)
		}
	}
}

// scanBack calls fn with each complete line of f's first size bytes, the
// last one first, until fn returns false, and returns the offset just past
// the last complete line (a partial line after it is not passed on).
func scanBack(f *os.File, size int64, fn func([]byte) bool) (int64, error) {
	var (
		pos  = size // data holds f[pos:pos+len(data)]
		data []byte
		end  = int64(-1) // just past the last '\n', once found
	)
	more := func() error {
		n := min(int64(eventsChunk), pos)
		chunk := make([]byte, n, n+int64(len(data)))
		if _, err := f.ReadAt(chunk, pos-n); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read events: %w", err)
		}
		pos -= n
		data = append(chunk, data...)
		return nil
	}
	for end < 0 {
		if pos == 0 {
			return 0, nil // no complete line
		}
		if err := more(); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			end = pos + int64(i) + 1
			data = data[:i+1]
		}
	}
	// data ends with '\n' from here on.
	for len(data) > 0 {
		i := bytes.LastIndexByte(data[:len(data)-1], '\n')
		if i < 0 && pos > 0 {
			if err := more(); err != nil {
				return end, err
			}
			continue
		}
		if !fn(data[i+1 : len(data)-1]) {
			break
		}
		data = data[:i+1]
	}
	return end, nil
}
