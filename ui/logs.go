package ui

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fsnotify/fsnotify"
)

const (
	// maxRead bounds one read of a log: what a log gained beyond it since
	// the last read is counted (its lines are skipped), not kept.
	maxRead = 1 << 20
	// initialRead is how much of a log's end is read when the page starts
	// showing it.
	initialRead = 256 << 10
	// maxLine cuts longer lines.
	maxLine = 4096
	// readGap is the least time between two reads of the logs: under a
	// flood, lines are read in batches.
	readGap = 50 * time.Millisecond
)

// window is the last lines of a service's log; skipped counts the lines
// that never made it in.
type window struct {
	buf     []string
	skipped int64
}

func (w *window) lines() []string { return append([]string(nil), w.buf...) }

// logTail reads what a log file gains, across its rotations: a log that
// is renamed to PATH.1 (the older ones moving to .2, .3, ...) and begun
// anew, as package supervise rotates them, at a line's end. It is used by
// the tailer's goroutine only.
type logTail struct {
	path    string
	fi      os.FileInfo // the file last read; nil: none yet
	off     int64       // where in it
	partial []byte      // the start of a line not ended yet (at most maxLine+1 bytes)
	// skipping: the line under way was cut (its start was not read); it
	// is counted as skipped once it ends.
	skipping bool
}

// maxRotated is how many rotated files (PATH.1, PATH.2, ...) are looked
// for.
const maxRotated = 9

// segment is part of a file to read.
type segment struct {
	f        *os.File
	from, to int64
}

// read returns the last n of the complete lines the log gained since the
// last read, and how many lines before them it skipped.
func (t *logTail) read(n int) (lines []string, skipped int64, err error) {
	cur, err := os.Open(t.path)
	if os.IsNotExist(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	open := []*os.File{cur}
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	fi, err := cur.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var segs []segment
	switch {
	case t.fi == nil:
		// The first read: the end of the log only, from a line's start.
		from := max(0, size-initialRead)
		if from > 0 {
			if from, err = nextLine(cur, from, size); err != nil {
				return nil, 0, err
			}
		}
		segs = []segment{{cur, from, size}}
	case os.SameFile(t.fi, fi):
		if size < t.off { // truncated
			t.off, t.partial, t.skipping = 0, nil, false
		}
		segs = []segment{{cur, t.off, size}}
	default:
		// Rotated: the rest of the file last read (now PATH.i), the files
		// rotated after it (PATH.i-1 .. PATH.1), then the new one.
		var rotated []segment
		found := false
		for i := 1; i <= maxRotated && !found; i++ {
			f, err := os.Open(t.path + "." + strconv.Itoa(i))
			if err != nil {
				break
			}
			open = append(open, f)
			rfi, err := f.Stat()
			if err != nil {
				break
			}
			if found = os.SameFile(rfi, t.fi); found {
				rotated = append(rotated, segment{f, min(t.off, rfi.Size()), rfi.Size()})
			} else {
				rotated = append(rotated, segment{f, 0, rfi.Size()})
			}
		}
		if !found {
			// Rotated out of reach: what it held since is gone, uncounted.
			rotated, t.partial, t.skipping = nil, nil, false
		}
		for i := len(rotated) - 1; i >= 0; i-- {
			segs = append(segs, rotated[i])
		}
		segs = append(segs, segment{cur, 0, size})
	}
	t.fi, t.off = fi, size
	return t.consume(segs, n)
}

// consume reads the segments (one stream, after t.partial) and returns
// the last n complete lines and how many lines before them it skipped.
// Only the last maxRead bytes are read; the lines that end before them are
// counted.
func (t *logTail) consume(segs []segment, n int) (lines []string, skipped int64, err error) {
	var total int64
	for _, s := range segs {
		total += s.to - s.from
	}
	if total == 0 {
		return nil, 0, nil
	}
	skip := max(0, total-maxRead) // bytes only counted
	var buf []byte
	if skip > 0 {
		skip-- // read the byte before the cut too: it says whether a line was cut
	}
	for _, s := range segs {
		from := s.from
		if skip > 0 {
			k := min(skip, s.to-s.from)
			c, err := countLines(s.f, from, from+k)
			if err != nil {
				return nil, 0, err
			}
			skipped += c
			from += k
			skip -= k
		}
		if from < s.to {
			b := make([]byte, s.to-from)
			if _, err := s.f.ReadAt(b, from); err != nil && err != io.EOF {
				return nil, 0, err
			}
			buf = append(buf, b...)
		}
	}
	if total > maxRead {
		// The lines counted ended before the cut (buf[0] is the byte just
		// before it); the line under way at the cut is skipped too.
		t.partial, t.skipping = nil, buf[0] != '\n'
		if buf[0] == '\n' {
			skipped++
		}
		buf = buf[1:]
	}
	if t.skipping {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			return nil, skipped, nil
		}
		buf, t.skipping = buf[i+1:], false
		skipped++
	}
	if len(t.partial) > 0 {
		buf = append(t.partial, buf...)
		t.partial = nil
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		t.keepPartial(buf)
		return nil, skipped, nil
	}
	t.keepPartial(buf[end+1:])
	whole := buf[:end]
	// The last n lines: find the newline before each, from the end.
	start := len(whole)
	for i := 0; i < n; i++ {
		j := bytes.LastIndexByte(whole[:start], '\n')
		if j < 0 {
			start = -1
			break
		}
		start = j
	}
	start++ // the first line kept begins after its newline (or at 0)
	if start > 0 {
		skipped += int64(bytes.Count(whole[:start], []byte{'\n'}))
	}
	for _, l := range bytes.Split(whole[start:], []byte{'\n'}) {
		lines = append(lines, clean(l))
	}
	return lines, skipped, nil
}

