package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
)

// Request is what a client asks, one JSON line.
type Request struct {
	// Op names the operation ("restart", "list", "wait", ...); the Handler
	// decides which ones exist.
	Op       string   `json:"op"`
	Services []string `json:"services,omitempty"` // display names, "name-tier"
	// TimeoutMs is how long the client is prepared to wait, for the
	// Handler to apply (the server does not).
	TimeoutMs int64 `json:"timeoutMs,omitempty"`
}

// Reply is one JSON line of the answer. The last one has Done set, and
// Error if the request failed.
type Reply struct {
	Event  *events.Event   `json:"event,omitempty"`
	Status []ServiceStatus `json:"status,omitempty"`
	Done   bool            `json:"done,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// ServiceStatus is what a watching pets knows of one service.
type ServiceStatus struct {
	Service   string           `json:"service"` // "name-tier"
	State     events.State     `json:"state"`
	Freshness events.Freshness `json:"freshness"`
	Files     []string         `json:"files,omitempty"` // what made it stale
	Reason    string           `json:"reason,omitempty"`
	Host      string           `json:"host,omitempty"`
	PID       int              `json:"pid,omitempty"`
}

// Handler answers requests. Serve is called once per connection, on its own
// goroutine; ctx ends when the client goes away or the server closes. send
// writes one Reply (its Done is cleared: the server sends the final reply
// from Serve's result); it is safe for concurrent use and fails once ctx has
// ended or Serve has returned.
type Handler interface {
	Serve(ctx context.Context, req Request, send func(Reply) error) error
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, req Request, send func(Reply) error) error

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, req Request, send func(Reply) error) error {
	return f(ctx, req, send)
}

const (
	// requestTimeout bounds how long a connection may take to send its request.
	requestTimeout = 10 * time.Second
	// finalGrace is how long writes may still take once a connection's
	// context has ended (the final reply, say).
	finalGrace = time.Second
	// maxRequest bounds a request line.
	maxRequest = 1 << 20
)

// errStopped is the final reply's error when Close cut a request short.
var errStopped = errors.New("the watching pets stopped")

// errServeReturned is what send returns once Serve has returned.
var errServeReturned = errors.New("control: send after the handler returned")

// Server takes requests on a unix socket until Close.
type Server struct {
	path   string
	ln     *net.UnixListener
	h      Handler
	ctx    context.Context // ends at Close: every connection's context derives from it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and one per connection

	closeOnce sync.Once
	closeErr  error
}

// Listen starts serving h on the socket of this process for state directory
// dir (see the package documentation for the path and its permissions).
func Listen(dir string, h Handler) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("listen for requests: %w", err)
	}
	path, private, err := socketPath(abs, os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("listen for requests: %w", err)
	}
	if private {
		if err := ensurePrivateDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("listen for requests: %w", err)
		}
	}
	if err := removeStale(path); err != nil {
		return nil, fmt.Errorf("listen for requests: %w", err)
	}
	ln, err := bind(path, private)
	if err != nil {
		return nil, fmt.Errorf("listen for requests: %w", err)
	}
	s := &Server{path: path, ln: ln, h: h}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Path is the socket's path, for the state record.
func (s *Server) Path() string { return s.path }

// Close stops accepting, cancels every handler, waits until every goroutine
// of the server has returned and removes the socket file.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Gone from the file system first: a client from now on gets
		// ErrNoWatcher rather than a connection nobody accepts.
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.closeErr = fmt.Errorf("remove socket: %w", err)
		}
		s.cancel()
		if err := s.ln.Close(); err != nil && s.closeErr == nil {
			s.closeErr = fmt.Errorf("close socket: %w", err)
		}
		s.wg.Wait()
	})
	return s.closeErr
}

// accept runs until Close, starting one goroutine per connection.
func (s *Server) accept() {
	defer s.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors, say: try again, a little later each time.
			slog.Debug("control: accept", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.wg.Add(1)
		go s.serve(c)
	}
}

// aLongTimeAgo is a deadline that has passed: set, it ends blocked I/O now.
var aLongTimeAgo = time.Unix(1, 0)

// serve answers one connection.
func (s *Server) serve(c *net.UnixConn) {
	defer s.wg.Done()
	defer c.Close()
	if uid, own, ok, err := peerUID(c); err != nil {
		slog.Debug("control: peer credentials", "err", err)
		return
	} else if ok && uid != own {
		_ = c.SetWriteDeadline(time.Now().Add(finalGrace))
		_ = writeReply(c, Reply{Done: true, Error: fmt.Sprintf("refused: peer uid %d is not the owner uid %d", uid, own)})
		return
	}

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// The request deadline is set before the AfterFunc is registered, so
	// that a context that has already ended still wins.
	_ = c.SetReadDeadline(time.Now().Add(requestTimeout))
	stop := context.AfterFunc(ctx, func() {
		_ = c.SetReadDeadline(aLongTimeAgo)
		_ = c.SetWriteDeadline(time.Now().Add(finalGrace))
	})
	defer stop()

	req, err := readRequest(c)
	if errors.Is(err, io.EOF) {
		return // connected and left without asking (a liveness probe)
	}
	if err != nil {
		if s.ctx.Err() != nil {
			err = errStopped
		}
		_ = writeReply(c, Reply{Done: true, Error: err.Error()})
		return
	}
	// Should ctx end between these two lines, the read below blocks only
	// until c.Close at the end: the handler's ctx has ended either way.
	_ = c.SetReadDeadline(time.Time{})

	// The client sends nothing after its request: a read that ends means
	// it has gone (or half-closed, which counts as gone).
	var reader sync.WaitGroup
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer cancel()
		_, _ = io.Copy(io.Discard, c)
	}()

	var mu sync.Mutex // serialises writes; guards returned
	returned := false
	send := func(r Reply) error {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			return errServeReturned
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Done = false
		if err := writeReply(c, r); err != nil {
			cancel()
			return err
		}
		return nil
	}
	err = s.h.Serve(ctx, req, send)
	mu.Lock()
	returned = true
	mu.Unlock()

	final := Reply{Done: true}
	if err != nil {
		final.Error = err.Error()
		if s.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			final.Error = errStopped.Error()
		}
	}
	_ = writeReply(c, final) // fails if the client has gone: nothing to tell it then
	_ = c.Close()
	reader.Wait()
}

// readRequest reads and parses the request line.
func readRequest(c io.Reader) (Request, error) {
	var req Request
	lr := &io.LimitedReader{R: c, N: maxRequest}
	line, err := bufio.NewReader(lr).ReadBytes('\n')
	if err != nil {
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return req, io.EOF
		}
		if lr.N == 0 {
			return req, fmt.Errorf("read request: longer than %d bytes", maxRequest)
		}
		return req, fmt.Errorf("read request: %w", err)
	}
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("parse request: %w", err)
	}
	return req, nil
}

// writeReply writes r as one line.
func writeReply(w io.Writer, r Reply) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write reply: %w", err)
	}
	return nil
}
