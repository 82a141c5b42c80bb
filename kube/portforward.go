package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	apispdy "k8s.io/apimachinery/pkg/util/httpstream/spdy"
	portforwardconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/transport/websocket"
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
	pending   sync.WaitGroup // shared dials (see podConn.connect)
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
		if _, _, err := t.connect(ctx, f.dial); err != nil {
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
				f.target = f.newPodConn(ev.Pod)
			}
		case PodGone:
			if f.target != nil && f.target.pod.UID == ev.Pod.UID {
				f.target = nil
				for _, p := range f.watch.Running() {
					if p.Ready && p.UID != ev.Pod.UID && !f.closed {
						f.target = f.newPodConn(p)
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
	failed := func(ctx context.Context, err error) {
		if !errors.Is(err, errForwarderClosed) {
			fmt.Fprintf(f.opts.Log, "port-forward %s: %v\n", f.Addr(), setupErr(ctx, err))
		}
	}
	t, err := f.waitTarget(f.ctx, f.opts.WaitForPod)
	if err != nil {
		failed(f.ctx, err)
		return
	}
	// Once there is a pod to go to, setting the forward up (the connection to the pod,
	// its streams, the tries again) has connectTimeout in all.
	setup, cancel := context.WithTimeout(f.ctx, connectTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if t, err = f.waitTarget(setup, f.opts.WaitForPod); err != nil {
				failed(setup, err)
				return
			}
		}
		sc, shared, err := t.connect(setup, f.dial)
		if err != nil {
			if errors.Is(err, errPodGone) && attempt < 3 {
				continue // re-targeted meanwhile
			}
			fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s: %v\n", f.Addr(), t.pod, setupErr(setup, err))
			return
		}
		// After an error the kubelet may leave the connection unusable (client-go does
		// the same), and a stream created on it then waits 30 s for a reply that never
		// comes: it is dropped as soon as the pod side reports one (its port refused the
		// forward, say, while its server is not up yet), and until a forward succeeds
		// again each one gets a connection of its own.
		create := func(h http.Header, ended <-chan struct{}) (httpstream.Stream, error) {
			return f.createStream(setup, sc, h, t.gone, ended)
		}
		err = forwardConn(sc, create, conn, f.opts.RemotePort, f.reqID.Add(1), func() { t.failed(sc) }, t.gone, f.ctx.Done())
		if !shared {
			closeAside(sc)
		}
		if err == nil {
			t.succeeded()
			return
		}
		t.failed(sc)
		if !errors.Is(err, errNoStreams) {
			fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s port %d: %v\n", f.Addr(), t.pod, f.opts.RemotePort, err)
			return
		}
		if attempt < 3 {
			continue // nothing was read from conn yet: again, on a fresh connection
		}
		fmt.Fprintf(f.opts.Log, "port-forward %s -> pod %s port %d: %v\n", f.Addr(), t.pod, f.opts.RemotePort, setupErr(setup, err))
		return
	}
}

// connectTimeout bounds the setting up of one local connection's forward once a pod is
// there to go to: the connection to the pod, the creation of its streams, and the tries
// again after either failed. Each part has a bound of its own (dialTimeout,
// streamTimeout), but the tries add up, and local connections that came together once
// waited for each other's dials one after another: CI saw one held 40 s, neither forwarded
// nor closed. A forward that carries data has no bound.
var connectTimeout = 10 * time.Second // a var for tests

// setupErr says that setup's time ran out, where that is why err came.
func setupErr(setup context.Context, err error) error {
	if errors.Is(setup.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("not set up within %v: %w", connectTimeout, err)
	}
	return err
}

// errNoStreams is a forward that failed before it carried any data: its streams could not
// be created. The local connection is untouched.
var errNoStreams = errors.New("kube: port-forward streams not created")

// streamTimeout bounds the creation of a stream. client-go waits up to 30 s for the reply,
// and a pod being deleted, or a connection the pod side gave up after an error, never
// replies; closing the connection does not end that wait. Healthy, the reply takes one
// round trip.
const streamTimeout = 3 * time.Second

// createStream creates a stream on sc, giving up after streamTimeout, when gone is closed
// (the pod is no longer the target), when ended is (the pod side has ended the forward
// the stream is for; nil: never), when setup ends or when the forwarder closes. A creation
// given up on goes on in its goroutine until client-go's own 30 s timeout at most (nothing
// ends it sooner: not even closing sc), and a stream created late is reset. Close does not
// wait for it: a pets port-forward stopped while one was pending (connections came in while
// its pod was deleted, within the last 30 s) was killed after pets' stop grace period (the
// cluster test's Close took 24 s).
func (f *Forwarder) createStream(setup context.Context, sc httpstream.Connection, h http.Header, gone, ended <-chan struct{}) (httpstream.Stream, error) {
	type created struct {
		s   httpstream.Stream
		err error
	}
	var (
		mu        sync.Mutex
		abandoned bool // guarded by mu
		done      = make(chan created, 1)
	)
	go func() { // ends by itself, within client-go's 30 s (see above)
		s, err := sc.CreateStream(h)
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if s != nil {
				s.Reset()
			}
			return
		}
		done <- created{s, err}
	}()
	timer := time.NewTimer(streamTimeout)
	defer timer.Stop()
	var why string
	select {
	case c := <-done:
		return c.s, c.err
	case <-timer.C:
		why = fmt.Sprintf("no reply within %v", streamTimeout)
	case <-gone:
		why = "the pod is no longer the target"
	case <-ended:
		why = "the pod side ended the forward"
	case <-f.ctx.Done():
		why = "the port-forward is closing"
	case <-setup.Done():
		why = "no stream yet"
	}
	mu.Lock()
	abandoned = true
	mu.Unlock()
	select {
	case c := <-done: // it came meanwhile
		if c.s != nil {
			c.s.Reset()
		}
	default:
	}
	return nil, errors.New(why)
}

