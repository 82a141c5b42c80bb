package supervise

import (
	"context"
	"testing"
	"time"
)

// stubCheck fails until its pass function says otherwise.
type stubCheck struct {
	pass func() bool
}

func (c *stubCheck) kind() string                     { return "tcp" }
func (c *stubCheck) what() string                     { return "127.0.0.1:1 to accept connections" }
func (c *stubCheck) wait(time.Duration) time.Duration { return time.Millisecond }
func (c *stubCheck) close()                           {}
func (c *stubCheck) probe(context.Context) (bool, string) {
	if c.pass() {
		return true, ""
	}
	return false, "dial tcp 127.0.0.1:1: connect: connection refused"
}

// A readiness wait says every interval what it waits for, between probes,
// and goes on probing until the checks pass.
func TestAwaitReportsWhatItWaitsFor(t *testing.T) {
	var lines []string
	var elapsed []time.Duration
	checks := []*pending{{readyCheck: &stubCheck{pass: func() bool { return len(lines) >= 3 }}}}
	say := func(d time.Duration) {
		what, status := waitingFor(checks)
		elapsed = append(elapsed, d)
		lines = append(lines, waitLine(what, status, d, time.Minute))
	}
	if !await(context.Background(), checks, make(chan struct{}), 10*time.Millisecond, say) {
		t.Fatal("await = false, want true once the check passes")
	}
	if len(lines) != 3 {
		t.Fatalf("%d reports, want 3 (the check passes after the third): %q", len(lines), lines)
	}
	for i, l := range lines {
		if want := "waiting for 127.0.0.1:1 to accept connections: dial tcp 127.0.0.1:1: connect: connection refused (0s of 1m0s)"; l != want {
			t.Errorf("report %d = %q, want %q", i, l, want)
		}
		if min := time.Duration(i+1) * 10 * time.Millisecond; elapsed[i] < min {
			t.Errorf("report %d at %v, before %v (one per interval)", i, elapsed[i], min)
		}
	}
}

func TestWaitingForNamesEachPendingCheck(t *testing.T) {
	h := &host{}
	checks := []*pending{
		{readyCheck: newHTTPCheck("http://127.0.0.1:8080/healthz", "/healthz"), last: "GET /healthz: 503 Service Unavailable"},
		{readyCheck: &cmdCheck{h: h}, passed: true},
		{readyCheck: &tcpCheck{addr: "127.0.0.1:9"}},
	}
	what, status := waitingFor(checks)
	if want := "GET http://127.0.0.1:8080/healthz to answer 2xx or 3xx and 127.0.0.1:9 to accept connections"; what != want {
		t.Errorf("what = %q, want %q", what, want)
	}
	if want := "GET /healthz: 503 Service Unavailable; not tried yet"; status != want {
		t.Errorf("status = %q, want %q", status, want)
	}
	if got, want := waitLine(what, status, 5*time.Second+400*time.Millisecond, time.Minute), "waiting for "+what+": "+status+" (5s of 1m0s)"; got != want {
		t.Errorf("waitLine = %q, want %q", got, want)
	}
}
