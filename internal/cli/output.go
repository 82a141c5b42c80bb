package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// Output that never blocks the watch loop. A watching pets writes its
// status lines and its services' log lines to a terminal or a pipe that may
// stop being read (`pets up --watch | less` paused, Ctrl-S, a stuck ssh
// session); a plain write would then block the goroutine that writes, and
// with it the rounds. A stream queues what is written and a goroutine of
// its own writes it out: a write returns at once. Service log lines are
// dropped when the queue is full (the stream says how many once the reader
// is back); pets' own lines are kept up to a larger bound (and counted as
// dropped only beyond it). The logs on disk stay complete.

// Bounds of a stream's queue.
const (
	maxQueuedLogs   = 256 << 10 // service log lines: dropped beyond this
	maxQueuedStatus = 4 << 20   // pets' own lines: kept up to this
)

// stream is one file descriptor's queue and its writer goroutine.
type stream struct {
	w io.Writer

	mu         sync.Mutex
	cond       *sync.Cond
	queue      []chunk
	logBytes   int // queued log bytes
	statBytes  int // queued status bytes
	droppedLog int // log lines dropped since the last notice
	droppedOwn int // pets' own writes dropped (beyond maxQueuedStatus)
	closing    bool
	done       chan struct{}
}

type chunk struct {
	b   []byte
	log bool
}

func newStream(w io.Writer) *stream {
	s := &stream{w: w, done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.run() // owned by s: close waits for it (for a while)
	return s
}

// writer returns the io.Writer of one class: logs (droppable) or pets' own.
func (s *stream) writer(logs bool) io.Writer { return streamWriter{s, logs} }

type streamWriter struct {
	s   *stream
	log bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return len(p), nil
	}
	switch {
	case w.log && s.logBytes+len(p) > maxQueuedLogs:
		s.droppedLog += lines(p)
		return len(p), nil
	case !w.log && s.statBytes+len(p) > maxQueuedStatus:
		s.droppedOwn += lines(p)
		return len(p), nil
	}
	s.queue = append(s.queue, chunk{append([]byte(nil), p...), w.log})
	if w.log {
		s.logBytes += len(p)
	} else {
		s.statBytes += len(p)
	}
	s.cond.Signal()
	return len(p), nil
}

func lines(p []byte) int {
	n := 0
	for _, c := range p {
		if c == '\n' {
			n++
		}
	}
	return max(n, 1)
}

// run writes the queue out, in order, saying what was dropped once the
// reader takes writes again.
func (s *stream) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && s.droppedLog+s.droppedOwn == 0 && !s.closing {
			s.cond.Wait()
		}
		if len(s.queue) == 0 && s.droppedLog+s.droppedOwn == 0 {
			s.mu.Unlock()
			return // closing, and all is out
		}
		var c chunk
		if s.droppedLog+s.droppedOwn > 0 {
			c = chunk{b: []byte(dropNotice(s.droppedLog, s.droppedOwn))}
			s.droppedLog, s.droppedOwn = 0, 0
		} else {
			c = s.queue[0]
			s.queue = s.queue[1:]
			if c.log {
				s.logBytes -= len(c.b)
			} else {
				s.statBytes -= len(c.b)
			}
		}
		s.mu.Unlock()
		if _, err := s.w.Write(c.b); err != nil {
			// The reader is gone for good (a closed pipe): nothing more
			// can be shown; keep draining so that writers never wait.
			s.mu.Lock()
			s.queue, s.logBytes, s.statBytes = nil, 0, 0
			s.mu.Unlock()
		}
	}
}

func dropNotice(logLines, own int) string {
	msg := fmt.Sprintf("pets: %d service log lines were dropped while this output was not read (the logs on disk have them: pets logs)", logLines)
	if own > 0 {
		msg += fmt.Sprintf(", and %d of pets' own lines", own)
	}
	return msg + "\n"
}

// close writes out what is queued, for up to within (a reader that has
// stopped must not keep pets from exiting), then stops.
func (s *stream) close(within time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(within):
	}
}

// nonBlocking makes g's stdout and stderr streams that never block their
// writers, for a watching pets; the returned func flushes them (for a
// moment at most) and restores g's writers.
func (g *globals) nonBlocking() (restore func()) {
	stdout, stderr := g.stdout, g.stderr
	tty := false
	if f, ok := stdout.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	g.stdoutTTY = &tty
	out, errs := newStream(stdout), newStream(stderr)
	g.stdout, g.stderr, g.logs = out.writer(false), errs.writer(false), out.writer(true)
	return func() {
		errs.close(time.Second)
		out.close(time.Second)
		g.stdout, g.stderr, g.logs = stdout, stderr, nil
	}
}

// logOut is where the services' log lines go: droppable when a watching pets
// made its output non-blocking.
func (g *globals) logOut() io.Writer {
	if g.logs != nil {
		return g.logs
	}
	return g.stdout
}