// keepPartial keeps the start of a line not yet ended: what clean keeps of
// it.
func (t *logTail) keepPartial(b []byte) {
	if len(b) > maxLine+1 {
		b = b[:maxLine+1]
	}
	t.partial = append(t.partial[:0:0], b...)
}

// nextLine returns where the line after the one under way at off begins
// (size if none).
func nextLine(f *os.File, off, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		n, err := f.ReadAt(buf, off)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return off, err
		}
	}
	return size, nil
}

// countLines counts the newlines in [from, to) of f.
func countLines(f *os.File, from, to int64) (int64, error) {
	buf := make([]byte, 256<<10)
	var c int64
	for from < to {
		m := int64(len(buf))
		if to-from < m {
			m = to - from
		}
		n, err := f.ReadAt(buf[:m], from)
		c += int64(bytes.Count(buf[:n], []byte{'\n'}))
		from += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]`)

// clean makes a log line fit for the page: no carriage return, no
// terminal escapes, at most maxLine bytes (cut at a rune's start).
func clean(b []byte) string {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if bytes.IndexByte(b, 0x1b) >= 0 {
		b = ansi.ReplaceAll(b, nil)
	}
	if len(b) > maxLine {
		cut := maxLine
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + " …"
	}
	return string(b)
}

// tailLogs reads what each shown service's log gains, as it is written
// (inotify on the logs' directories, every second besides, at most every
// readGap), into the windows and every page's queue, until ctx ends.
func (s *Server) tailLogs(ctx context.Context) {
	tails := map[string]*logTail{}
	fw, err := fsnotify.NewWatcher()
	var (
		fsEvents <-chan fsnotify.Event
		fsErrs   <-chan error
	)
	if err == nil {
		defer fw.Close()
		fsEvents, fsErrs = fw.Events, fw.Errors
	}
	dirs := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var (
		last  time.Time
		timer *time.Timer
		due   <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	pending := true
	for {
		if pending && due == nil {
			if wait := readGap - time.Since(last); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				due = timer.C
			} else {
				pending, last = false, time.Now()
				s.readLogs(tails, fw, dirs)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-fsEvents:
			pending = true
		case <-fsErrs:
			pending = true
		case <-tick.C:
			pending = true
		case <-due:
			due = nil
		}
	}
}

// readLogs follows the logs of the services the model has, and passes on
// what each gained.
func (s *Server) readLogs(tails map[string]*logTail, fw *fsnotify.Watcher, dirs map[string]bool) {
	if s.opts.LogPath == nil {
		return
	}
	s.mu.Lock()
	names := append([]string(nil), s.model.order...)
	s.mu.Unlock()
	keep := map[string]bool{}
	for _, name := range names {
		keep[name] = true
		if tails[name] != nil {
			continue
		}
		p := s.opts.LogPath(name)
		tails[name] = &logTail{path: p}
		if d := filepath.Dir(p); fw != nil && !dirs[d] {
			if fw.Add(d) == nil {
				dirs[d] = true
			}
		}
	}
	for name := range tails {
		if !keep[name] {
			delete(tails, name)
		}
	}
	for _, name := range names {
		lines, skipped, err := tails[name].read(s.opts.LogWindow)
		if err != nil || len(lines) == 0 && skipped == 0 {
			continue
		}
		s.mu.Lock()
		w := s.logs[name]
		if w == nil {
			w = &window{}
			s.logs[name] = w
		}
		var dropped int
		w.buf, dropped = appendWindow(w.buf, lines, s.opts.LogWindow)
		_ = dropped // lines that scrolled out of the window were shown
		w.skipped += skipped
		for c := range s.clients {
			c.pushLogs(name, lines, skipped)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	for name := range s.logs {
		if !keep[name] {
			delete(s.logs, name)
		}
	}
	s.mu.Unlock()
}
