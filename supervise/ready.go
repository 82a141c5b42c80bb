package supervise

// Ready: when a service counts as up, and whether what answers is its own.
//
// A service is ready when every check it asked for passes, within one
// timeout: its address accepts TCP connections (or, with http=, answers a
// GET with 2xx or 3xx), its cmd= exits 0, a line of its output since this
// start matches its log= regexp. A service without an address and without a
// check is ready once started. The server passed to service() must stay
// alive until then: when it exits first, Ready fails at once.
//
// Who listens (Linux; elsewhere pets cannot tell and checks only the
// answers): the sockets that listened before this start's first process are
// noted (host.forking). A local address held by one of those is busy: Ready
// fails at once, naming the holder. Once the checks pass, a listener that
// belongs to no process of the service's tree (the processes carrying this
// start's PETS_INSTANCE, the process groups start() began, and their
// descendants) is a warning: a proxy such as docker-proxy for
// `docker run -p` listens for the service that way. On a timeout, the
// ports the tree does listen on are named.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

const timeoutAdvice = `if it is just slow, raise the timeout (service(..., timeout="2m") or --timeout)`

func (h *host) Ready(ctx context.Context, k petsfile.Key, p petsfile.Process, r petsfile.Readiness) error {
	t0 := time.Now()
	defer func() { slog.Debug("supervise: ready", "service", k, "wait", time.Since(t0)) }()
	timeout := r.Timeout
	if timeout == 0 {
		timeout = h.s.ReadyTimeout
	}
	if timeout == 0 {
		timeout = DefaultReadyTimeout
	}
	h.s.mu.Lock()
	pr := h.s.procs[p.PID]
	h.s.mu.Unlock()
	if pr == nil {
		return fmt.Errorf("service: the server (pid %d) was not started by start() in this provider", p.PID)
	}
	checks, err := h.checks(r)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range checks {
			c.close()
		}
	}()
	var at *address
	if r.Port != 0 {
		at = resolve(ctx, r.Hostname, r.Port)
		// Where connecting is the only check, a listener that was there
		// before the start answers the first probe, and checkOwner refuses
		// it then: no need to look for it now, while the server starts.
		if len(checks) != 1 || checks[0].kind() != "tcp" {
			if err := h.refuseBusy(at); err != nil {
				return err
			}
		}
	}
	if len(checks) == 0 {
		return nil // no address, nothing to check: ready once started
	}

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Probes end when the server exits (a cmd= check may take a while).
	pctx, stop := context.WithCancel(wctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-pr.Done():
			stop()
		case <-pctx.Done():
		}
	}()
	defer wg.Wait()
	defer stop()

	say := func(elapsed time.Duration) {
		what, status := waitingFor(checks)
		h.progress(waitLine(what, status, elapsed, timeout))
	}
	passed := await(pctx, checks, pr.Done(), progressEvery, say)
	select {
	case <-pr.Done():
		lastLook(checks)
		return h.exitedError(exitText(pr.Err()), checks)
	default:
	}
	if !passed {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		lastLook(checks)
		return h.timeoutError(timeout, checks, at)
	}
	if at != nil {
		return h.checkOwner(at)
	}
	return nil
}

// readyCheck is one readiness probe.
type readyCheck interface {
	kind() string                                    // "tcp", "http", "cmd" or "log"
	what() string                                    // what it waits for: "127.0.0.1:8080 to accept connections"
	probe(ctx context.Context) (ok bool, res string) // res: what failed, for messages
	wait(since time.Duration) time.Duration          // before the next try, since the first
	close()
}

// pending is a check and how it has gone so far.
type pending struct {
	readyCheck
	passed bool
	last   string // the last failed probe's result
	cut    bool   // last is of a probe cut short (the server exited, time ran out)
	next   time.Time
}

