package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// idleConn is a connection to a pod that carries nothing: what podConn
// shares, not what it forwards on.
type idleConn struct{ closed chan bool }

func (c *idleConn) CreateStream(http.Header) (httpstream.Stream, error) {
	return nil, errors.New("no streams here")
}
func (c *idleConn) Close() error                       { close(c.closed); return nil }
func (c *idleConn) CloseChan() <-chan bool             { return c.closed }
func (c *idleConn) SetIdleTimeout(time.Duration)       {}
func (c *idleConn) RemoveStreams(...httpstream.Stream) {}

// TestConnectWaitsTogetherAndNoLongerThanItsContext: forwards that want the
// pod's shared connection while it is dialled wait for that one dial, each
// no longer than its own context, and none waits behind another's. (They
// once queued behind a lock held for the dial, each dialling again in turn
// when it failed: CI saw a local connection held 40 s.)
func TestConnectWaitsTogetherAndNoLongerThanItsContext(t *testing.T) {
	var pending sync.WaitGroup
	defer pending.Wait()
	fctx, closeForwarder := context.WithCancel(context.Background())
	defer closeForwarder()
	p := &podConn{pod: Pod{Name: "p"}, ctx: fctx, pending: &pending, gone: make(chan struct{})}

	var dials atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan error)
	dial := func(ctx context.Context, _ Pod) (httpstream.Connection, error) {
		dials.Add(1)
		started <- struct{}{}
		select {
		case err := <-release:
			if err != nil {
				return nil, err
			}
			return &idleConn{closed: make(chan bool)}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	type result struct {
		shared bool
		err    error
		took   time.Duration
	}
	connect := func(timeout time.Duration) <-chan result {
		out := make(chan result, 1)
		go func() { // ends by its context, or when the dial is released
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			t0 := time.Now()
			_, shared, err := p.connect(ctx, dial)
			out <- result{shared, err, time.Since(t0)}
		}()
		return out
	}
	within := func(what string, ch <-chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still waiting 10 s later", what)
			return result{}
		}
	}

	// A dial that does not answer: the first forward gives up at its
	// deadline; the second, come meanwhile, waits for the same dial, and
	// gives up at its own.
	first := connect(200 * time.Millisecond)
	<-started
	second := within("the second forward", connect(300*time.Millisecond))
	if !errors.Is(second.err, context.DeadlineExceeded) || second.took > 5*time.Second {
		t.Errorf("second forward: %v after %v; want its own deadline, 300ms", second.err, second.took)
	}
	if r := within("the first forward", first); !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("first forward: %v; want its deadline", r.err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials while one was under way; want 1", n)
	}

	// The dial fails: the next forwards dial again, once, and share what
	// that dial made.
	release <- errors.New("refused")
	pending.Wait() // the dial has ended
	third, fourth := connect(time.Minute), connect(time.Minute)
	<-started
	release <- nil
	for _, ch := range []<-chan result{third, fourth} {
		if r := within("a forward after the failed dial", ch); r.err != nil || !r.shared {
			t.Errorf("forward after the failed dial: shared %v, %v; want the new shared connection", r.shared, r.err)
		}
	}
	if r := within("a forward once dialled", connect(time.Minute)); r.err != nil || !r.shared {
		t.Errorf("forward once connected: shared %v, %v; want the same connection", r.shared, r.err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials; want 2 (the one that failed, the one shared)", n)
	}
	p.close()
}

// errorStream is the pod side's error stream of one forward: it says msg
// and ends.
type errorStream struct {
	r       *strings.Reader
	headers http.Header
}

func (s *errorStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *errorStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *errorStream) Close() error                { return nil }
func (s *errorStream) Reset() error                { return nil }
func (s *errorStream) Headers() http.Header        { return s.headers }
func (s *errorStream) Identifier() uint32          { return 1 }

// unansweredPod is a pod side that ends each forward's error stream at once,
// saying msg, and never answers its data stream. gaveUp is closed when the
// data stream's creation is given up because the forward ended.
func unansweredPod(msg string) (create func(http.Header, <-chan struct{}) (httpstream.Stream, error), gaveUp <-chan struct{}) {
	gave := make(chan struct{})
	return func(h http.Header, ended <-chan struct{}) (httpstream.Stream, error) {
		if h.Get(corev1.StreamType) == corev1.StreamTypeError {
			return &errorStream{r: strings.NewReader(msg), headers: h}, nil
		}
		select {
		case <-ended:
			close(gave)
			return nil, errors.New("the pod side ended the forward")
		case <-time.After(time.Minute):
			return nil, errors.New("no reply within a minute")
		}
	}, gave
}

// localConn returns both ends of a TCP connection on 127.0.0.1: the local
// client's, and the forwarder's.
func localConn(t *testing.T) (client, local net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if client, err = net.Dial("tcp", l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if local, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	return client, local
}

// forwardOnce runs forwardConn on local with create, and returns its error,
// failing the test if it waits 10 s.
func forwardOnce(t *testing.T, create func(http.Header, <-chan struct{}) (httpstream.Stream, error), local net.Conn, broken func()) error {
	t.Helper()
	sc := &idleConn{closed: make(chan bool)}
	ended := make(chan error, 1)
	go func() {
		ended <- forwardConn(sc, create, local, 8080, 1, broken, make(chan struct{}), make(chan struct{}))
	}()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the forward still waits for its data stream 10 s after the pod side ended it")
		return nil
	}
}

// TestARefusedForwardEndsAtOnce: when the pod side fails a forward (nothing
// listens on its port) before it answers the forward's data stream, which it
// then never answers, the local connection ends at once with the pod side's
// error. It used to wait for the data stream's creation to time out (3 s),
// seen on the test cluster whenever its server was not up yet.
func TestARefusedForwardEndsAtOnce(t *testing.T) {
	const refused = "error forwarding port 8080 to pod p: dial tcp4 127.0.0.1:8080: connect: connection refused"
	create, gaveUp := unansweredPod(refused)
	client, local := localConn(t)
	var broken atomic.Bool
	if err := forwardOnce(t, create, local, func() { broken.Store(true) }); err == nil || err.Error() != refused || errors.Is(err, errNoStreams) {
		t.Errorf("forwardConn: %v; want the pod side's error, %q", err, refused)
	}
	select {
	case <-gaveUp:
	default:
		t.Error("the data stream's creation was not given up")
	}
	if !broken.Load() {
		t.Error("the shared connection was not told that the pod side failed a forward")
	}
	// The local client sees its connection end.
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the local connection: read %d bytes, %v; want it closed", n, err)
	}
}

