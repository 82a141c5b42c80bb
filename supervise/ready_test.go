//go:build linux

package supervise

// Readiness: whose process answers on a service's address, and the
// readiness kinds (tcp, http=, cmd=, log=).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/rebuild"
)

// local is a Readiness on 127.0.0.1:port.
func local(port int, timeout time.Duration) petsfile.Readiness {
	return petsfile.Readiness{Hostname: "127.0.0.1", Port: port, Timeout: timeout}
}

// start starts line in the project directory as a start() of h's service.
func (w *world) start(h *host, line string) petsfile.Process {
	w.t.Helper()
	p, err := h.Start(context.Background(), petsfile.Command{Service: h.key, Dir: w.dir, Line: line})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// listenerPIDs returns the processes that hold a socket listening on port.
func listenerPIDs(t *testing.T, port int) []int {
	t.Helper()
	all, err := proc.Listening()
	if err != nil {
		t.Fatal(err)
	}
	var socks []proc.Socket
	for _, sk := range all {
		if int(sk.Addr.Port()) == port {
			socks = append(socks, sk)
		}
	}
	held, err := proc.Holders(socks, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, pids := range held {
		out = append(out, pids...)
	}
	return out
}

// readyAsync runs h.Ready in the background; the channel gets its result.
func readyAsync(h *host, p petsfile.Process, r petsfile.Readiness) <-chan error {
	done := make(chan error, 1)
	go func() { done <- h.Ready(context.Background(), h.key, p, r) }()
	return done
}

// notYet fails the test if Ready already returned.
func notYet(t *testing.T, done <-chan error, why string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("Ready returned (%v) %s", err, why)
	default:
	}
}

// result waits for Ready's result.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * waitTimeout):
		t.Fatal("Ready did not return")
		return nil
	}
}

// firstLine is the first line of err's message (a ServiceError adds the log).
func firstLine(err error) string { return strings.SplitN(err.Error(), "\n", 2)[0] }

// answerPID returns the pid of the petserver name that answers on port.
func answerPID(t *testing.T, port int, name string) int {
	t.Helper()
	got := answer(port)
	m := regexp.MustCompile(regexp.QuoteMeta(name) + ` \(pid (\d+)\)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("port %d answers %q, not %s", port, got, name)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// logText is the service's log so far.
func (w *world) logText(k petsfile.Key) string {
	b, _ := os.ReadFile(w.state.LogPath(k.Name, k.Tier))
	return string(b)
}

// waitLog waits until k's log holds s.
func (w *world) waitLog(k petsfile.Key, s string) {
	w.t.Helper()
	waitFor(w.t, fmt.Sprintf("%q in the log of %s", s, k), func() bool { return strings.Contains(w.logText(k), s) })
}

// touch creates path (a go-ahead for a test's command).
func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setStatus sets what the status helper's /healthz answers.
func setStatus(t *testing.T, dir string, code int) {
	t.Helper()
	tmp := filepath.Join(dir, "status.tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "status")); err != nil {
		t.Fatal(err)
	}
}

// The case: another program holds the port before pets up. Up fails
// at once, naming it; the real server is never reported ready.
func TestUpRefusesForeignListener(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hostname string
		foreign  func(port int) string // the foreign server's command line
		cmd      func(port int) string // what its /proc/PID/cmdline ends with
	}{
		{"petserver", "127.0.0.1",
			func(port int) string { return serverCmd("foreign", port) },
			func(port int) string { return fmt.Sprintf("%s --name foreign --port %d", petserverBin, port) }},
		{"python3 http.server", "127.0.0.1",
			func(port int) string { return fmt.Sprintf("exec python3 -m http.server %d --bind 127.0.0.1", port) },
			func(port int) string { return fmt.Sprintf("python3 -m http.server %d --bind 127.0.0.1", port) }},
		{"declared as localhost", "localhost",
			func(port int) string { return serverCmd("foreign", port) },
			func(port int) string { return fmt.Sprintf("%s --name foreign --port %d", petserverBin, port) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.name, "python3") {
				if _, err := exec.LookPath("python3"); err != nil {
					t.Skip("no python3")
				}
			}
			w := newWorld(t)
			port := freePort(t)
			foreign := w.startProc(tc.foreign(port))
			waitFor(t, "the foreign server to listen", func() bool { return proc.Accepting(addr(port)) })
			project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    s = start(%s)
    return service(s, %q, %d)

register("api", "local", provider)
`, star(serverCmd("api", port)), tc.hostname, port))
			out := &syncBuffer{}
			s := w.supervisor(project, out)
			s.ReadyTimeout = time.Minute
			t0 := time.Now()
			_, err := s.Up(context.Background(), apiKey, nil)
			took := time.Since(t0)
			if err == nil {
				t.Fatalf("Up succeeded while pid %d held port %d; port answers %q", foreign.PID, port, answer(port))
			}
			msg := firstLine(err)
			hp := fmt.Sprintf("%s:%d", tc.hostname, port)
			wantStart := fmt.Sprintf("Petsfile:4:19: %s is already in use by pid %d (", hp, foreign.PID)
			wantEnd := tc.cmd(port) + "); stop it, or give this service another port"
			if !strings.HasPrefix(msg, wantStart) || !strings.HasSuffix(msg, wantEnd) {
				t.Errorf("Up failed with %q; want %q...%q", msg, wantStart, wantEnd)
			}
			if took > 10*time.Second {
				t.Errorf("Up took %s to fail; it should fail at once", took)
			}
			if _, ok := w.lookup("api"); ok {
				t.Error("the refused service is recorded")
			}
			if !proc.Alive(foreign.Identity) {
				t.Error("pets stopped the foreign server")
			}
		})
	}
}