// checks returns the probes r asks for.
func (h *host) checks(r petsfile.Readiness) ([]*pending, error) {
	var out []*pending
	add := func(c readyCheck) { out = append(out, &pending{readyCheck: c}) }
	if r.Port != 0 || r.Hostname != "" {
		if r.Port <= 0 || r.Port > 65535 || r.Hostname == "" {
			return nil, fmt.Errorf("service: the address %q is not host and port", net.JoinHostPort(r.Hostname, strconv.Itoa(r.Port)))
		}
		hp := net.JoinHostPort(r.Hostname, strconv.Itoa(r.Port))
		if r.HTTP != "" {
			path := r.HTTP
			if !strings.HasPrefix(path, "/") {
				path = "/" + path
			}
			add(newHTTPCheck("http://"+hp+path, path))
		} else {
			add(&tcpCheck{addr: hp})
		}
	} else if r.HTTP != "" {
		return nil, fmt.Errorf("service: http=%q needs a host and a port to send the GET to", r.HTTP)
	}
	if r.Log != "" {
		re, err := regexp.Compile(r.Log)
		if err != nil {
			return nil, fmt.Errorf("service: log=%q is not a valid regular expression: %w", r.Log, err)
		}
		add(&logCheck{path: h.log.Name(), offset: h.logStart, re: re})
	}
	if r.Command != nil {
		add(&cmdCheck{h: h, c: *r.Command})
	}
	return out, nil
}

// await probes checks until all have passed (true), ctx ends or exited is
// closed (false). Every interval meanwhile, say (if not nil) is told how long
// it has waited; it is called from await's goroutine, between probes.
func await(ctx context.Context, checks []*pending, exited <-chan struct{}, every time.Duration, say func(elapsed time.Duration)) bool {
	t0 := time.Now()
	waiting.Add(1)
	defer waiting.Add(-1)
	var tick <-chan time.Time
	if say != nil && every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for ctx.Err() == nil {
		var next time.Time
		for _, c := range checks {
			if c.passed {
				continue
			}
			if !time.Now().Before(c.next) {
				ok, res := c.probe(ctx)
				if ok {
					c.passed = true
					continue
				}
				if ctx.Err() == nil || c.last == "" { // a probe cut short says little
					c.last, c.cut = res, ctx.Err() != nil
				}
				c.next = time.Now().Add(c.wait(time.Since(t0)))
			}
			if next.IsZero() || c.next.Before(next) {
				next = c.next
			}
		}
		if next.IsZero() {
			return true
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-exited:
			t.Stop()
			return false
		case <-tick:
			t.Stop()
			say(time.Since(t0))
		case <-t.C:
		}
	}
	return false
}

// lastLook probes once more, for the message, the checks that are cheap
// and cannot hang: the output a log check has not read yet, and an address
// not probed yet or whose last probe was cut short (it says no more than
// "context canceled").
func lastLook(checks []*pending) {
	for _, c := range checks {
		if c.passed {
			continue
		}
		_, isLog := c.readyCheck.(*logCheck)
		_, isCmd := c.readyCheck.(*cmdCheck)
		if isLog || (c.cut || c.last == "") && !isCmd {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if ok, res := c.probe(ctx); !ok {
				c.last = res
			}
			cancel()
		}
	}
}

// quick is the pace of cheap probes: for the first 50ms (a start or a
// restart is waiting on it) every quickPace times the readiness waits under
// way in this process, at most every millisecond, then every 10ms. A
// service that starts alone is seen to listen sooner (from its
// announcement to pets' probe, median of 25 launches: 0.4 ms, against 1.3
// at a millisecond's pace), and many that start at once dial no more than
// one each a millisecond, as before: 30 dependents that start side by side
// need the cores (make bench's parallel).
func quick(since time.Duration) time.Duration { return pace(since, waiting.Load()) }

// pace is quick's pace with waits readiness waits under way.
func pace(since time.Duration, waits int32) time.Duration {
	if since < 50*time.Millisecond {
		return min(time.Duration(max(waits, 1))*quickPace, time.Millisecond)
	}
	return 10 * time.Millisecond
}

// quickPace is the fastest pace of cheap probes (see quick).
const quickPace = 250 * time.Microsecond

// waiting counts the readiness waits (await) under way in this process.
var waiting atomic.Int32

// tcpCheck: the address accepts a TCP connection.
type tcpCheck struct{ addr string }