// TestAForwardThePodSideEndsUnansweredIsTriedAgainAtOnce: when the pod side
// ends a forward's error stream without a word before it answers the data
// stream (a pod being deleted), the forward fails at once as one whose
// streams could not be made, with the local connection untouched (the
// forwarder tries again on a fresh connection to the pod). It used to wait
// for the data stream's creation to time out (3 s).
func TestAForwardThePodSideEndsUnansweredIsTriedAgainAtOnce(t *testing.T) {
	create, _ := unansweredPod("")
	client, local := localConn(t)
	if err := forwardOnce(t, create, local, func() { t.Error("told of a pod side error that was not said") }); !errors.Is(err, errNoStreams) {
		t.Errorf("forwardConn: %v; want a failure to make the streams (tried again)", err)
	}
	// Untouched: what the client sends is still there to forward.
	if _, err := client.Write([]byte("GET /")); err != nil {
		t.Fatal(err)
	}
	_ = local.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(local, buf); err != nil || string(buf) != "GET /" {
		t.Errorf("the local connection after the failure: %q, %v; want it open and unread", buf, err)
	}
}

// stuckConn is a connection to a pod whose Close does not return until
// release is closed, as client-go's waits for streams a pod being deleted
// never ends.
type stuckConn struct {
	idleConn
	release chan struct{}
}

func (c *stuckConn) Close() error { <-c.release; return nil }

// TestPodConnCloseHoldsNoForward: the pod is no longer the target while its
// shared connection's Close hangs; a forward that gave up on it (its stream
// creations saw the pod gone) goes on at once, rather than wait for that
// Close to say its connection failed (CI saw local connections held 40 s,
// unanswered, after a deleted pod's replacement became the target).
func TestPodConnCloseHoldsNoForward(t *testing.T) {
	var pending sync.WaitGroup
	p := &podConn{pod: Pod{Name: "p"}, ctx: context.Background(), pending: &pending, gone: make(chan struct{})}
	sc := &stuckConn{idleConn: idleConn{closed: make(chan bool)}, release: make(chan struct{})}
	defer close(sc.release)
	p.conn = sc
	closed := make(chan struct{})
	go func() { // ends once sc's Close returns, or at once
		defer close(closed)
		p.close()
	}()
	<-p.gone // what the forwards on p see
	failed := make(chan struct{})
	go func() { // ends with p.failed
		defer close(failed)
		p.failed(sc)
	}()
	for what, ch := range map[string]chan struct{}{"failed": failed, "close": closed} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("podConn.%s waited for the connection's Close", what)
		}
	}
	if _, _, err := p.connect(context.Background(), nil); !errors.Is(err, errPodGone) {
		t.Errorf("connect after close: %v; want errPodGone", err)
	}
}