// A recorded pet of another service on the port: two services cannot share
// it; the message names the other service.
func TestUpRefusesPortOfAnotherPet(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, localServers([]string{"web", "api"}, []int{port, port}))
	s := w.supervisor(project, nil)
	webKey := petsfile.Key{Name: "web", Tier: "local"}
	web := up(t, s, webKey)
	_, err := s.Up(context.Background(), apiKey, nil)
	want := fmt.Sprintf("Petsfile:6:19: %s is already in use by web-local, pid %d (%s --name web --port %d); two services cannot share a port: give one of them another port, or stop web-local first (`pets down web`)",
		addr(port), web.PID, petserverBin, port)
	if err == nil || firstLine(err) != want {
		t.Fatalf("Up on another pet's port = %v; want %q", err, want)
	}
	if _, health := check(s, webKey); health != rebuild.Healthy {
		t.Errorf("web-local is %v after api's refused start; want it healthy", health)
	}
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("web (pid %d)", web.PID)) {
		t.Errorf("port %d answers %q; want web", port, got)
	}
}

// The reuse path: a healthy recorded service checks Healthy (the engine
// reuses it); and an Up that replaces it on its own port (the old instance
// holds it until the replacement stops it) is fine and says nothing.
func TestUpReplacesItsOwnInstanceOnItsPort(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	out := &syncBuffer{}
	s := w.supervisor(project, out)
	old := up(t, s, apiKey)
	if v, health := check(s, apiKey); health != rebuild.Healthy || v != old {
		t.Fatalf("Check after Up = %+v, %v; want %+v, Healthy", v, health, old)
	}
	v := up(t, s, apiKey)
	if v.PID == old.PID {
		t.Fatalf("the replacement has the old pid %d", v.PID)
	}
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("api (pid %d)", v.PID)) {
		t.Errorf("port %d answers %q; want the new instance, pid %d", port, got, v.PID)
	}
	if !gone(old.PID) {
		t.Errorf("the old instance, pid %d, still runs", old.PID)
	}
	if got, health := check(s, apiKey); health != rebuild.Healthy || got != v {
		t.Errorf("Check after the replacement = %+v, %v; want %+v, Healthy", got, health, v)
	}
	if strings.Contains(out.String(), "already in use") || strings.Contains(out.String(), "answers, but") {
		t.Errorf("the replacement warned:\n%s", out)
	}
}

