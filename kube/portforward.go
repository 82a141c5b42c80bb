package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// ForwardOptions say what [Client.PortForward] forwards.
type ForwardOptions struct {
	Pods       PodSelector
	LocalPort  int // on 127.0.0.1; 0 picks a free port (see [Forwarder.Addr])
	RemotePort int
	// WaitForPod bounds how long a local connection waits for a ready pod while there is none
	// (during a rollout, say) before it is closed. Default 30 s.
	WaitForPod time.Duration
	// Log gets one line per (re)target and per failed connection. Nil discards.
	Log io.Writer
}

// Forwarder is a running port-forward: a listener on 127.0.0.1 whose connections go to
// RemotePort of one ready pod of the selector, re-targeted to another ready pod when that
// one goes away. Close stops it.
type Forwarder struct {
	c         *Client
	opts      ForwardOptions
	ln        net.Listener
	watch     *PodWatch
	ctx       context.Context // cancelled by Close: ends waits for a pod
	stop      context.CancelFunc
	unhookCtx func() bool
	wg        sync.WaitGroup
	reqID     atomic.Int64
	once      sync.Once

	mu      sync.Mutex
	target  *podConn              // guarded by mu; written only by the run goroutine; nil while no pod is ready
	changed chan struct{}         // guarded by mu; closed and replaced when target changes
	conns   map[net.Conn]struct{} // guarded by mu; open local connections
	closed  bool                  // guarded by mu
}

// PortForward listens on 127.0.0.1:LocalPort and forwards each connection to RemotePort of a
// ready pod of opts.Pods, through the API server (WebSocket tunnel, or SPDY when the server
// cannot upgrade to it). It returns once a ready pod is chosen and reachable and the port
// accepts connections, or with an error when ctx ends first. When the pod goes away,
// new connections go to another ready pod (waiting for one up to WaitForPod); connections
// open to the old pod are cut. Close (or cancelling ctx) stops it.
func (c *Client) PortForward(ctx context.Context, opts ForwardOptions) (*Forwarder, error) {
	if opts.RemotePort <= 0 || opts.RemotePort > 65535 {
		return nil, fmt.Errorf("port-forward: bad remote port %d", opts.RemotePort)
	}
	if opts.WaitForPod <= 0 {
		opts.WaitForPod = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	opts.Pods.Namespace = c.namespace(opts.Pods.Namespace)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.LocalPort)))
	if err != nil {
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	watch, err := c.WatchPods(ctx, opts.Pods)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	fctx, stop := context.WithCancel(context.Background())
	f := &Forwarder{
		c: c, opts: opts, ln: ln, watch: watch, ctx: fctx, stop: stop,
		changed: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
	}
	f.unhookCtx = context.AfterFunc(ctx, f.shutdown)
	f.wg.Add(1)
	go f.run()

	// Wait for a ready pod and dial it, so that a caller checking the port knows it works.
	for {
		t, err := f.waitTarget(ctx, 0)
		if err != nil {
			f.Close()
			if ctx.Err() != nil {
				err = ctx.Err() // not the errForwarderClosed its cancellation caused
			}
			return nil, fmt.Errorf("port-forward to %s: no ready pod: %w", opts.Pods, err)
		}
		if _, err := t.connect(f.dial); err != nil {
			if errors.Is(err, errPodGone) {
				continue // replaced meanwhile: take the next one
			}
			f.Close()
			return nil, fmt.Errorf("port-forward to pod %s: %w", t.pod, err)
		}
		break
	}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the local address, 127.0.0.1:PORT.
func (f *Forwarder) Addr() string { return f.ln.Addr().String() }

// Port is the local port.
func (f *Forwarder) Port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// Target returns the pod connections go to now (the zero Pod while none is ready) and a
// channel that is closed when that changes.
func (f *Forwarder) Target() (Pod, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.target == nil {
		return Pod{}, f.changed
	}
	return f.target.pod, f.changed
}

// run follows the pod watch and is the only writer of f.target.
func (f *Forwarder) run() {
	defer f.wg.Done()
	for ev := range f.watch.Events() {
		f.mu.Lock()
		old := f.target
		switch ev.Type {
		case PodReady:
			if f.target == nil && !f.closed {
				f.target = &podConn{pod: ev.Pod}
			}
		case PodGone:
			if f.target != nil && f.target.pod.UID == ev.Pod.UID {
				f.target = nil
				for _, p := range f.watch.Running() {
					if p.Ready && p.UID != ev.Pod.UID && !f.closed {
						f.target = &podConn{pod: p}
						break
					}
				}
			}
		}
		if f.target != old {
			close(f.changed)
			f.changed = make(chan struct{})
			if f.target != nil {
				fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s port %d\n", f.Addr(), f.target.pod, f.opts.RemotePort)
			} else {
				fmt.Fprintf(f.opts.Log, "port-forward %s: pod %s is gone, waiting for a ready pod of %s\n", f.Addr(), old.pod, f.opts.Pods)
			}
		}
		f.mu.Unlock()
		if old != nil && f.target != old {
			old.close()
		}
	}
}

// waitTarget returns the current target, waiting for one while there is none: until ctx
// ends, Close, or (if max > 0) max has passed.
func (f *Forwarder) waitTarget(ctx context.Context, max time.Duration) (*podConn, error) {
	var timeout <-chan time.Time
	if max > 0 {
		t := time.NewTimer(max)
		defer t.Stop()
		timeout = t.C
	}
	for {
		f.mu.Lock()
		t, changed, closed := f.target, f.changed, f.closed
		f.mu.Unlock()
		switch {
		case closed:
			return nil, errForwarderClosed
		case t != nil:
			return t, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-f.ctx.Done():
			return nil, errForwarderClosed
		case <-timeout:
			return nil, fmt.Errorf("no ready pod of %s for %v", f.opts.Pods, max)
		}
	}
}

var errForwarderClosed = errors.New("kube: port-forward closed")

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return // closed (a temporary accept error on loopback is not worth a retry loop)
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			conn.Close()
			return
		}
		f.conns[conn] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go f.handle(conn)
	}
}

