// Package logfile is a service's log, bounded: NAME-TIER.log rotates at
// a size.
//
// Every writer of a service's log (the waiter of each of its servers, and
// pets itself: its "--- pets: starting" lines, run() and build output)
// appends through a Log. Writers agree through a lock file beside the log
// (NAME-TIER.log.lock). Under it, each write checks that it appends to the
// file now named NAME-TIER.log (reopening it after another writer rotated)
// and, when the write would take that file past the limit, rotates first:
// .log.2 becomes .log.3 (the oldest kept, Keep), .log.1 becomes .log.2,
// .log becomes .log.1, and a new .log is begun. A rotation happens at a
// line boundary: the rest of a line under way still goes to the old file.
// So no line is lost, duplicated or split across files, and nothing is
// written to a file once it has been renamed: a reader that sees the
// rotation and reads the renamed file to its end has read all of it (as
// pets logs -f does, in package supervise). The disk use is bounded by
// (Keep+1) times the limit, plus a line.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Log limits.
const (
	DefaultMax = 50 << 20 // bytes; PETS_LOG_MAX changes it
	Keep       = 3        // rotated files kept: NAME-TIER.log.1 .. .3
	MaxEnv     = "PETS_LOG_MAX"
)

// Log appends to a service's log file, rotating it at a size. It is safe
// for concurrent use, and other processes may write the same log.
type Log struct {
	path string
	max  int64 // rotate before the file would grow past max; 0: never
	lock *os.File

	mu sync.Mutex // guards f
	f  *os.File   // the file that was NAME-TIER.log when last checked
}

// Open opens the log at path for appending, rotating it at max bytes (0:
// never).
func Open(path string, max int64) (*Log, error) {
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	f, err := openAppend(path)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &Log{path: path, max: max, lock: lock, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
}

// Name is the log's path (the file writes go to, whatever it rotated to).
func (l *Log) Name() string { return l.path }

// Max is the size the log rotates at (0: never).
func (l *Log) Max() int64 { return l.max }

// Locked runs fn holding the writers' lock of the log at path (if it has
// one), so that no writer rotates the log meanwhile.
func Locked(path string, fn func()) {
	if lock, err := os.Open(path + ".lock"); err == nil {
		defer lock.Close()
		if lockFile(lock) == nil {
			defer unlockFile(lock)
		}
	}
	fn()
}

// Close closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.f.Close()
	l.lock.Close()
	return err
}

// Write appends p. Where p would take the file past the limit, the file
// gets the whole lines of p that fit (or the rest of a line under way) and
// a new file the rest.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := lockFile(l.lock); err != nil {
		return 0, fmt.Errorf("lock %s: %w", l.lock.Name(), err)
	}
	defer unlockFile(l.lock)
	n := len(p)
	fi, err := l.current()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	write := func(b []byte) error {
		_, err := l.f.Write(b)
		size += int64(len(b))
		return err
	}
	for len(p) > 0 {
		if l.max <= 0 || size+int64(len(p)) <= l.max {
			return n, write(p)
		}
		if size > 0 && !l.endsLine(size) {
			// A line is under way: it ends in this file (a line with no
			// end in sight is cut at twice the limit).
			i := bytes.IndexByte(p, '\n')
			if i < 0 && size < 2*l.max {
				return n, write(p)
			}
			if i >= 0 {
				if err := write(p[:i+1]); err != nil {
					return 0, err
				}
				p = p[i+1:]
			}
		} else if room := l.max - size; room > 0 {
			// The whole lines that fit.
			if j := bytes.LastIndexByte(p[:min(room, int64(len(p)))], '\n'); j >= 0 {
				if err := write(p[:j+1]); err != nil {
					return 0, err
				}
				p = p[j+1:]
			} else if size == 0 {
				// One line longer than the limit: alone in its file.
				i := bytes.IndexByte(p, '\n')
				if i < 0 {
					return n, write(p)
				}
				if err := write(p[:i+1]); err != nil {
					return 0, err
				}
				p = p[i+1:]
			}
		}
		if len(p) == 0 {
			break
		}
		if err := l.rotate(); err != nil {
			return n, write(p) // not rotated (a file in use on Windows): append
		}
		size = 0
	}
	return n, nil
}

// Offset is the offset of p in its file.
func (p Pos) Offset() int64 { return p.off }

// Pos returns where the next write will land.
func (l *Log) Pos() Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := lockFile(l.lock); err == nil {
		defer unlockFile(l.lock)
	}
	fi, err := l.current()
	if err != nil {
		return Pos{path: l.path}
	}
	return Pos{path: l.path, file: fi, off: fi.Size()}
}

// current makes l.f the file now named l.path and returns its FileInfo.
// The caller holds the lock.
func (l *Log) current() (fs.FileInfo, error) {
	fi, err := l.f.Stat()
	if err != nil {
		return nil, err
	}
	if now, err := os.Stat(l.path); err == nil && os.SameFile(fi, now) {
		return fi, nil
	}
	f, err := openAppend(l.path) // another writer rotated it (or it was removed)
	if err != nil {
		return nil, err
	}
	l.f.Close()
	l.f = f
	return f.Stat()
}

// endsLine reports whether the file, size bytes long, ends with a newline.
func (l *Log) endsLine(size int64) bool {
	b := make([]byte, 1)
	if _, err := l.f.ReadAt(b, size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

// rotate renames the log to .1 (and each older one up by one, dropping the
// oldest) and begins a new one. The caller holds the lock.
func (l *Log) rotate() error {
	for i := Keep; i > 1; i-- {
		if err := os.Rename(rotatedName(l.path, i-1), rotatedName(l.path, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(l.path, rotatedName(l.path, 1)); err != nil {
		return err
	}
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.f.Close()
	l.f = f
	return nil
}

// rotatedName is the name of the i-th newest rotated file of the log at
// path (i >= 1); 0 is path itself.
func rotatedName(path string, i int) string {
	if i == 0 {
		return path
	}
	return path + "." + strconv.Itoa(i)
}

// Chain returns the files of the log at path, oldest first: the rotated
// ones, then path.
func Chain(path string) []string {
	out := make([]string, 0, Keep+1)
	for i := Keep; i >= 0; i-- {
		out = append(out, rotatedName(path, i))
	}
	return out
}

// Pos is a place in a log: a file (which may have been rotated since)
// and an offset in it.
type Pos struct {
	path string
	file fs.FileInfo // nil: unknown (path at off)
	off  int64
}

// ParseSize parses a size: a number of bytes, optionally followed by k, M
// or G (powers of 1024; "kB", "MiB" and the like are accepted too).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i") // 50MiB, 50MB: 50m
	unit := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		unit = 1 << 10
	case strings.HasSuffix(t, "m"):
		unit = 1 << 20
	case strings.HasSuffix(t, "g"):
		unit = 1 << 30
	}
	if unit != 1 {
		t = strings.TrimSpace(t[:len(t)-1])
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/unit {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with k, M or G (50M, 1G; 0: never rotate)", s)
	}
	return n * unit, nil
}

// logMax is the log size limit: max if set (> 0; < 0: never rotate), else
// PETS_LOG_MAX's, else DefaultMax.
func Max(max int64) (int64, error) {
	switch {
	case max > 0:
		return max, nil
	case max < 0:
		return 0, nil
	}
	if v := os.Getenv(MaxEnv); v != "" {
		n, err := ParseSize(v)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", MaxEnv, err)
		}
		return n, nil
	}
	return DefaultMax, nil
}
