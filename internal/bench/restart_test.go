package main

import (
	"testing"
	"time"
)

// debugParts reads supervise's PETS_DEBUG lines as log/slog writes them,
// per service, and skips what is not a duration or not theirs.
func TestDebugParts(t *testing.T) {
	lines := []string{
		`time=2026-12-03T21:47:01.000Z level=DEBUG msg="supervise: started" service=s1-local tracking=cgroup "forked ahead"=true "recorded ahead"=true fork+record=66.899µs waiter=1.5ms`,
		`time=2026-12-03T21:47:01.000Z level=DEBUG msg="supervise: ready" service=s1-local wait=4.610278ms`,
		`time=2026-12-03T21:47:01.000Z level=DEBUG msg="supervise: up" service=s1-local stop=2.5ms total=9.25ms err=<nil>`,
		`time=2026-12-03T21:47:02.000Z level=DEBUG msg="supervise: up" service=s1-local stop=3.5ms total=8.25ms err=<nil>`,
		`time=2026-12-03T21:47:02.000Z level=DEBUG msg="supervise: up" service=s1-local stop=1.5ms total=10.25ms err=<nil>`,
		`time=2026-12-03T21:47:02.000Z level=DEBUG msg="supervise: stopped" service=s0-local processes=4.4ms total=4.9ms`,
		`time=2026-12-03T21:47:02.000Z level=DEBUG msg="watcher: batch closed" paths=1 window=3ms`,
		`s1-local | 2026/12/03 21:47:02 petserver (pid 1) listening on 127.0.0.1:1`,
	}
	p := debugParts(lines)
	for _, c := range []struct {
		svc, key string
		want     time.Duration
		n        int
	}{
		{"s1-local", "up.stop", 2500 * time.Microsecond, 3},
		{"s1-local", "up.total", 9250 * time.Microsecond, 3},
		{"s1-local", "started.fork+record", 66899 * time.Nanosecond, 1},
		{"s1-local", "started.waiter", 1500 * time.Microsecond, 1},
		{"s1-local", "ready.wait", 4610278 * time.Nanosecond, 1},
		{"s0-local", "stopped.processes", 4400 * time.Microsecond, 1},
	} {
		s := p[c.svc][c.key]
		if len(s) != c.n || s.median() != c.want {
			t.Errorf("%s %s: %v (median %v), want %d samples, median %v", c.svc, c.key, s, s.median(), c.n, c.want)
		}
	}
	if _, ok := p["s1-local"]["started.forked ahead"]; ok {
		t.Error("a field that is no duration was read as one")
	}
	if len(p) != 2 {
		t.Errorf("services %v, want s0-local and s1-local alone", p)
	}
}