// A server pets started for the service but no longer tracks (left by a
// pets from before services were tracked as a whole, which could not see a
// server that escaped its group) keeps the port: the next start fails,
// naming it as a leftover of the service.
func TestUpRefusesLeftoverOfEarlierInstance(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	out := &syncBuffer{}
	s := w.supervisor(project, out)
	s.Grace = 200 * time.Millisecond
	left, err := proc.Start(proc.Spec{Line: serverCmd("api", port), Dir: w.dir, Env: []string{"PETS_SERVICE=api", "PETS_TIER=local"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = left.Stop(context.Background(), 0) })
	waitFor(t, "the leftover to listen", func() bool { return proc.Accepting(addr(port)) })
	escaped := answerPID(t, port, "api")

	_, err = s.Up(context.Background(), apiKey, nil)
	want := fmt.Sprintf("Petsfile:4:19: %s is already in use by pid %d (%s --name api --port %d), left over from an earlier api-local that pets stopped; stop it (`kill %d`), then start api-local again",
		addr(port), escaped, petserverBin, port, escaped)
	if err == nil || firstLine(err) != want {
		t.Fatalf("Up with a leftover on the port = %v; want %q", err, want)
	}
	// The new instance's server fails to bind and exits.
	waitFor(t, "only the leftover to be left", func() bool {
		s := w.strays()
		return len(s) == 1 && s[0] == escaped
	})
}

// A listener that appears after the start, from outside the service's tree
// (docker-proxy for docker run -p, say): a warning, not a failure.
func TestReadyWarnsOfListenerFromOutsideItsTree(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	s := w.supervisor(nil, out)
	h := newHost(t, s, apiKey)
	port := freePort(t)
	p := w.start(h, "exec sleep 1000")
	proxy := w.startProc(serverCmd("proxy", port)) // after the start
	waitFor(t, "the proxy to listen", func() bool { return proc.Accepting(addr(port)) })
	if err := h.Ready(context.Background(), apiKey, p, local(port, waitTimeout)); err != nil {
		t.Fatalf("Ready with a listener that came after the start = %v; want a warning only", err)
	}
	want := fmt.Sprintf("pets: %s answers, but not from a process of api-local: pid %d (%s --name proxy --port %d) listens there. It began listening after api-local started, as a proxy such as docker-proxy (docker run -p) does, so api-local counts as ready; if that is not what you meant, stop it and restart api-local.\n",
		addr(port), proxy.PID, petserverBin, port)
	if !strings.Contains(out.String(), want) {
		t.Errorf("progress:\n%s\nwant the warning:\n%s", out, want)
	}
}

// Its own tree answering, however the listener descends from start(): no
// warning.
func TestReadyOwnTreeListensWithoutWarning(t *testing.T) {
	for _, tc := range []struct{ name, line string }{
		{"exec", "exec %s"},
		{"child", "%s; echo exited"},
		{"child without environment", "env -i %s; echo exited"},
		{"own session without environment", "setsid env -i %s & wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			out := &syncBuffer{}
			s := w.supervisor(nil, out)
			h := newHost(t, s, apiKey)
			port := freePort(t)
			server := fmt.Sprintf("%s --name api --port %d", petserverBin, port)
			p := w.start(h, fmt.Sprintf(tc.line, server))
			if err := h.Ready(context.Background(), apiKey, p, local(port, waitTimeout)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "answers, but") {
				t.Errorf("its own server was taken for another program:\n%s", out)
			}
			// One that left the group and cleared its environment is
			// neither stopped with the group nor seen by the strays check:
			// stop it here.
			pids := listenerPIDs(t, port)
			if len(pids) != 1 {
				t.Fatalf("port %d is held by %v; want the one server", port, pids)
			}
			if g, _ := proc.Group(pids[0]); g != p.PID {
				_ = syscall.Kill(pids[0], syscall.SIGKILL)
				w.waitGone(pids[0])
			}
		})
	}
}

// A service that binds another port than it declares: the timeout names the
// port it does listen on.
func TestReadyTimeoutNamesPortItListensOn(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	port, other := freePort(t), freePort(t)
	p := w.start(h, serverCmd("api", other))
	waitFor(t, "the server to listen on its own port", func() bool { return proc.Accepting(addr(other)) })
	err := h.Ready(context.Background(), apiKey, p, local(port, 300*time.Millisecond))
	want := fmt.Sprintf("%s did not accept TCP connections within 300ms; api-local listens on %s, not on the declared port %d; make the port given to service() and the one the server listens on agree",
		addr(port), addr(other), port)
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v; want %q", err, want)
	}
}

