package supervise

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/logfile"

	"github.com/fatih/color"
	"github.com/fsnotify/fsnotify"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/state"
)

// ColorEnabled decides whether to colour output: mode "always" or "never"
// wins; "auto" colours a terminal unless NO_COLOR is set (https://no-color.org).
func ColorEnabled(mode string, isTerminal bool, noColor string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal && noColor == ""
}

var palette = []color.Attribute{color.FgCyan, color.FgMagenta, color.FgYellow, color.FgGreen, color.FgBlue, color.FgRed}

// Prefixer writes lines with a "name | " prefix, one colour per name.
type Prefixer struct {
	W      io.Writer
	Color  bool
	Width  int // pad names to this width
	mu     sync.Mutex
	colors map[string]*color.Color // guarded by mu
}

// Line writes one line for name.
func (p *Prefixer) Line(name, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.colors == nil {
		p.colors = map[string]*color.Color{}
	}
	c, ok := p.colors[name]
	if !ok {
		c = color.New(palette[len(p.colors)%len(palette)])
		if p.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		p.colors[name] = c
	}
	prefix := fmt.Sprintf("%-*s |", p.Width, name)
	fmt.Fprintf(p.W, "%s %s\n", c.Sprint(prefix), line)
}

// LogFiles returns the log files for the selected services: names may be
// "name" (every tier with a log) or "name-tier"; none means every log.
func LogFiles(dir *state.Dir, names []string) (map[string]string, error) {
	all, err := filepath.Glob(filepath.Join(dir.Path, "logs", "*.log"))
	if err != nil {
		return nil, err
	}
	byKey := map[string]string{}
	for _, p := range all {
		byKey[strings.TrimSuffix(filepath.Base(p), ".log")] = p
	}
	if len(names) == 0 {
		return byKey, nil
	}
	out := map[string]string{}
	for _, n := range names {
		found := false
		for k, p := range byKey {
			if k == n || (strings.HasPrefix(k, n+"-") && !strings.Contains(k[len(n)+1:], "-")) {
				out[k] = p
				found = true
			}
		}
		if !found {
			keys := make([]string, 0, len(byKey))
			for k := range byKey {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			hint := "no service has logged anything yet; run pets up first"
			if len(keys) > 0 {
				hint = "services with logs: " + strings.Join(keys, ", ")
			}
			return nil, &petsfile.UsageError{Msg: fmt.Sprintf("no log for %q", n), Hint: hint}
		}
	}
	return out, nil
}

// ShowLogs copies the given logs (key -> path) to w. With one log the lines
// are copied as they are; with several each line gets a prefixed, coloured
// service name. With follow it keeps printing what is appended until ctx ends.
func ShowLogs(ctx context.Context, files map[string]string, follow bool, w io.Writer, useColor bool) error {
	f := newLogFollower(files, w, useColor, true)
	f.raw = len(files) == 1
	if follow {
		return f.Run(ctx)
	}
	defer f.close()
	if err := f.readAll(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		f.tails[k].flush(func(l []byte) { f.emit(k, l) })
	}
	return nil
}

// tail reads whole lines appended to a log since the last read, across
// its rotations (see package logfile): when the file it was reading has been
// renamed, it reads the rest of that file, then the files rotated after it,
// then the new one. Writers rotate only between lines and never write to a
// renamed file, so no line is missed or read twice (unless the reader falls
// more than logfile.Keep rotations behind: what was removed is gone).
type tail struct {
	path    string
	offset  int64       // in file
	file    os.FileInfo // the file last read; nil: none yet
	backlog bool        // no file read yet: begin with the oldest rotated file
	partial []byte
}

func (t *tail) read(line func([]byte)) error {
	files, err := pinLog(t.path)
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	if err != nil || len(files) == 0 {
		return err
	}
	from, off := len(files)-1, t.offset // the current file, where the last read ended
	switch {
	case t.file == nil && t.backlog:
		from, off = 0, 0
	case t.file != nil:
		from = -1
		for i, f := range files {
			if os.SameFile(f.fi, t.file) {
				from = i
			}
		}
		if from < 0 {
			// Rotated out of the files kept: read what is left.
			from, off, t.partial = 0, 0, nil
		}
	}
	t.backlog = false
	for i := from; i < len(files); i++ {
		if i != from {
			off = 0
		}
		if files[i].fi.Size() < off {
			off, t.partial = 0, nil // truncated
		}
		end, err := t.readFile(files[i].f, off, files[i].fi.Size(), line)
		t.file, t.offset = files[i].fi, end
		if err != nil {
			return err
		}
	}
	return nil
}

// readFile emits the whole lines of f from off up to end (its size when it
// was opened: a read ends even while a service logs faster than it is
// read) and returns where it stopped reading.
func (t *tail) readFile(f *os.File, off, end int64, line func([]byte)) (int64, error) {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	if end < off {
		return off, nil
	}
	r := bufio.NewReader(io.LimitReader(f, end-off))
	for {
		chunk, err := r.ReadBytes('\n')
		off += int64(len(chunk))
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			full := append(t.partial, chunk[:len(chunk)-1]...)
			line(bytes.TrimSuffix(full, []byte{'\r'}))
			t.partial = nil
		} else {
			t.partial = append(t.partial, chunk...)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// pinnedFile is a log file opened, and what it was when opened.
type pinnedFile struct {
	f  *os.File
	fi os.FileInfo
}

// pinLog opens the files of the log at path, oldest first (the rotated
// ones, then path), as they are at one moment: under the writers' lock, so
// that no rotation happens while they are opened.
func pinLog(path string) (out []pinnedFile, err error) {
	logfile.Locked(path, func() {
		for _, p := range logfile.Chain(path) {
			f, ferr := os.Open(p)
			if os.IsNotExist(ferr) {
				continue
			}
			if ferr != nil {
				for _, x := range out {
					x.f.Close()
				}
				out, err = nil, ferr
				return
			}
			fi, ferr := f.Stat()
			if ferr != nil {
				f.Close()
				continue
			}
			out = append(out, pinnedFile{f, fi})
		}
	})
	return out, err
}

// flush emits a last line that has no newline yet.
func (t *tail) flush(line func([]byte)) {
	if len(t.partial) > 0 {
		line(t.partial)
		t.partial = nil
	}
}

// LogFollower prints what is appended to some services' logs, each line
// prefixed with its service. It reads when inotify says a log was written
// (so it costs nothing while services are quiet), and every second in case
// no event comes (network filesystems).
type LogFollower struct {
	mu        sync.Mutex // guards keys and tails: Add may run while Run does
	keys      []string
	tails     map[string]*tail
	pf        *Prefixer
	fw        *fsnotify.Watcher // nil if inotify is unavailable
	dirs      map[string]bool
	fromStart bool // new logs are read from their beginning, not their end
	raw       bool // lines without a prefix (one log)
}

// FollowLogs starts following the given logs (key -> path) from their
// current ends; its watches are in place when it returns. Run prints.
func FollowLogs(files map[string]string, w io.Writer, useColor bool) *LogFollower {
	return newLogFollower(files, w, useColor, false)
}

func newLogFollower(files map[string]string, w io.Writer, useColor, fromStart bool) *LogFollower {
	f := &LogFollower{tails: map[string]*tail{}, dirs: map[string]bool{}, pf: &Prefixer{W: w, Color: useColor}, fromStart: fromStart}
	if fw, err := fsnotify.NewWatcher(); err == nil {
		f.fw = fw
	}
	f.Add(files)
	return f
}

// Add follows more logs (key -> path), from their current ends. Keys already
// followed are left as they are.
func (f *LogFollower) Add(files map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, p := range files {
		if _, ok := f.tails[k]; ok {
			continue
		}
		t := &tail{path: p, backlog: f.fromStart}
		if fi, err := os.Stat(p); err == nil && !f.fromStart {
			t.file, t.offset = fi, fi.Size()
		}
		f.tails[k] = t
		f.keys = append(f.keys, k)
		f.pf.mu.Lock()
		f.pf.Width = max(f.pf.Width, len(k))
		f.pf.mu.Unlock()
		if d := filepath.Dir(p); !f.dirs[d] && f.fw != nil {
			f.dirs[d] = true
			_ = f.fw.Add(d)
		}
	}
	sort.Strings(f.keys)
}

// emit writes one line of key's log.
func (f *LogFollower) emit(key string, line []byte) {
	if f.raw {
		f.pf.mu.Lock()
		defer f.pf.mu.Unlock()
		f.pf.W.Write(append(line, '\n'))
		return
	}
	f.pf.Line(key, string(line))
}

// readAll prints what every followed log has gained.
func (f *LogFollower) readAll() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if err := f.tails[k].read(func(l []byte) { f.emit(k, l) }); err != nil {
			return err
		}
	}
	return nil
}

// readOf prints what the followed log that file belongs to (the log
// itself, one of its rotated files, or its writers' lock) has gained.
func (f *LogFollower) readOf(file string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		t := f.tails[k]
		if file == t.path+".lock" || slices.Contains(logfile.Chain(t.path), file) {
			if err := t.read(func(l []byte) { f.emit(k, l) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *LogFollower) close() {
	if f.fw != nil {
		f.fw.Close()
	}
}

// Run prints until ctx ends, then reads once more and closes the watches.
func (f *LogFollower) Run(ctx context.Context) error {
	defer f.close()
	var (
		events chan fsnotify.Event
		errs   chan error
	)
	if f.fw != nil {
		events, errs = f.fw.Events, f.fw.Errors
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	all := true // read every log, not just the one an event named
	for {
		if all {
			if err := f.readAll(); err != nil {
				return err
			}
		}
		all = true
		select {
		case <-ctx.Done():
			// What was written since, including a last line without its
			// newline (the process is done writing it, or never will).
			err := f.readAll()
			f.mu.Lock()
			for _, k := range f.keys {
				f.tails[k].flush(func(l []byte) { f.emit(k, l) })
			}
			f.mu.Unlock()
			return err
		case ev := <-events:
			// Only the log written to: with many services starting at
			// once, each writing its log, reading every log at every
			// event would cost as many reads as services per event.
			if err := f.readOf(ev.Name); err != nil {
				return err
			}
			all = false
		case <-errs: // events lost: read them all
		case <-tick.C:
		}
	}
}
