package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(childMain(role)) // a test's child process: see uid_test.go
	}
	os.Exit(m.Run())
}

// listen starts a server in a fresh state directory, closed at cleanup.
func listen(t *testing.T, h Handler) *Server {
	t.Helper()
	s, err := Listen(t.TempDir(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// within fails the test if ch does not deliver within 10 seconds.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestStreamsRepliesInOrder(t *testing.T) {
	got := make(chan Request, 1)
	s := listen(t, HandlerFunc(func(ctx context.Context, req Request, send func(Reply) error) error {
		got <- req
		for i := 1; i <= 3; i++ {
			e := events.Event{V: events.Version, Type: events.ServiceReady, Service: "backend-local", PID: i}
			if err := send(Reply{Event: &e}); err != nil {
				return err
			}
		}
		return send(Reply{Status: []ServiceStatus{{
			Service: "backend-local", State: events.Ready, Freshness: events.Stale,
			Files: []string{"/src/main.go"}, Host: "localhost:8080", PID: 42,
		}}, Done: true}) // Done is the server's to send: cleared
	}))
	req := Request{Op: "wait", Services: []string{"backend-local", "frontend-local"}, TimeoutMs: 1500}
	var replies []Reply
	err := Do(context.Background(), s.Path(), req, func(r Reply) error {
		replies = append(replies, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if r := <-got; !reflect.DeepEqual(r, req) {
		t.Errorf("handler got %+v, want %+v", r, req)
	}
	if len(replies) != 4 {
		t.Fatalf("got %d replies, want 4: %+v", len(replies), replies)
	}
	for i, r := range replies[:3] {
		if r.Event == nil || r.Event.PID != i+1 || r.Event.Type != events.ServiceReady || r.Done {
			t.Errorf("reply %d: %+v, want the event with pid %d", i, r, i+1)
		}
	}
	want := []ServiceStatus{{Service: "backend-local", State: events.Ready, Freshness: events.Stale,
		Files: []string{"/src/main.go"}, Host: "localhost:8080", PID: 42}}
	if last := replies[3]; !reflect.DeepEqual(last.Status, want) || last.Done {
		t.Errorf("last reply %+v, want status %+v and not done", last, want)
	}
}

func TestHandlerErrorIsRemoteError(t *testing.T) {
	s := listen(t, HandlerFunc(func(ctx context.Context, req Request, send func(Reply) error) error {
		return errors.New("restart api-local: not watched by this pets")
	}))
	err := Do(context.Background(), s.Path(), Request{Op: "restart", Services: []string{"api-local"}}, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "restart api-local: not watched by this pets" {
		t.Fatalf("Do = %v (%T), want a RemoteError with the handler's message", err, err)
	}
	if errors.Is(err, ErrNoWatcher) {
		t.Error("a remote error is also ErrNoWatcher")
	}
}

func TestHandlerCancelledWhenClientGoes(t *testing.T) {
	for _, how := range []string{"fn fails", "ctx cancelled"} {
		t.Run(how, func(t *testing.T) {
			cancelled := make(chan struct{})
			s := listen(t, HandlerFunc(func(ctx context.Context, req Request, send func(Reply) error) error {
				if err := send(Reply{Status: []ServiceStatus{{Service: "a-local"}}}); err != nil {
					return err
				}
				<-ctx.Done()
				close(cancelled)
				return ctx.Err()
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errStop := errors.New("seen enough")
			err := Do(ctx, s.Path(), Request{Op: "list"}, func(Reply) error {
				if how == "fn fails" {
					return errStop
				}
				cancel()
				return nil
			})
			want := errStop
			if how == "ctx cancelled" {
				want = context.Canceled
			}
			if !errors.Is(err, want) {
				t.Fatalf("Do = %v, want %v", err, want)
			}
			within(t, cancelled, "the handler's context to end")
		})
	}
}

func TestCloseCancelsWaitsAndRemoves(t *testing.T) {
	first := make(chan struct{})
	cancelled := make(chan struct{})
	proceed := make(chan struct{})
	var returned atomic.Bool
	s, err := Listen(t.TempDir(), HandlerFunc(func(ctx context.Context, req Request, send func(Reply) error) error {
		if err := send(Reply{}); err != nil {
			return err
		}
		<-ctx.Done()
		close(cancelled)
		<-proceed
		returned.Store(true)
		return ctx.Err()
	}))
	if err != nil {
		t.Fatal(err)
	}
	doErr := make(chan error, 1)
	go func() {
		once := false
		doErr <- Do(context.Background(), s.Path(), Request{Op: "wait"}, func(Reply) error {
			if !once {
				once = true
				close(first)
			}
			return nil
		})
	}()
	within(t, first, "the first reply")

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	within(t, cancelled, "Close to cancel the handler")
	select {
	case <-closed:
		t.Fatal("Close returned while a handler was still running")
	default:
	}
	close(proceed)
	if err := within(t, closed, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !returned.Load() {
		t.Fatal("Close returned before the handler did")
	}
	if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Close: %v", err)
	}
	var re *RemoteError
	if err := within(t, doErr, "Do"); !errors.As(err, &re) || re.Msg != "the watching pets stopped" {
		t.Fatalf("Do = %v, want the remote error %q", err, "the watching pets stopped")
	}
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); !errors.Is(err, ErrNoWatcher) {
		t.Fatalf("Do after Close = %v, want ErrNoWatcher", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// staleSocket leaves a socket file at path that nothing listens on.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestNoWatcher(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "watch-1.sock")
	err := Do(context.Background(), missing, Request{Op: "list"}, nil)
	if !errors.Is(err, ErrNoWatcher) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Do on a missing socket = %v, want ErrNoWatcher wrapping the dial error", err)
	}
	stale := filepath.Join(dir, "watch-2.sock")
	staleSocket(t, stale)
	if err := Do(context.Background(), stale, Request{Op: "list"}, nil); !errors.Is(err, ErrNoWatcher) {
		t.Errorf("Do on a stale socket = %v, want ErrNoWatcher", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	dir := t.TempDir()
	staleSocket(t, filepath.Join(dir, "watch-"+strconv.Itoa(os.Getpid())+".sock"))
	s, err := Listen(dir, HandlerFunc(func(context.Context, Request, func(Reply) error) error { return nil }))
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer s.Close()
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

func TestListenRefusesWhatIsInTheWay(t *testing.T) {
	var calls atomic.Int32
	h := HandlerFunc(func(context.Context, Request, func(Reply) error) error { calls.Add(1); return nil })
	s := listen(t, h)
	if s2, err := Listen(filepath.Dir(s.Path()), h); err == nil || !strings.Contains(err.Error(), "another process answers") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Listen on a live socket = %v, want a refusal", err)
	}
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); err != nil {
		t.Fatalf("the first server after a refused second Listen: %v", err)
	}
	if calls.Load() != 1 {
		t.Errorf("handler called %d times, want once (Listen's probe is no request)", calls.Load())
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "watch-"+strconv.Itoa(os.Getpid())+".sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s2, err := Listen(dir, h); err == nil || !strings.Contains(err.Error(), "not a socket") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("Listen over a regular file = %v, want a refusal", err)
	}
}

func TestBadRequest(t *testing.T) {
	var calls atomic.Int32
	s := listen(t, HandlerFunc(func(context.Context, Request, func(Reply) error) error { calls.Add(1); return nil }))
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("restart please\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 1 {
		t.Fatalf("got %q, want one final reply", lines)
	}
	var r Reply
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil || !r.Done || !strings.HasPrefix(r.Error, "parse request: ") {
		t.Fatalf("reply %s (%v), want done with a parse error", lines[0], err)
	}
	if calls.Load() != 0 {
		t.Error("the handler saw a request that does not parse")
	}
}