func TestReadyHTTPWaitsFor2xx(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	port := freePort(t)
	setStatus(t, w.dir, 503)
	p := w.start(h, helperCmd("status", strconv.Itoa(port)))
	r := local(port, waitTimeout)
	r.HTTP = "/healthz"
	done := readyAsync(h, p, r)
	w.waitLog(apiKey, "served 503")
	notYet(t, done, "while /healthz answered 503")
	setStatus(t, w.dir, 200)
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	w.waitLog(apiKey, "served 200") // through its waiter, a moment later
}

func TestReadyHTTPStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    string
	}{
		{302, ""}, // a redirect counts; it is not followed
		{204, ""},
		{404, "not ready within 500ms: http check: GET /healthz: 404 Not Found; " + timeoutAdvice},
		{503, "not ready within 500ms: http check: GET /healthz: 503 Service Unavailable; " + timeoutAdvice},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			w := newWorld(t)
			s := w.supervisor(nil, nil)
			h := newHost(t, s, apiKey)
			port := freePort(t)
			setStatus(t, w.dir, tc.status)
			p := w.start(h, helperCmd("status", strconv.Itoa(port)))
			waitFor(t, "the server to listen", func() bool { return proc.Accepting(addr(port)) })
			r := local(port, 500*time.Millisecond)
			r.HTTP = "/healthz"
			err := h.Ready(context.Background(), apiKey, p, r)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Fatalf("Ready with /healthz answering %d = %v; want %q", tc.status, err, tc.err)
			}
		})
	}
}

func TestReadyCommandRetriesUntilExit0(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	p := w.start(h, "exec sleep 1000")
	probe := `echo try >> tries; echo "probe $PETS_SERVICE $FOO in $(pwd)"; test -e go-ahead || { echo not yet >&2; exit 1; }; echo up`
	r := petsfile.Readiness{Timeout: waitTimeout, Command: &petsfile.Command{Service: apiKey, Dir: w.dir, Line: probe, Env: []string{"FOO=bar"}}}
	done := readyAsync(h, p, r)
	waitFor(t, "the probe to have failed twice", func() bool {
		b, _ := os.ReadFile(filepath.Join(w.dir, "tries"))
		return strings.Count(string(b), "try\n") >= 2
	})
	notYet(t, done, "while its command failed")
	touch(t, filepath.Join(w.dir, "go-ahead"))
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
	log := w.logText(apiKey)
	contains(t, "the log", log, fmt.Sprintf("probe api bar in %s\nnot yet\n", w.dir), fmt.Sprintf("probe api bar in %s\nup\n", w.dir))
	if n := strings.Count(log, "not yet"); n != 1 {
		t.Errorf("the log holds the same failed probe's output %d times; want once:\n%s", n, log)
	}
}

func TestReadyCommandFailureNamesExitAndLastLine(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	p := w.start(h, "exec sleep 1000")
	r := petsfile.Readiness{Timeout: 500 * time.Millisecond, Command: &petsfile.Command{Dir: w.dir, Line: "echo checking; echo no response; exit 2"}}
	err := h.Ready(context.Background(), apiKey, p, r)
	want := `not ready within 500ms: cmd check: "echo checking; echo no response; exit 2" exited 2: no response; ` + timeoutAdvice
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v; want %q", err, want)
	}
}