// dial opens a port-forward connection to pod, trying the WebSocket tunnel first, until
// ctx ends (the WebSocket upgrade; the SPDY fallback has client-go's own bounds).
func (f *Forwarder) dial(ctx context.Context, pod Pod) (httpstream.Connection, error) {
	cfg := f.c.Config.Rest
	u := f.c.Clientset.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	var dialer httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	wsTransport, holder, err := websocket.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	tunnel := &tunnelDialer{ctx: ctx, url: u, transport: wsTransport, holder: holder}
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

// dialTimeout bounds the WebSocket upgrade of a port-forward connection. CI once saw a
// connection through a forward to a pod where nothing listens take 40 s (its client's
// own deadline): client-go's tunnelling dialer makes its request without a context, and
// its WebSocket dialer has no handshake timeout, so an upgrade the API server or the
// kubelet does not answer (under load, say) held the local connection without end, when
// every other wait of a forward is bounded. Healthy, the upgrade takes a few round trips.
var dialTimeout = 10 * time.Second // a var for tests

// tunnelDialer dials SPDY over a WebSocket tunnel, as client-go's
// portforward.NewSPDYOverWebsocketDialer does, with a deadline: the upgrade is given up
// on after dialTimeout. It bounds the handshake alone (the WebSocket dialer sets it on the
// connection and clears it once upgraded), and only the deadline: a dial begun before the
// forwarder closes still ends by it, not at once. A dial that cannot start because ctx
// has ended fails at once.
type tunnelDialer struct {
	ctx       context.Context
	url       *url.URL
	transport http.RoundTripper
	holder    websocket.ConnectionHolder
}

func (d *tunnelDialer) Dial(protocols ...string) (httpstream.Connection, string, error) {
	ctx, cancel := context.WithTimeout(d.ctx, dialTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url.String(), nil) // WebSockets upgrade a GET
	if err != nil {
		return nil, "", err
	}
	tunnelled := make([]string, len(protocols))
	for i, p := range protocols {
		tunnelled[i] = portforwardconst.WebsocketsSPDYTunnelingPrefix + p
	}
	ws, err := websocket.Negotiate(d.transport, d.holder, req, tunnelled...)
	if err != nil {
		if dl, _ := ctx.Deadline(); !time.Now().Before(dl) && d.ctx.Err() == nil {
			return nil, "", fmt.Errorf("no answer to the upgrade within %v: %w", dialTimeout, err)
		}
		return nil, "", err
	}
	sc, err := apispdy.NewClientConnectionWithPings(portforward.NewTunnelingConnection("client", ws), portforward.PingPeriod)
	if err != nil {
		ws.Close()
		return nil, "", err
	}
	return sc, strings.TrimPrefix(ws.Subprotocol(), portforwardconst.WebsocketsSPDYTunnelingPrefix), nil
}

// forwardConn copies between conn and a new pair of streams on sc for port (made with
// create, which gives up on a stream once its second argument is closed), as kubectl does.
// It returns when the remote side is done (or either side fails) and all its goroutines
// have returned. A failure to create the streams wraps errNoStreams (conn was not read).
// broken is called as soon as the pod side reports an error, before conn is closed.
// It also returns when gone is closed (the pod is no longer the target) or closing is
// (the forwarder closes): a connection to a pod being deleted may never end its streams,
// nor let them end (client-go's Close waits for them), and a stream created on it just
// as it was closed is never reset (make test saw a forward wait 29 minutes, and Close with
// it).
func forwardConn(sc httpstream.Connection, create func(http.Header, <-chan struct{}) (httpstream.Stream, error), conn net.Conn, port int, id int64, broken func(), gone, closing <-chan struct{}) error {
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(port))
	headers.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(id, 10))
	errStream, err := create(headers, nil)
	if err != nil {
		return fmt.Errorf("%w: create error stream: %w", errNoStreams, err)
	}
	errStream.Close() // we write nothing on it
	defer sc.RemoveStreams(errStream)

	var wg sync.WaitGroup
	defer wg.Wait()
	pod := watchErrorStream(errStream, broken, &wg)
	remoteErr := pod.result

	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	// The pod side may end the forward before it answers the data stream, which it then
	// never does: when nothing listens on its port (it says so: the local connection ends
	// with its error), or when the pod is being deleted (it says nothing: the connection
	// is tried again, on a fresh connection to the pod). Either at once, rather than once
	// the stream's creation times out.
	data, err := create(headers, pod.ended)
	if err != nil {
		errStream.Reset()
		select {
		case <-pod.ended:
			if pod.refused != nil {
				conn.Close()
				return pod.refused
			}
			err = errors.New("the pod side ended the forward before it answered its data stream")
		default:
		}
		return fmt.Errorf("%w: create data stream: %w", errNoStreams, err)
	}
	defer sc.RemoveStreams(data)

	got, err := copyStreams(conn, data, remoteErr, gone, closing, &wg)
	conn.Close()
	data.Reset() // discard unsent data, or the error stream may never end
	if got {
		return err
	}
	select {
	case err = <-remoteErr:
	case <-sc.CloseChan():
		errStream.Reset()
		err = <-remoteErr
	case <-gone:
		errStream.Reset()
		err = <-remoteErr
	case <-closing:
		errStream.Reset()
		err = <-remoteErr
	}
	return err
}