func (c *tcpCheck) kind() string                       { return "tcp" }
func (c *tcpCheck) what() string                       { return c.addr + " to accept connections" }
func (c *tcpCheck) wait(d time.Duration) time.Duration { return quick(d) }
func (c *tcpCheck) close()                             {}

func (c *tcpCheck) probe(ctx context.Context) (bool, string) {
	dctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", c.addr)
	if err != nil {
		return false, err.Error()
	}
	conn.Close()
	return true, ""
}

// httpCheck: a GET answers 2xx or 3xx (redirects are not followed).
type httpCheck struct {
	url, path string
	client    *http.Client
	answered  bool // the last try got an answer (not a connection error)
}

func newHTTPCheck(u, path string) *httpCheck {
	return &httpCheck{url: u, path: path, client: &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

func (c *httpCheck) kind() string { return "http" }
func (c *httpCheck) what() string { return "GET " + c.url + " to answer 2xx or 3xx" }
func (c *httpCheck) close()       { c.client.CloseIdleConnections() }

func (c *httpCheck) wait(d time.Duration) time.Duration {
	if c.answered {
		return 100 * time.Millisecond // it listens: do not hammer it
	}
	return quick(d)
}

func (c *httpCheck) probe(ctx context.Context) (bool, string) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false, "GET " + c.path + ": " + err.Error()
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.answered = false
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, "GET " + c.path + ": " + err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	c.answered = true
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, "GET " + c.path + ": " + resp.Status
}

// cmdCheck: a command, run like the service's own (its env, its dir), exits
// 0. Each try's output goes to the service's log unless it is the same as
// the previous try's.
type cmdCheck struct {
	h    *host
	c    petsfile.Command
	out  *os.File // this try's output; handed to the command as is
	prev []byte   // the previous try's output
}

func (c *cmdCheck) kind() string { return "cmd" }
func (c *cmdCheck) what() string { return fmt.Sprintf("%q to exit 0", c.c.Line) }

func (c *cmdCheck) wait(d time.Duration) time.Duration {
	if d < 2*time.Second {
		return 100 * time.Millisecond
	}
	return 250 * time.Millisecond
}

func (c *cmdCheck) close() {
	if c.out != nil {
		c.out.Close()
		os.Remove(c.out.Name())
	}
}

func (c *cmdCheck) probe(ctx context.Context) (bool, string) {
	if c.out == nil {
		f, err := os.CreateTemp("", "pets-ready-")
		if err != nil {
			return false, fmt.Sprintf("%q: %v", c.c.Line, err)
		}
		c.out = f
	}
	if err := c.out.Truncate(0); err != nil {
		return false, fmt.Sprintf("%q: %v", c.c.Line, err)
	}
	_, _ = c.out.Seek(0, io.SeekStart)
	err := proc.Run(ctx, proc.Spec{Line: c.c.Line, Dir: c.c.Dir, Env: c.h.env(c.c.Env), Out: c.out}, nil)
	out := readTail(c.out.Name(), 64<<10)
	if len(out) > 0 && !bytes.Equal(out, c.prev) {
		if out[len(out)-1] == '\n' {
			_, _ = c.h.log.Write(out)
		} else {
			_, _ = c.h.log.Write(append(slices.Clip(out), '\n'))
		}
	}
	c.prev = out
	if err == nil {
		return true, ""
	}
	if ctx.Err() != nil {
		return false, fmt.Sprintf("%q was still running", c.c.Line)
	}
	res := fmt.Sprintf("%q %s", c.c.Line, exitedHow(err))
	if l := lastLine(out); l != "" {
		res += ": " + l
	}
	return false, res
}

// exitedHow says how a command ended: "exited 1", or why it did not.
func exitedHow(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return "exited " + strconv.Itoa(ee.ExitCode())
	}
	return "failed: " + err.Error()
}

// readTail returns at most the last n bytes of the file at path.
func readTail(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(io.LimitReader(f, n))
	return b
}

// lastLine is the last non-blank line of b.
func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\r\n\t "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// logCheck: a line of the service's log written since this start matches.
type logCheck struct {
	path    string
	offset  int64 // where this start's output begins
	re      *regexp.Regexp
	f       *os.File
	partial []byte // the last line, not yet ended
	lines   int    // lines read so far
}

