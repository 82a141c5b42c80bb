package kube

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