func TestReadyLogMatchesOnlyThisStart(t *testing.T) {
	w := newWorld(t)
	// An earlier instance's line, before this start.
	if err := os.WriteFile(w.state.LogPath("api", "local"), []byte("listening on 1111\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	p := w.start(h, `echo booting; while [ ! -e go-ahead ]; do sleep 0.01; done; echo "listening on 2222"; exec sleep 1000`)
	done := readyAsync(h, p, petsfile.Readiness{Timeout: waitTimeout, Log: `^listening on \d+$`})
	w.waitLog(apiKey, "booting")
	notYet(t, done, "on a line of an earlier instance")
	touch(t, filepath.Join(w.dir, "go-ahead"))
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestReadyLogFailureCountsLines(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	p := w.start(h, `for i in 1 2 3; do echo line $i; done; exec sleep 1000`)
	w.waitLog(apiKey, "line 3\n")
	err := h.Ready(context.Background(), apiKey, p, petsfile.Readiness{Timeout: 300 * time.Millisecond, Log: "listening"})
	want := "not ready within 300ms: log check: no line matched /listening/ in 3 lines; " + timeoutAdvice
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v; want %q", err, want)
	}
}

// Every kind fails at once, with the exit status and the last result, when
// the server exits before it is ready.
func TestReadyFailsFastForEveryKind(t *testing.T) {
	for _, tc := range []struct {
		kind  string
		ready func(port int, dir string) petsfile.Readiness
		want  string
	}{
		{"http", func(port int, _ string) petsfile.Readiness {
			r := local(port, time.Minute)
			r.HTTP = "/healthz"
			return r
		}, "the server exited (exit status 5) before it was ready: http check: GET /healthz: dial tcp 127.0.0.1:%d: connect: connection refused"},
		{"cmd, its probe still running", func(_ int, dir string) petsfile.Readiness {
			return petsfile.Readiness{Timeout: time.Minute, Command: &petsfile.Command{Dir: dir, Line: "touch probing; exec sleep 1000"}}
		}, `the server exited (exit status 5) before it was ready: cmd check: "touch probing; exec sleep 1000" was still running`},
		{"log", func(int, string) petsfile.Readiness {
			return petsfile.Readiness{Timeout: time.Minute, Log: "ready"}
		}, "the server exited (exit status 5) before it was ready: log check: no line matched /ready/ in 1 line"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			w := newWorld(t)
			s := w.supervisor(nil, nil)
			h := newHost(t, s, apiKey)
			port := freePort(t)
			p := w.start(h, "echo starting; while [ ! -e crash ]; do sleep 0.01; done; exit 5")
			t0 := time.Now()
			done := readyAsync(h, p, tc.ready(port, w.dir))
			if strings.HasPrefix(tc.kind, "cmd") {
				waitFor(t, "the probe to run", func() bool { _, err := os.Stat(filepath.Join(w.dir, "probing")); return err == nil })
			}
			w.waitLog(apiKey, "starting\n")
			touch(t, filepath.Join(w.dir, "crash"))
			err := result(t, done)
			want := tc.want
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, port)
			}
			if err == nil || err.Error() != want {
				t.Fatalf("Ready = %v; want %q", err, want)
			}
			if took := time.Since(t0); took > 30*time.Second {
				t.Errorf("Ready took %s to notice the exit", took)
			}
		})
	}
}

// A server without an address is ready once started, unless a cmd= or log=
// check says otherwise.
func TestReadyWithoutAddress(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	s.ReadyTimeout = time.Minute
	h := newHost(t, s, apiKey)
	for _, line := range []string{"exec sleep 1000", "true"} { // a worker; a job that is done
		p := w.start(h, line)
		t0 := time.Now()
		if err := h.Ready(context.Background(), apiKey, p, petsfile.Readiness{}); err != nil {
			t.Fatalf("Ready for a worker %q = %v", line, err)
		}
		if took := time.Since(t0); took > 5*time.Second {
			t.Errorf("Ready for a worker %q took %s; it is ready once started", line, took)
		}
	}
	p := w.start(h, "echo connecting; while [ ! -e go-ahead ]; do sleep 0.01; done; echo connected to the queue; exec sleep 1000")
	done := readyAsync(h, p, petsfile.Readiness{Log: "connected to"})
	w.waitLog(apiKey, "connecting\n")
	notYet(t, done, "before the worker logged its line")
	touch(t, filepath.Join(w.dir, "go-ahead"))
	if err := result(t, done); err != nil {
		t.Fatal(err)
	}
}

// start() and run() get the command's env after pets' own variables; the
// instance marker stays pets'.
func TestStartAndRunPassCommandEnv(t *testing.T) {
	w := newWorld(t)
	s := w.supervisor(nil, nil)
	h := newHost(t, s, apiKey)
	env := []string{"FOO=bar baz", "PETS_TIER=overridden", instanceVar + "=forged"}
	line := `echo "%s: FOO=$FOO service=$PETS_SERVICE tier=$PETS_TIER instance=$PETS_INSTANCE"`
	if _, err := h.Start(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: fmt.Sprintf(line, "start") + "; exec sleep 1000", Env: env}); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(context.Background(), petsfile.Command{Service: apiKey, Dir: w.dir, Line: fmt.Sprintf(line, "run"), Env: env}); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"start", "run"} {
		w.waitLog(apiKey, fmt.Sprintf("%s: FOO=bar baz service=api tier=overridden instance=%s\n", what, h.instance))
	}
	if h.instance == "" || strings.Contains(w.logText(apiKey), "forged") {
		t.Errorf("instance %q; log:\n%s", h.instance, w.logText(apiKey))
	}
}

