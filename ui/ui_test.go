package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/internal/freeport"
)

// fakeBackend answers Status with its services and records restarts.
type fakeBackend struct {
	mu       sync.Mutex
	services []Service
	restarts []string
	fail     error
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Status(ctx context.Context) ([]Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Service(nil), f.services...), nil
}

func (f *fakeBackend) Restart(ctx context.Context, service string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restarts = append(f.restarts, service)
	return f.fail
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// start starts a Server on a free port, closed at the end of the test.
func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Port == 0 {
		opts.Port = freePort(t)
	}
	if opts.Backend == nil {
		opts.Backend = &fakeBackend{}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

func request(t *testing.T, s *Server, method, path string, hdr map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+strings.TrimPrefix(path, "/"), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header
}

func TestEveryRequestNeedsTheTokenAndItsOwnOrigin(t *testing.T) {
	s := start(t, Options{Services: []Service{{Name: "a-local", Tier: "local"}}})
	port := strconv.Itoa(s.port)
	cookie := "pets_ui_" + port + "=" + s.Token()
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
		why                string
	}{
		{"no token", "GET", "/", nil, 403, "no token"},
		{"no token, script", "GET", "/assets/app.js", nil, 403, "no token"},
		{"no token, events", "GET", "/events", nil, 403, "no token"},
		{"no token, snapshot", "GET", "/api/snapshot", nil, 403, "no token"},
		{"no token, restart", "POST", "/api/restart", map[string]string{"Content-Type": "application/json"}, 403, "no token"},
		{"wrong token", "GET", "/?token=abc", nil, 403, "wrong token"},
		{"token of the same length, wrong", "GET", "/api/snapshot?token=" + strings.Repeat("f", 64), nil, 403, "wrong token"},
		{"wrong cookie", "GET", "/api/snapshot", map[string]string{"Cookie": "pets_ui_" + port + "=x"}, 403, "wrong token"},
		{"another page's cookie", "GET", "/api/snapshot", map[string]string{"Cookie": "pets_ui_1=" + s.Token()}, 403, "no token"},
		{"foreign Host", "GET", "/api/snapshot", map[string]string{"Cookie": cookie, "Host": "attacker.example:" + port}, 403, "DNS rebinding"},
		{"Host without port", "GET", "/api/snapshot", map[string]string{"Cookie": cookie, "Host": "localhost"}, 403, "is not 127.0.0.1"},
		{"cross-site Origin", "GET", "/events", map[string]string{"Cookie": cookie, "Origin": "https://attacker.example"}, 403, "cross-site"},
		{"other port's Origin", "POST", "/api/restart", map[string]string{"Cookie": cookie, "Origin": "http://127.0.0.1:1", "Content-Type": "application/json"}, 403, "cross-site"},
		{"null Origin", "GET", "/events", map[string]string{"Cookie": cookie, "Origin": "null"}, 403, "cross-site"},
		{"cross-site no-cors", "GET", "/api/snapshot", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site"},
		{"same-site no-cors", "GET", "/assets/app.js", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}, 403, "Sec-Fetch-Site"},
		{"cross-site navigation without token", "GET", "/", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 403, "no token"},
		{"the page, with its cookie", "GET", "/", map[string]string{"Cookie": cookie, "Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"the page, at localhost", "GET", "/", map[string]string{"Cookie": cookie, "Host": "localhost:" + port}, 200, ""},
		{"the page, same origin", "GET", "/assets/app.js", map[string]string{"Cookie": cookie, "Origin": "http://localhost:" + port}, 200, ""},
		{"a navigation with the token", "GET", "/?token=" + s.Token(), map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 303, ""},
		{"the snapshot with the token", "GET", "/api/snapshot?token=" + s.Token(), nil, 200, ""},
		{"a restart not in JSON", "POST", "/api/restart", map[string]string{"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"},
	} {
		code, body, h := request(t, s, c.method, c.path, c.hdr, `{"service":"a-local"}`)
		if code != c.want || c.why != "" && !strings.Contains(body, c.why) {
			t.Errorf("%s: %d %q, want %d saying %q", c.name, code, body, c.want, c.why)
		}
		if code == 403 && !strings.HasPrefix(body, "pets: refused: ") {
			t.Errorf("%s: refusal %q", c.name, body)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", c.name, csp)
		}
	}
	// The token in the address: a cookie, and a redirect without it.
	code, _, h := request(t, s, "GET", "/?token="+s.Token(), nil, "")
	if c := h.Get("Set-Cookie"); code != 303 || h.Get("Location") != "/" || c != cookie+"; Path=/; HttpOnly; SameSite=Strict" {
		t.Errorf("GET /?token=: %d, Location %q, Set-Cookie %q", code, h.Get("Location"), c)
	}
}

func TestItListensOn127001AndFallsBack(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	s, err := New(Options{Port: port, Dir: dir, Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("listen on 127.0.0.1:%d", port)) {
		t.Errorf("a chosen port that is taken: %v", err)
		s.Close()
	}
	s = start(t, Options{Port: port, Fallback: true, Dir: dir})
	if s.port == port || s.ln.Addr().(*net.TCPAddr).IP.String() != "127.0.0.1" {
		t.Errorf("fallback: listening on %s", s.ln.Addr())
	}
	if s.URL() != fmt.Sprintf("http://127.0.0.1:%d/", s.port) {
		t.Errorf("URL %s", s.URL())
	}
}

func TestTheTokenFileIsTheUsersAndGoesAway(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Options{Port: freePort(t), Dir: dir, PID: 4242, Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ui-4242.token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if tok, err := ReadToken(dir, 4242); err != nil || tok != s.Token() || len(tok) != 64 {
		t.Errorf("ReadToken: %q %v, want %q", tok, err, s.Token())
	}
	other, _ := New(Options{})
	if other.Token() == s.Token() {
		t.Error("two pages with one token")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after Close: %v", err)
	}
	// Those of pets that are gone are removed; nothing else is.
	for _, f := range []string{"ui-1.token", "ui-2.token", "ui-x.token", "ui-01.token", "state.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	RemoveTokens(dir, map[int]bool{2: true})
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if fmt.Sprint(left) != "[state.json ui-01.token ui-2.token ui-x.token]" {
		t.Errorf("after RemoveTokens: %v", left)
	}
}

// stream is an event stream read by a test.
type stream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, s *Server) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL()+"events?token="+s.Token(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("events: %s", resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{t: t, resp: resp, r: bufio.NewReaderSize(resp.Body, 1<<20)}
}

// next returns the next event's name and data.
func (st *stream) next() (string, []byte) {
	st.t.Helper()
	var name string
	for {
		line, err := st.r.ReadBytes('\n')
		if err != nil {
			st.t.Fatalf("read the stream: %v", err)
		}
		l := strings.TrimSuffix(string(line), "\n")
		switch {
		case strings.HasPrefix(l, "event: "):
			name = l[len("event: "):]
		case strings.HasPrefix(l, "data: ") && name != "":
			return name, []byte(l[len("data: "):])
		}
	}
}

// until returns the data of the next event named name.
func (st *stream) until(name string) []byte {
	st.t.Helper()
	for {
		n, d := st.next()
		if n == name {
			return d
		}
	}
}

func TestTheStreamIsASnapshotThenUpdates(t *testing.T) {
	be := &fakeBackend{services: []Service{
		{Name: "a-local", Tier: "local", State: events.Ready, Freshness: events.Fresh, Host: "127.0.0.1:1", PID: 10},
		{Name: "b-local", Tier: "local", Deps: []string{"a-local"}, State: events.Ready, Freshness: events.Stale, Files: []string{"/p/b.go"}},
	}}
	s := start(t, Options{Backend: be, Services: []Service{{Name: "a-local", Tier: "local"}}})
	st := openStream(t, s)
	var snap snapshot
	if err := json.Unmarshal(st.until("snapshot"), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Services) != 1 || snap.Services[0].Name != "a-local" || snap.Window != DefaultLogWindow {
		t.Errorf("first snapshot: %+v", snap)
	}
	t0 := time.Now()
	s.Emit(events.Event{Type: events.WatchStarted, Time: t0, PID: 7, Roots: []string{"/p"}, Services: []string{"a-local", "b-local"}})
	var u update
	if err := json.Unmarshal(st.until("update"), &u); err != nil {
		t.Fatal(err)
	}
	if u.Type != events.WatchStarted || u.Watch == nil || u.Watch.PID != 7 || u.T != float64(t0.UnixNano())/1e6 {
		t.Errorf("update: %+v", u)
	}
	// watch.started: the loop's view of every service follows.
	var list struct{ Services []Service }
	if err := json.Unmarshal(st.until("services"), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Services) != 2 || list.Services[1].Deps[0] != "a-local" || list.Services[1].Freshness != events.Stale || list.Services[0].Host != "127.0.0.1:1" {
		t.Errorf("services: %+v", list.Services)
	}
	s.Emit(events.Event{Type: events.RoundPlanned, Round: 1, Reason: "files changed", Files: []string{"/p/a.go"}, Steps: []events.Step{{Kind: events.StepRestart, Service: "a-local", Reason: "a.go changed"}}})
	s.Emit(events.Event{Type: events.ServiceStarting, Service: "a-local", State: events.Starting, Reason: "a.go changed", Round: 1})
	s.Emit(events.Event{Type: events.ServiceReady, Service: "a-local", State: events.Ready, TookMs: 12.5, Host: "127.0.0.1:2", PID: 11, Round: 1})
	s.Emit(events.Event{Type: events.RoundFinished, Round: 1, TookMs: 20, Reason: "files changed", Files: []string{"/p/a.go"}, Steps: []events.Step{{Kind: events.StepRestart, Service: "a-local", Result: events.ResultOK, TookMs: 12.5}}})
	var last update
	for i := 0; i < 4; i++ {
		if err := json.Unmarshal(st.until("update"), &last); err != nil {
			t.Fatal(err)
		}
		if i == 2 && (last.Service == nil || last.Service.State != events.Ready || last.Service.ReadyMs != 12.5 || last.Service.Host != "127.0.0.1:2") {
			t.Errorf("ready: %+v", last.Service)
		}
	}
	if last.Round == nil || last.Round.N != 1 || last.Round.Finished.IsZero() || last.Round.Steps[0].Result != events.ResultOK {
		t.Errorf("round: %+v", last.Round)
	}
	s.Emit(events.Event{Type: events.ReloadRefused, Files: []string{"/p/Petsfile"}, Error: "/p/Petsfile:3:1: got illegal token"})
	if err := json.Unmarshal(st.until("update"), &last); err != nil {
		t.Fatal(err)
	}
	if last.Reload == nil || last.Reload.OK || last.Reload.Error != "/p/Petsfile:3:1: got illegal token" {
		t.Errorf("reload: %+v", last.Reload)
	}
}

func TestTheModelFollowsTheStates(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1000, int64(ms)*1e6) }
	m := newModel([]Service{{Name: "a-local", Tier: "local"}})
	for _, c := range []struct {
		e                events.Event
		state            events.State
		fresh            events.Freshness
		reason, exit, er string
	}{
		{events.Event{Type: events.ServiceReady, TookMs: 5}, events.Ready, "", "", "", ""},
		{events.Event{Type: events.ServiceStale, Files: []string{"/a"}}, events.Ready, events.Stale, "", "", ""},
		{events.Event{Type: events.ServiceBuilding, Reason: "a changed"}, events.Building, events.Stale, "a changed", "", ""},
		{events.Event{Type: events.BuildFailed, Error: "compile error\nmore"}, events.Ready, events.Stale, "its build failed; still running the previous version", "", "compile error\nmore"},
		{events.Event{Type: events.ServiceStarting, Reason: "a changed"}, events.Starting, events.Stale, "a changed", "", "compile error\nmore"},
		{events.Event{Type: events.ServiceFailed, Error: "exited\ntail"}, events.Failed, events.Stale, "exited", "", "exited\ntail"},
		{events.Event{Type: events.ServiceBuilding}, events.Building, events.Stale, "", "", "exited\ntail"},
		{events.Event{Type: events.BuildFailed, Error: "oops"}, events.Failed, events.Stale, "its build failed: oops", "", "oops"},
		{events.Event{Type: events.ServiceReady}, events.Ready, events.Stale, "", "", ""},
		{events.Event{Type: events.ServiceFresh}, events.Ready, events.Fresh, "", "", ""},
		{events.Event{Type: events.ServiceCrashed, Exit: "exit status 1", Reason: "it restarts by itself"}, events.Crashed, events.Fresh, "it restarts by itself", "exit status 1", ""},
		{events.Event{Type: events.ServiceBackoff, Exit: "exit status 1", DelayMs: 500}, events.Backoff, events.Fresh, "", "exit status 1", ""},
		{events.Event{Type: events.ServiceStopped, Reason: "pets down"}, events.Stopped, events.Unknown, "pets down", "exit status 1", ""},
	} {
		c.e.Service, c.e.Time = "a-local", at(1)
		m.apply(c.e)
		s := m.services["a-local"]
		if s.State != c.state || s.Freshness != c.fresh || s.Reason != c.reason || s.Exit != c.exit || s.Error != c.er {
			t.Errorf("after %s: %s %s %q %q %q, want %s %s %q %q %q", c.e.Type, s.State, s.Freshness, s.Reason, s.Exit, s.Error, c.state, c.fresh, c.reason, c.exit, c.er)
		}
	}
	// The loop's view, asked for before the last event, does not undo it;
	// asked for after, it wins.
	m.apply(events.Event{Type: events.ServiceStarting, Service: "a-local", Time: at(10)})
	m.refreshed([]Service{{Name: "a-local", Tier: "local", State: events.Ready, Freshness: events.Fresh}, {Name: "b-local", Tier: "local", Deps: []string{"a-local"}, State: events.Ready}}, at(5))
	if s := m.services["a-local"]; s.State != events.Starting || s.Freshness != events.Fresh {
		t.Errorf("a newer event lost to an older view: %+v", s)
	}
	if fmt.Sprint(m.order) != "[a-local b-local]" || m.services["b-local"].Deps[0] != "a-local" {
		t.Errorf("structure: %v %+v", m.order, m.services["b-local"])
	}
	m.refreshed([]Service{{Name: "b-local", Tier: "local", State: events.Failed, Reason: "no"}}, at(20))
	if fmt.Sprint(m.order) != "[b-local]" || m.services["b-local"].State != events.Failed {
		t.Errorf("after a reload removed a: %v %+v", m.order, m.services["b-local"])
	}
	for i := 1; i <= maxRounds+5; i++ {
		m.apply(events.Event{Type: events.RoundPlanned, Round: i})
	}
	if len(m.rounds) != maxRounds || m.rounds[0].N != 6 {
		t.Errorf("rounds kept: %d, first %d", len(m.rounds), m.rounds[0].N)
	}
}

// A page that reads nothing never slows Emit: its queue is bounded, then
// dropped for a snapshot, which it gets once it reads again.
func TestAStalledPageNeverBlocksEmit(t *testing.T) {
	s := start(t, Options{Services: []Service{{Name: "a-local", Tier: "local"}}})
	c, err := net.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /events?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", s.Token(), s.port)
	waitFor(t, "the stalled page to connect", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.clients) == 1 })
	big := strings.Repeat("x", 16<<10)
	overflowed := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for cl := range s.clients {
			cl.mu.Lock()
			defer cl.mu.Unlock()
			return cl.resync
		}
		return false
	}
	// 16 KiB events until the page's queue overflows, then 100 more: not
	// a fixed count, so that the page stalls well within writeTimeout
	// (after which it is dropped) however slow the machine; 16 KiB x
	// 1,000 is already more than the queue and the sockets hold.
	t0 := time.Now()
	n, more := 0, 100
	for ; n < 20000 && more > 0; n++ {
		s.Emit(events.Event{Type: events.ServiceFailed, Service: "a-local", Error: big, Round: n})
		if overflowed() {
			more--
		}
	}
	took := time.Since(t0)
	s.mu.Lock()
	if len(s.clients) != 1 {
		t.Errorf("%d pages connected after the events; want the stalled one", len(s.clients))
	}
	for cl := range s.clients {
		cl.mu.Lock()
		if len(cl.msgs) > maxQueue || cl.bytes > maxQueueBytes {
			t.Errorf("queue: %d messages, %d bytes", len(cl.msgs), cl.bytes)
		}
		if !cl.resync {
			t.Error("the stalled page's queue overflowed, but it is not due a snapshot")
		}
		cl.mu.Unlock()
	}
	s.mu.Unlock()
	t.Logf("%d events in %s (%s each) with a stalled page", n, took, took/time.Duration(n))
	if took > 20*time.Second {
		t.Errorf("Emit took %s for %d events", took, n)
	}
	// Reading again, it gets a snapshot again (after the part of the
	// stream the socket held).
	r := bufio.NewReaderSize(c, 1<<20)
	snapshots := 0
	deadline := time.Now().Add(20 * time.Second)
	_ = c.SetReadDeadline(deadline)
	for snapshots < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (snapshots %d)", err, snapshots)
		}
		if line == "event: snapshot\n" {
			snapshots++
		}
	}
}