// errorWatch is how the pod side ends one forward, as its error stream says.
type errorWatch struct {
	result  chan error    // how the stream ended: the pod side's error, a read error, or nil
	ended   chan struct{} // closed once it has ended
	refused error         // the pod side's error, if it said one; set before ended is closed
}

// watchErrorStream reads errStream to its end in a goroutine counted in wg;
// broken is called as soon as the pod side has said an error.
func watchErrorStream(errStream io.Reader, broken func(), wg *sync.WaitGroup) *errorWatch {
	w := &errorWatch{result: make(chan error, 1), ended: make(chan struct{})}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(w.ended)
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil && !isClosedErr(err):
			w.result <- fmt.Errorf("read error stream: %w", err)
		case len(msg) > 0:
			broken()
			w.refused = fmt.Errorf("%s", strings.TrimSpace(string(msg)))
			w.result <- w.refused
		default:
			w.result <- nil
		}
	}()
	return w
}

// copyStreams copies between conn and data (in goroutines counted in wg)
// until the pod side is done, either side fails, gone or closing is closed,
// or the pod side's error comes on errs; got says whether errs was read
// (err is what it said).
func copyStreams(conn net.Conn, data httpstream.Stream, errs <-chan error, gone, closing <-chan struct{}, wg *sync.WaitGroup) (got bool, err error) {
	remoteDone := make(chan struct{})
	localFailed := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(remoteDone)
		io.Copy(conn, data) // ends when the pod side closes, or conn is closed by the caller
	}()
	go func() {
		defer wg.Done()
		defer data.Close() // tell the pod side we send no more
		if _, err := io.Copy(data, conn); err != nil && !isClosedErr(err) {
			close(localFailed)
		}
	}()
	// Done when the pod side is, or either side fails. An error from the pod side ends it
	// at once (nothing more comes, and the local client should see the end now); the error
	// stream's plain end may come before the last data, so that waits for the data.
	for {
		select {
		case <-remoteDone:
			return got, nil
		case <-localFailed:
			return got, nil
		case err = <-errs:
			got, errs = true, nil
			if err != nil {
				return got, err
			}
		case <-gone:
			return got, nil
		case <-closing:
			return got, nil
		}
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		strings.Contains(strings.ToLower(err.Error()), "use of closed network connection") ||
		strings.Contains(strings.ToLower(err.Error()), "stream reset")
}