func TestDryHostSaysEveryKind(t *testing.T) {
	out := &syncBuffer{}
	d := dryHost{w: out}
	for _, r := range []petsfile.Readiness{
		{Hostname: "localhost", Port: 8080},
		{Hostname: "localhost", Port: 8080, HTTP: "/healthz"},
		{Command: &petsfile.Command{Dir: "/p", Line: "pg_isready"}},
		{Log: "listening on"},
		{},
	} {
		if err := d.Ready(context.Background(), apiKey, petsfile.Process{}, r); err != nil {
			t.Fatal(err)
		}
	}
	want := `  wait until localhost:8080 accepts TCP
  wait until GET http://localhost:8080/healthz answers 2xx or 3xx
  wait until "pg_isready" exits 0 (in /p)
  wait until a line of its output matches /listening on/
`
	if out.String() != want {
		t.Errorf("dry Ready said:\n%s\nwant:\n%s", out, want)
	}
}

// Through a Petsfile: each readiness kind of service(), with the command's
// env (env files, start()'s env=) reaching the processes.
func TestUpWithReadinessKinds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		service string // the provider's return expression; s is the server
		server  string // its command line; %d is the port
		err     string // "": Up succeeds; else its first line
	}{
		{"http", `service(s, "127.0.0.1", %d, http="/healthz")`, helperCmd("status", "%d"), ""},
		{"http failing", `service(s, "127.0.0.1", %d, http="/healthz", timeout="500ms")`, "echo 500 > status; " + helperCmd("status", "%d"),
			"Petsfile:4:19: not ready within 500ms: http check: GET /healthz: 500 Internal Server Error; " + timeoutAdvice},
		{"cmd with env", `service(s, cmd='test "$FROM_FILE/$FROM_START" = "file/" && test "$PETS_SERVICE" = api && test -e up')`,
			`echo "FROM_START=$FROM_START FROM_FILE=$FROM_FILE"; touch up; exec sleep 1000 # %d`, ""},
		{"log", `service(s, log=r"^FROM_START=start FROM_FILE=file$")`,
			`echo "FROM_START=$FROM_START FROM_FILE=$FROM_FILE"; exec sleep 1000 # %d`, ""},
		// pets' own line at the top of this start's output is not the
		// service's.
		{"log skips pets' line", `service(s, log="pets: starting", timeout="500ms")`, "echo booting; exec sleep 1000 # %d",
			"Petsfile:4:19: not ready within 500ms: log check: no line matched /pets: starting/ in 1 line; " + timeoutAdvice},
		{"worker", `service(s)`, "exec sleep 1000 # %d", ""},
		{"worker returned as is", `s`, "exec sleep 1000 # %d", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			port := freePort(t)
			if err := os.WriteFile(filepath.Join(w.dir, ".env"), []byte("FROM_FILE=file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			setStatus(t, w.dir, 200)
			project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    s = start(%s, env={"FROM_START": "start"})
    return %s

register("api", "local", provider, env_files=[".env"])
`, star(fmt.Sprintf(tc.server, port)), strings.ReplaceAll(tc.service, "%d", strconv.Itoa(port))))
			s := w.supervisor(project, nil)
			v, err := s.Up(context.Background(), apiKey, nil)
			if tc.err != "" {
				if err == nil || firstLine(err) != tc.err {
					t.Fatalf("Up = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.PID == 0 || !proc.GroupAlive(w.record("api").Procs[0].Identity) {
				t.Errorf("Up = %+v; want its live server", v)
			}
			if strings.HasPrefix(tc.name, "http") && (v.Hostname != "127.0.0.1" || v.Port != port) {
				t.Errorf("Up = %+v; want its address", v)
			}
		})
	}
}