func (f *Forwarder) handle(conn net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, conn)
		f.mu.Unlock()
		conn.Close()
	}()
	for attempt := 0; ; attempt++ {
		t, err := f.waitTarget(f.ctx, f.opts.WaitForPod)
		if err != nil {
			if !errors.Is(err, errForwarderClosed) {
				fmt.Fprintf(f.opts.Log, "port-forward %s: %v\n", f.Addr(), err)
			}
			return
		}
		sc, err := t.connect(f.dial)
		if err != nil {
			if errors.Is(err, errPodGone) && attempt < 3 {
				continue // re-targeted meanwhile
			}
			fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s: %v\n", f.Addr(), t.pod, err)
			return
		}
		if err := forwardConn(sc, conn, f.opts.RemotePort, f.reqID.Add(1)); err != nil {
			fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s port %d: %v\n", f.Addr(), t.pod, f.opts.RemotePort, err)
			// After an error the kubelet may leave the connection unusable (client-go does
			// the same): the next local connection dials afresh.
			t.reset(sc)
		}
		return
	}
}

// dial opens a port-forward connection to pod, trying the WebSocket tunnel first.
func (f *Forwarder) dial(pod Pod) (httpstream.Connection, error) {
	cfg := f.c.Config.Rest
	u := f.c.Clientset.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	var dialer httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	sc, proto, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, fmt.Errorf("dial port-forward: %w", err)
	}
	if proto != portforward.PortForwardProtocolV1Name {
		sc.Close()
		return nil, fmt.Errorf("dial port-forward: server speaks %q, not %q", proto, portforward.PortForwardProtocolV1Name)
	}
	return sc, nil
}

// forwardConn copies between conn and a new pair of streams on sc for port, as kubectl does.
// It returns when the remote side is done (or either side fails) and all its goroutines
// have returned.
func forwardConn(sc httpstream.Connection, conn net.Conn, port int, id int64) error {
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(port))
	headers.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(id, 10))
	errStream, err := sc.CreateStream(headers)
	if err != nil {
		return fmt.Errorf("create error stream: %w", err)
	}
	errStream.Close() // we write nothing on it
	defer sc.RemoveStreams(errStream)

	var wg sync.WaitGroup
	defer wg.Wait()
	remoteErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil && !isClosedErr(err):
			remoteErr <- fmt.Errorf("read error stream: %w", err)
		case len(msg) > 0:
			remoteErr <- fmt.Errorf("%s", strings.TrimSpace(string(msg)))
		default:
			remoteErr <- nil
		}
	}()

	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := sc.CreateStream(headers)
	if err != nil {
		errStream.Reset()
		return fmt.Errorf("create data stream: %w", err)
	}
	defer sc.RemoveStreams(data)

	remoteDone := make(chan struct{})
	localFailed := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(remoteDone)
		io.Copy(conn, data) // ends when the pod side closes, or conn is closed below
	}()
	go func() {
		defer wg.Done()
		defer data.Close() // tell the pod side we send no more
		if _, err := io.Copy(data, conn); err != nil && !isClosedErr(err) {
			close(localFailed)
		}
	}()
	select {
	case <-remoteDone:
	case <-localFailed:
	}
	conn.Close()
	data.Reset() // discard unsent data, or the error stream may never end
	select {
	case err = <-remoteErr:
	case <-sc.CloseChan():
		errStream.Reset()
		err = <-remoteErr
	}
	return err
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		strings.Contains(strings.ToLower(err.Error()), "use of closed network connection") ||
		strings.Contains(strings.ToLower(err.Error()), "stream reset")
}

var errPodGone = errors.New("kube: pod no longer targeted")

// podConn is the port-forward connection to one pod, dialled on first use and again after
// it broke.
type podConn struct {
	pod Pod

	mu     sync.Mutex
	conn   httpstream.Connection // guarded by mu; nil until dialled
	closed bool                  // guarded by mu
}

func (p *podConn) connect(dial func(Pod) (httpstream.Connection, error)) (httpstream.Connection, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPodGone
	}
	if p.conn != nil {
		select {
		case <-p.conn.CloseChan():
			p.conn = nil
		default:
			return p.conn, nil
		}
	}
	c, err := dial(p.pod)
	if err != nil {
		return nil, err
	}
	p.conn = c
	return c, nil
}

// reset drops sc if it is still the current connection.
func (p *podConn) reset(sc httpstream.Connection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == sc {
		p.conn.Close()
		p.conn = nil
	}
}

func (p *podConn) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}

// shutdown stops everything without waiting.
func (f *Forwarder) shutdown() {
	f.once.Do(func() {
		f.stop()
		f.ln.Close()
		f.mu.Lock()
		f.closed = true
		for c := range f.conns {
			c.Close()
		}
		t := f.target
		f.mu.Unlock()
		f.watch.closeStop() // ends run (Events is closed)
		if t != nil {
			t.close()
		}
	})
}

// Close stops the forwarder: the listener, the pod watch, open connections; and waits for
// all its goroutines.
func (f *Forwarder) Close() error {
	f.unhookCtx()
	f.shutdown()
	f.wg.Wait()
	f.watch.Close()
	return nil
}
