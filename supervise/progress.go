package supervise

import (
	"fmt"
	"strings"
	"time"
)

// Progress of a wait that takes a while: a service's readiness wait (ready.go)
// and k8s_apply's rollout wait (through the Applier) each say, every
// progressEvery, what they wait for and how it stands, on the Supervisor's
// Stderr:
//
//	pets: backend-k8s: waiting for the rollout of deployment/backend: 0 of 1 updated replicas available (5s of 5m0s)
//	pets: backend-k8s: waiting for GET http://127.0.0.1:8080/ to answer 2xx or 3xx: connection refused (10s of 1m0s)
//
// A wait that gives up says what it waited for in its error.

// progressEvery is how often a wait says what it waits for.
const progressEvery = 5 * time.Second

// progress prints a line about a wait of the service being started.
func (h *host) progress(line string) { h.s.printf("pets: %s: %s", h.key, line) }

// waitLine is the line of a wait: "waiting for WHAT: STATUS (10s of 1m0s)", in
// whole seconds once the timeout is a second or more.
func waitLine(what, status string, elapsed, timeout time.Duration) string {
	unit := time.Second
	if timeout < time.Second {
		unit = time.Millisecond
	}
	s := "waiting for " + what
	if status != "" {
		s += ": " + status
	}
	return fmt.Sprintf("%s (%s of %s)", s, elapsed.Round(unit), timeout.Round(unit))
}

// waitingFor says what the checks that have not passed wait for and how
// their last probe went.
func waitingFor(checks []*pending) (what, status string) {
	var whats, lasts []string
	for _, c := range checks {
		if c.passed {
			continue
		}
		whats = append(whats, c.what())
		last := c.last
		if last == "" {
			last = "not tried yet"
		}
		lasts = append(lasts, last)
	}
	return strings.Join(whats, " and "), strings.Join(lasts, "; ")
}