var errPodGone = errors.New("kube: pod no longer targeted")

// podConn is the port-forward connection to one pod, shared by the forwards to it, dialled
// on first use and again after it broke. While the pod side fails forwards, each forward
// dials a connection of its own instead (see handle).
type podConn struct {
	pod     Pod
	ctx     context.Context // the forwarder's: bounds the shared dial
	pending *sync.WaitGroup // the forwarder's: Close waits for the shared dial

	mu      sync.Mutex
	conn    httpstream.Connection // guarded by mu; nil until dialled
	dialing *dialCall             // guarded by mu; the shared connection's dial under way, or nil
	shaky   bool                  // guarded by mu; a forward failed since the last one that did not
	closed  bool                  // guarded by mu
	gone    chan struct{}         // closed by close
}

// dialCall is one dial of a pod's shared connection, which the forwards that want it
// wait for together.
type dialCall struct {
	done chan struct{} // closed once conn and err are set
	conn httpstream.Connection
	err  error
}

func (f *Forwarder) newPodConn(pod Pod) *podConn {
	return &podConn{pod: pod, ctx: f.ctx, pending: &f.pending, gone: make(chan struct{})}
}

// connect returns a connection to forward on, and whether it is the shared one (if not,
// the caller closes it when done). It waits no longer than ctx: forwards that want the
// shared connection while it is dialled wait for that one dial together (it goes on,
// bounded by dialTimeout, for those that still want it), and one that fails fails them
// all. While shaky, each forward dials its own, within ctx.
func (p *podConn) connect(ctx context.Context, dial func(context.Context, Pod) (httpstream.Connection, error)) (httpstream.Connection, bool, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, errPodGone
	}
	if p.shaky {
		p.mu.Unlock()
		c, err := dial(ctx, p.pod)
		return c, false, err
	}
	if p.conn != nil {
		select {
		case <-p.conn.CloseChan():
			p.conn = nil
		default:
			c := p.conn
			p.mu.Unlock()
			return c, true, nil
		}
	}
	call := p.dialing
	if call == nil {
		call = &dialCall{done: make(chan struct{})}
		p.dialing = call
		p.pending.Add(1)
		go func() { // owned by the forwarder: Close waits for it (dialTimeout at most)
			defer p.pending.Done()
			c, err := dial(p.ctx, p.pod)
			p.mu.Lock()
			p.dialing = nil
			switch {
			case err != nil:
			case p.closed:
				closeAside(c) // the pod is no longer the target
				c, err = nil, errPodGone
			default:
				p.conn = c
			}
			call.conn, call.err = c, err
			p.mu.Unlock()
			close(call.done)
		}()
	}
	p.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return nil, false, call.err
		}
		return call.conn, true, nil
	case <-ctx.Done():
		return nil, false, fmt.Errorf("waiting for the connection to the pod: %w", ctx.Err())
	}
}

// failed drops sc if it is the shared connection, and gives the forwards that follow a
// connection of their own until one succeeds.
func (p *podConn) failed(sc httpstream.Connection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shaky = true
	if p.conn == sc {
		closeAside(p.conn)
		p.conn = nil
	}
}

// succeeded: a forward went through; the forwards share a connection again.
func (p *podConn) succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shaky = false
}

func (p *podConn) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		close(p.gone)
	}
	p.closed = true
	if p.conn != nil {
		closeAside(p.conn)
		p.conn = nil
	}
}

// closeAside closes c in a goroutine of its own, which ends with client-go's
// Close: that waits for the connection's streams, which a pod being deleted
// may never end, and a forward that waited for it (podConn's lock, taken to
// say the connection failed) held its local connection as long, unanswered
// (CI saw 40 s).
func closeAside(c httpstream.Connection) {
	go func() { _ = c.Close() }()
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
// its goroutines, but those of stream creations it gave up on (see createStream), which
// end by themselves.
func (f *Forwarder) Close() error {
	f.unhookCtx()
	f.shutdown()
	f.wg.Wait()
	f.pending.Wait()
	f.watch.Close()
	return nil
}
