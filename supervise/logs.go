package supervise

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

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

// tail reads whole lines appended to a file since the last read.
type tail struct {
	path    string
	offset  int64
	partial []byte
}

func (t *tail) read(line func([]byte)) error {
	f, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < t.offset {
		t.offset, t.partial = 0, nil // truncated
	}
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReader(f)
	for {
		chunk, err := r.ReadBytes('\n')
		t.offset += int64(len(chunk))
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			full := append(t.partial, chunk[:len(chunk)-1]...)
			line(bytes.TrimSuffix(full, []byte{'\r'}))
			t.partial = nil
		} else {
			t.partial = append(t.partial, chunk...)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
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
		t := &tail{path: p}
		if fi, err := os.Stat(p); err == nil && !f.fromStart {
			t.offset = fi.Size()
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
	for {
		if err := f.readAll(); err != nil {
			return err
		}
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
		case <-events:
		case <-errs: // the ticker still reads
		case <-tick.C:
		}
	}
}
