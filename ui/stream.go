package ui

import (
	"bytes"
	"net/http"
	"sync"
	"time"
)

const (
	// maxQueue and maxQueueBytes bound a page's queue of updates: past
	// either, it is dropped and the page gets a snapshot instead.
	maxQueue      = 1024
	maxQueueBytes = 8 << 20
	// maxClients bounds the pages connected at once.
	maxClients = 32
	// logEvery is how often at most a page gets new log lines.
	logEvery = 250 * time.Millisecond
	// writeTimeout: a page that takes nothing for this long is
	// disconnected (its browser reconnects and gets a snapshot).
	writeTimeout = 10 * time.Second
	// keepAlive is how often an idle stream gets a comment, so that a
	// page that went away is noticed.
	keepAlive = 15 * time.Second
)

// client is one page's event stream: what is queued for it. Emit, the
// refresher and the log tailer push (holding Server.mu, then c.mu); the
// stream's handler takes.
type client struct {
	wake   chan struct{} // cap 1: something was pushed
	window int

	mu     sync.Mutex // guards the fields below
	msgs   [][]byte
	bytes  int
	resync bool                // updates were dropped: send a snapshot instead
	logs   map[string]*logPart // new lines per service since the last send
}

func newClient(window int) *client {
	return &client{wake: make(chan struct{}, 1), window: window, logs: map[string]*logPart{}}
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues an update; past the bounds, the queue is dropped for a
// snapshot.
func (c *client) push(msg []byte) {
	c.mu.Lock()
	switch {
	case c.resync:
	case len(c.msgs) >= maxQueue || c.bytes+len(msg) > maxQueueBytes:
		c.msgs, c.bytes, c.resync = nil, 0, true
	default:
		c.msgs = append(c.msgs, msg)
		c.bytes += len(msg)
	}
	c.mu.Unlock()
	c.signal()
}

// pushLogs queues new lines of a service's log (skipped: lines before them
// that were never read into the window); at most a window's worth stays
// queued, the rest is counted as skipped.
func (c *client) pushLogs(service string, lines []string, skipped int64) {
	c.mu.Lock()
	p := c.logs[service]
	if p == nil {
		p = &logPart{}
		c.logs[service] = p
	}
	var dropped int
	p.Lines, dropped = appendWindow(p.Lines, lines, c.window)
	p.Skipped += skipped + int64(dropped)
	c.mu.Unlock()
	c.signal()
}

// appendWindow appends lines to w, keeping the last n; it says how many
// it dropped.
func appendWindow(w, lines []string, n int) ([]string, int) {
	total := len(w) + len(lines)
	if total <= n {
		return append(w, lines...), 0
	}
	out := make([]string, 0, n)
	drop := total - n
	if drop < len(w) {
		out = append(out, w[drop:]...)
		out = append(out, lines...)
	} else {
		out = append(out, lines[drop-len(w):]...)
	}
	return out, drop
}

// take returns what is queued: the updates, whether a snapshot is due
// instead, and (with logs) the new log lines.
func (c *client) take(logs bool) (msgs [][]byte, resync bool, lp map[string]*logPart, logsWaiting bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.resync {
		return nil, true, nil, false
	}
	msgs = c.msgs
	c.msgs, c.bytes = nil, 0
	if len(c.logs) > 0 {
		if logs {
			lp = c.logs
			c.logs = map[string]*logPart{}
		} else {
			logsWaiting = true
		}
	}
	return msgs, false, lp, logsWaiting
}

// reset empties the queue: a snapshot is about to cover it. Server.mu is
// held, so nothing is pushed between the snapshot and the reset.
func (c *client) reset() {
	c.mu.Lock()
	c.msgs, c.bytes, c.resync = nil, 0, false
	c.logs = map[string]*logPart{}
	c.mu.Unlock()
}

// frame is one server-sent event. data is JSON: one line.
func frame(event string, data []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(event) + len(data) + 16)
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes()
}

// serveEvents streams a snapshot, then the updates and new log lines,
// until the page goes away or the server closes.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	c := newClient(s.opts.LogWindow)
	s.mu.Lock()
	if len(s.clients) >= maxClients {
		s.mu.Unlock()
		refuse(w, http.StatusServiceUnavailable, "too many status pages are open; close some")
		return
	}
	s.clients[c] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(frames ...[]byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		for _, f := range frames {
			if _, err := w.Write(f); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}
	snapshotFrame := func() []byte {
		s.mu.Lock()
		snap := s.snapshotLocked()
		c.reset()
		b := marshal(snap)
		s.mu.Unlock()
		return frame("snapshot", b)
	}
	if !write([]byte("retry: 1000\n\n"), snapshotFrame()) {
		return
	}
	var (
		lastLogs time.Time
		logTimer *time.Timer
		logDue   <-chan time.Time
	)
	defer func() {
		if logTimer != nil {
			logTimer.Stop()
		}
	}()
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			// What is queued still goes (the watching pets' last events,
			// say), if the page takes it at once.
			if msgs, _, _, _ := c.take(false); len(msgs) > 0 {
				_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
				for _, m := range msgs {
					if _, err := w.Write(m); err != nil {
						return
					}
				}
				_ = rc.Flush()
			}
			return
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
			continue
		case <-c.wake:
		case <-logDue:
			logDue = nil
		}
		logsNow := logDue == nil && time.Since(lastLogs) >= logEvery
		msgs, resync, lp, waiting := c.take(logsNow)
		if resync {
			if !write(snapshotFrame()) {
				return
			}
			continue
		}
		if lp != nil {
			lastLogs = time.Now()
			msgs = append(msgs, frame("logs", marshal(lp)))
		}
		if waiting && logDue == nil {
			d := logEvery - time.Since(lastLogs)
			if logTimer == nil {
				logTimer = time.NewTimer(d)
			} else {
				logTimer.Reset(d)
			}
			logDue = logTimer.C
		}
		if len(msgs) > 0 && !write(msgs...) {
			return
		}
	}
}
