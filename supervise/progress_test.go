package supervise

import (
	"context"
	"sync"
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

// Cheap probes go every quarter of a millisecond for one readiness wait
// alone, slower as more wait at once (never slower than a millisecond
// each), and every 10ms after the first 50ms.
func TestProbePaceIsSharedByTheWaits(t *testing.T) {
	for _, c := range []struct {
		since time.Duration
		waits int32
		want  time.Duration
	}{
		{0, 0, 250 * time.Microsecond}, {0, 1, 250 * time.Microsecond}, {0, 2, 500 * time.Microsecond},
		{49 * time.Millisecond, 3, 750 * time.Microsecond}, {0, 4, time.Millisecond}, {0, 30, time.Millisecond},
		{50 * time.Millisecond, 1, 10 * time.Millisecond}, {time.Second, 30, 10 * time.Millisecond},
	} {
		if got := pace(c.since, c.waits); got != c.want {
			t.Errorf("pace(%v, %d) = %v, want %v", c.since, c.waits, got, c.want)
		}
	}
	// await counts itself while it waits, and no longer once it returns.
	if n := waiting.Load(); n != 0 {
		t.Fatalf("%d waits under way before any", n)
	}
	release := make(chan struct{})
	var ended sync.WaitGroup
	for want := int32(1); want <= 2; want++ {
		seen := make(chan int32, 1)
		passed := false
		checks := []*pending{{readyCheck: &stubCheck{pass: func() bool {
			if !passed {
				passed = true
				seen <- waiting.Load()
				<-release
			}
			return true
		}}}}
		ended.Add(1)
		go func() { // ends once release is closed
			defer ended.Done()
			await(context.Background(), checks, make(chan struct{}), 0, nil)
		}()
		if n := <-seen; n != want {
			t.Errorf("%d waits under way count %d", want, n)
		}
		if got, pace := quick(0), time.Duration(want)*250*time.Microsecond; got != pace {
			t.Errorf("quick with %d waits = %v, want %v", want, got, pace)
		}
	}
	close(release)
	ended.Wait()
	if n := waiting.Load(); n != 0 {
		t.Errorf("%d waits counted after both returned", n)
	}
}