// The log window holds the last lines; what a page does not get is
// counted; every line is either sent or counted as skipped.
func TestLogsAreBoundedAndCounted(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a-local.log")
	if err := os.WriteFile(log, []byte("before 1\nbefore 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, Options{Services: []Service{{Name: "a-local", Tier: "local"}}, LogWindow: 10, LogPath: func(string) string { return log }})
	st := openStream(t, s)
	var snap snapshot
	if err := json.Unmarshal(st.until("snapshot"), &snap); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range snap.Logs["a-local"].Lines {
		got[l] = true
	}
	// The initial lines come with the snapshot, or just after it.
	for len(got) < 2 {
		var lp map[string]logPart
		if err := json.Unmarshal(st.until("logs"), &lp); err != nil {
			t.Fatal(err)
		}
		for _, l := range lp["a-local"].Lines {
			got[l] = true
		}
	}
	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const total = 50_000
	w := bufio.NewWriter(f)
	for i := 0; i < total; i++ {
		fmt.Fprintf(w, "line %d \x1b[31mred\x1b[0m\r\n", i)
		if i%5000 == 0 {
			w.Flush()
		}
	}
	fmt.Fprintln(w, "last")
	w.Flush()
	shown, skipped := 0, int64(0)
	for {
		var lp map[string]logPart
		if err := json.Unmarshal(st.until("logs"), &lp); err != nil {
			t.Fatal(err)
		}
		p := lp["a-local"]
		if len(p.Lines) > 10 {
			t.Fatalf("%d lines in one batch, more than the window", len(p.Lines))
		}
		shown += len(p.Lines)
		skipped += p.Skipped
		if n := len(p.Lines); n > 0 && p.Lines[n-1] == "last" {
			if p.Lines[0] != "last" && !strings.HasSuffix(p.Lines[0], " red") {
				t.Errorf("a line not cleaned: %q", p.Lines[0])
			}
			break
		}
	}
	if int64(shown)+skipped != total+1 || skipped == 0 {
		t.Errorf("shown %d + skipped %d, want %d in all, some skipped", shown, skipped, total+1)
	}
	s.mu.Lock()
	if n := len(s.logs["a-local"].buf); n != 10 {
		t.Errorf("the window holds %d lines", n)
	}
	s.mu.Unlock()
}

func TestLogTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.log")
	write := func(s string) {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	tl := &logTail{path: p}
	if l, sk, err := tl.read(3); err != nil || l != nil || sk != 0 {
		t.Errorf("no file: %v %d %v", l, sk, err)
	}
	write("a\nb\nc\nd\ne")
	l, sk, _ := tl.read(3)
	if fmt.Sprint(l) != "[b c d]" || sk != 1 {
		t.Errorf("read: %q skipped %d", l, sk)
	}
	write("nd\n")
	if l, sk, _ := tl.read(3); fmt.Sprint(l) != "[end]" || sk != 0 {
		t.Errorf("the partial line: %q skipped %d", l, sk)
	}
	write(strings.Repeat("y", maxLine+100) + "\n")
	if l, _, _ := tl.read(3); len(l) != 1 || len(l[0]) > maxLine+4 || !strings.HasSuffix(l[0], " …") {
		t.Errorf("a long line: %d bytes", len(l[0]))
	}
	// More than maxRead at once: counted, not read.
	var b strings.Builder
	n := 0
	for b.Len() < 3*maxRead {
		fmt.Fprintf(&b, "line %d\n", n)
		n++
	}
	write(b.String())
	l, sk, _ = tl.read(5)
	if len(l) != 5 || l[4] != fmt.Sprintf("line %d", n-1) || sk+5 != int64(n) {
		t.Errorf("a big backlog: %d lines (last %q), skipped %d, want %d in all", len(l), l[len(l)-1], sk, n)
	}
	// Truncated: from the start again.
	if err := os.WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, _, _ := tl.read(5); fmt.Sprint(l) != "[new]" {
		t.Errorf("after truncation: %q", l)
	}
	// A new tail of a big log starts near its end, at a line's start.
	tl2 := &logTail{path: p}
	write(b.String())
	l, _, _ = tl2.read(2)
	if fmt.Sprint(l) != fmt.Sprintf("[line %d line %d]", n-2, n-1) || tl2.off != int64(4+b.Len()) {
		t.Errorf("a new tail: %q", l)
	}
}

func TestRestartGoesToTheBackend(t *testing.T) {
	be := &fakeBackend{}
	s := start(t, Options{Backend: be})
	hdr := map[string]string{"Cookie": fmt.Sprintf("pets_ui_%d=%s", s.port, s.Token()), "Content-Type": "application/json", "Origin": fmt.Sprintf("http://127.0.0.1:%d", s.port)}
	if code, body, _ := request(t, s, "POST", "/api/restart", hdr, `{"service":"b-local"}`); code != 200 || body != `{"ok":true}` {
		t.Errorf("restart: %d %s", code, body)
	}
	be.fail = errors.New("no service b-local")
	if code, body, _ := request(t, s, "POST", "/api/restart", hdr, `{"service":"b-local"}`); code != 409 || !strings.Contains(body, "no service b-local") {
		t.Errorf("a failed restart: %d %s", code, body)
	}
	if code, _, _ := request(t, s, "POST", "/api/restart", hdr, `{}`); code != 400 {
		t.Errorf("no service: %d", code)
	}
	if fmt.Sprint(be.restarts) != "[b-local b-local]" {
		t.Errorf("restarts: %v", be.restarts)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Whatever is written, however the log is rotated (renamed to .1, the
// older ones up by one, as package supervise does), every line is either
// read or counted as skipped, once, in order.
func TestLogTailCountsEveryLineAcrossRotations(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.log")
	if err := os.WriteFile(p, []byte("first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tl := &logTail{path: p}
	if l, _, _ := tl.read(10); fmt.Sprint(l) != "[first]" {
		t.Fatalf("first read: %q", l)
	}
	rotate := func() {
		for i := 3; i > 1; i-- {
			_ = os.Rename(fmt.Sprintf("%s.%d", p, i-1), fmt.Sprintf("%s.%d", p, i))
		}
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	}
	appendTo := func(s string) {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	written, got := 0, int64(1) // "first"
	last := ""
	check := func(n int) {
		t.Helper()
		l, sk, err := tl.read(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) > n {
			t.Fatalf("%d lines, more than %d", len(l), n)
		}
		got += int64(len(l)) + sk
		if len(l) > 0 {
			last = l[len(l)-1]
		}
	}
	line := func() string { written++; return fmt.Sprintf("line %d %s\n", written, strings.Repeat("z", written%50)) }
	for round := 0; round < 60; round++ {
		var b strings.Builder
		lines := []int{1, 3, 200, 40_000}[round%4] // 40,000 lines: past maxRead
		for i := 0; i < lines; i++ {
			b.WriteString(line())
		}
		s := b.String()
		switch round % 5 {
		case 0: // half a line now, the rest after a read
			cut := len(s) - 3
			appendTo(s[:cut])
			check(7)
			appendTo(s[cut:])
		case 1: // rotated after a read in the middle of a line
			appendTo(s[:len(s)/2])
			check(7)
			appendTo(s[len(s)/2:])
			rotate()
			appendTo(line())
		case 2: // rotated twice
			appendTo(s)
			rotate()
			appendTo(line())
			rotate()
			appendTo(line())
		default:
			appendTo(s)
		}
		check(7)
		if got != int64(written)+1 {
			t.Fatalf("round %d: %d lines read or counted, %d written", round, got, written+1)
		}
		if want := fmt.Sprintf("line %d %s", written, strings.Repeat("z", written%50)); last != want {
			t.Fatalf("round %d: last line %q, want %q", round, last, want)
		}
	}
}