func (c *logCheck) kind() string                       { return "log" }
func (c *logCheck) what() string                       { return fmt.Sprintf("a line of its output to match /%s/", c.re) }
func (c *logCheck) wait(d time.Duration) time.Duration { return quick(d) }

func (c *logCheck) close() {
	if c.f != nil {
		c.f.Close()
	}
}

func (c *logCheck) probe(context.Context) (bool, string) {
	if c.f == nil {
		f, err := os.Open(c.path)
		if err != nil {
			return false, "read the log: " + err.Error()
		}
		if _, err := f.Seek(c.offset, io.SeekStart); err != nil {
			f.Close()
			return false, "read the log: " + err.Error()
		}
		c.f = f
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := c.f.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				c.partial = append(c.partial, data...)
				if len(c.partial) > 64<<10 { // a very long line: keep its end
					c.partial = c.partial[len(c.partial)-64<<10:]
				}
				break
			}
			line := append(c.partial, data[:i]...)
			c.partial = c.partial[:0]
			data = data[i+1:]
			c.lines++
			if c.re.Match(bytes.TrimSuffix(line, []byte("\r"))) {
				return true, ""
			}
		}
		if err != nil || n == 0 {
			break
		}
	}
	if len(c.partial) > 0 && c.re.Match(c.partial) {
		return true, ""
	}
	return false, fmt.Sprintf("no line matched /%s/ in %s", c.re, plural(c.lines, "line"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// exitedError: the server exited before the checks passed.
func (h *host) exitedError(status string, checks []*pending) error {
	var left []*pending
	for _, c := range checks {
		if !c.passed {
			left = append(left, c)
		}
	}
	if len(left) == 1 {
		if tc, ok := left[0].readyCheck.(*tcpCheck); ok {
			return fmt.Errorf("the server exited (%s) before %s accepted connections", status, tc.addr)
		}
	}
	if len(left) == 0 {
		return fmt.Errorf("the server exited (%s) as it became ready", status)
	}
	return fmt.Errorf("the server exited (%s) before it was ready: %s", status, results(left))
}

// timeoutError: the checks did not pass in time.
func (h *host) timeoutError(timeout time.Duration, checks []*pending, at *address) error {
	var left []*pending
	for _, c := range checks {
		if !c.passed {
			left = append(left, c)
		}
	}
	advice := timeoutAdvice
	if at != nil {
		if elsewhere := h.listensElsewhere(at); elsewhere != "" {
			advice = elsewhere + "; make the port given to service() and the one the server listens on agree"
		}
	}
	if len(left) == 1 {
		if tc, ok := left[0].readyCheck.(*tcpCheck); ok {
			return fmt.Errorf("%s did not accept TCP connections within %s; %s", tc.addr, timeout, advice)
		}
	}
	return fmt.Errorf("not ready within %s: %s; %s", timeout, results(left), advice)
}

// results names each check and its last result: "http check: GET /healthz: 503 Service Unavailable".
func results(checks []*pending) string {
	var parts []string
	for _, c := range checks {
		last := c.last
		if last == "" {
			last = "not tried yet"
		}
		parts = append(parts, c.kind()+" check: "+last)
	}
	return strings.Join(parts, "; ")
}

// address is a service's declared address and, when it is on this machine,
// its IP addresses: where to look for who listens.
type address struct {
	hostport string
	port     int
	local    []netip.Addr // nil: not on this machine, or not resolved: who listens is not checked
}

// resolve finds which of hostname's addresses are this machine's.
func resolve(ctx context.Context, hostname string, port int) *address {
	a := &address{hostport: net.JoinHostPort(hostname, strconv.Itoa(port)), port: port}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(hostname); err == nil {
		ips = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ips, _ = net.DefaultResolver.LookupNetIP(rctx, "ip", hostname)
		cancel()
	}
	var ifaces []netip.Addr // read once, when an address is not a loopback one
	for _, ip := range ips {
		ip = ip.Unmap()
		if !ip.IsLoopback() && !ip.IsUnspecified() {
			if ifaces == nil {
				ifaces = interfaceAddrs()
			}
			if !slices.Contains(ifaces, ip) {
				continue
			}
		}
		a.local = append(a.local, ip)
	}
	return a
}

func interfaceAddrs() []netip.Addr {
	out := []netip.Addr{} // not nil: read
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// listeners returns the sockets a connection to a may land on; false where
// pets cannot tell.
func (a *address) listeners() ([]proc.Socket, bool) {
	if len(a.local) == 0 {
		return nil, false
	}
	all, err := proc.Listening()
	if err != nil {
		return nil, false
	}
	return proc.ListeningOn(all, a.local, a.port), true
}

// refuseBusy fails when a socket that listened before this start holds a:
// whatever answers there is not the service.
func (h *host) refuseBusy(a *address) error {
	if h.before == nil {
		return nil
	}
	socks, ok := a.listeners()
	if !ok {
		return nil
	}
	for _, sk := range socks {
		if h.before[sk.Inode] {
			return h.busyError(a, h.holderOf(sk))
		}
	}
	return nil
}

// checkOwner, once the checks passed: a port busy since before the start
// fails; a listener outside the service's tree is a warning.
func (h *host) checkOwner(a *address) error {
	if h.before == nil {
		return nil
	}
	// Most often the newest server start() began is the listener: its
	// sockets are read while the listening ones are.
	var newest map[uint64]bool
	read := make(chan struct{})
	go func() { // awaited below
		defer close(read)
		if n := len(h.starts); n > 0 && proc.Alive(h.starts[n-1]) {
			newest, _ = proc.Sockets(h.starts[n-1].PID)
		}
	}()
	socks, ok := a.listeners()
	<-read
	if !ok || len(socks) == 0 {
		return nil // it answered, but pets cannot see the socket: say nothing
	}
	for _, sk := range socks {
		if h.before[sk.Inode] {
			return h.busyError(a, h.holderOf(sk))
		}
	}
	if slices.ContainsFunc(socks, func(sk proc.Socket) bool { return newest[sk.Inode] }) || h.holds(socks) {
		return nil
	}
	x := h.holderOf(socks[0])
	h.s.printf("pets: %s answers, but not from a process of %s: %s listens there. It began listening after %s started, as a proxy such as docker-proxy (docker run -p) does, so %s counts as ready; if that is not what you meant, stop it and restart %s.",
		a.hostport, h.key, x, h.key, h.key, h.key)
	return nil
}

// holds reports whether a process of the service's tree holds one of
// socks (or pets cannot tell). The servers start() began are asked first,
// newest first (a waiter's command before the waiter), one at a time: most
// often the last one is the listener, and the whole tree takes a walk
// through every process.
func (h *host) holds(socks []proc.Socket) bool {
	for i := len(h.starts) - 1; i >= 0; i-- {
		if id := h.starts[i]; proc.Alive(id) {
			if held, err := proc.Holders(socks, []int{id.PID}); err != nil || len(held) > 0 {
				return true
			}
		}
	}
	tree, err := h.tree()
	if err != nil {
		return true
	}
	held, err := proc.Holders(socks, tree)
	return err != nil || len(held) > 0
}

// tree returns the service's processes: those carrying this start's
// instance marker, those in the groups start() began, and their descendants.
func (h *host) tree() ([]int, error) {
	var groups []int
	for _, id := range h.starts {
		if proc.GroupAlive(id) {
			groups = append(groups, id.PID)
		}
	}
	return proc.Tree(instanceVar+"="+h.instance, groups)
}

// listensElsewhere says where the service's tree listens instead of a, or "".
func (h *host) listensElsewhere(a *address) string {
	if len(a.local) == 0 {
		return "" // not an address of this machine
	}
	all, err := proc.Listening()
	if err != nil {
		return ""
	}
	tree, err := h.tree()
	if err != nil || len(tree) == 0 {
		return ""
	}
	held, err := proc.Holders(all, tree)
	if err != nil || len(held) == 0 {
		return ""
	}
	at := map[uint64]bool{}
	for _, sk := range proc.ListeningOn(all, a.local, a.port) {
		at[sk.Inode] = true
	}
	var where []string
	samePort := false
	for _, sk := range all {
		if len(held[sk.Inode]) == 0 || at[sk.Inode] {
			continue
		}
		where = append(where, sk.Addr.String())
		samePort = samePort || int(sk.Addr.Port()) == a.port
	}
	if len(where) == 0 {
		return ""
	}
	slices.Sort(where)
	where = slices.Compact(where)
	declared := "port " + strconv.Itoa(a.port)
	if samePort {
		declared = a.hostport
	}
	return fmt.Sprintf("%s listens on %s, not on the declared %s", h.key, strings.Join(where, " and "), declared)
}

// holder is who holds a socket, as far as pets can tell.
type holder struct {
	pid int // 0: unknown
	cmd string
	// pet is the recorded service (another one) whose process group holds
	// it; startedFor ("name-tier") the service pets started it for, per its
	// environment, when no record holds it.
	pet        *state.Service
	startedFor string
}

func (x holder) String() string {
	switch {
	case x.pid == 0:
		return "another program"
	case x.cmd == "":
		return fmt.Sprintf("pid %d", x.pid)
	}
	cmd := x.cmd
	if len(cmd) > 200 {
		cmd = cmd[:200] + "..."
	}
	return fmt.Sprintf("pid %d (%s)", x.pid, cmd)
}

// holderOf finds who holds sk.
func (h *host) holderOf(sk proc.Socket) holder {
	held, err := proc.Holders([]proc.Socket{sk}, nil)
	if err != nil || len(held[sk.Inode]) == 0 {
		return holder{}
	}
	pid := slices.Min(held[sk.Inode]) // forked workers share their parent's socket
	x := holder{pid: pid, cmd: proc.CmdLine(pid)}
	if g, err := proc.Group(pid); err == nil {
		x.pet = h.recordedGroup(g)
	}
	if x.pet == nil {
		if env, err := proc.Environ(pid); err == nil {
			var name, tier string
			for _, e := range env {
				if v, ok := strings.CutPrefix(e, "PETS_SERVICE="); ok {
					name = v
				} else if v, ok := strings.CutPrefix(e, "PETS_TIER="); ok {
					tier = v
				}
			}
			if name != "" && tier != "" {
				x.startedFor = petsfile.Key{Name: name, Tier: tier}.String()
			}
		}
	}
	return x
}

// recordedGroup returns the recorded service, other than h's, one of whose
// live process groups is pgid.
func (h *host) recordedGroup(pgid int) *state.Service {
	f, err := h.s.State.Read()
	if err != nil {
		return nil
	}
	for _, rec := range f.Services {
		if rec.Name == h.key.Name {
			continue
		}
		for _, p := range rec.Procs {
			if !p.Run && (p.PID == pgid && proc.GroupAlive(p.Identity) || p.Child.PID == pgid && proc.GroupAlive(p.Child)) {
				return rec
			}
		}
	}
	return nil
}

// busyError: a is held by x since before the start.
func (h *host) busyError(a *address, x holder) error {
	switch {
	case x.pet != nil:
		return fmt.Errorf("%s is already in use by %s, %s; two services cannot share a port: give one of them another port, or stop %s first (`pets down %s`)",
			a.hostport, x.pet.Key(), x, x.pet.Key(), x.pet.Name)
	case x.startedFor == h.key.String():
		return fmt.Errorf("%s is already in use by %s, left over from an earlier %s that pets stopped; stop it (`kill %d`), then start %s again",
			a.hostport, x, h.key, x.pid, h.key)
	case x.startedFor != "":
		return fmt.Errorf("%s is already in use by %s, which pets started for %s and no longer tracks; stop it (`kill %d`), or give this service another port",
			a.hostport, x, x.startedFor, x.pid)
	case x.pid != 0:
		return fmt.Errorf("%s is already in use by %s; stop it, or give this service another port", a.hostport, x)
	}
	return fmt.Errorf("%s is already in use by another program (`sudo ss -ltnp 'sport = :%d'` names it); stop it, or give this service another port", a.hostport, a.port)
}
