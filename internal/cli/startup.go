package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
)

// startupTraceEnv, set to FILE:T0 (T0 the launcher's clock in Unix
// nanoseconds when it ran pets), makes pets append "PHASE MS" lines to FILE
// as it passes the phases of its start, each the time since T0: where
// start-up goes (make bench prints them).
const startupTraceEnv = "PETS_STARTUP_TRACE"

var startup struct {
	sync.Mutex
	f    *os.File
	t0   time.Time
	seen map[string]bool
}

// startTrace reads startupTraceEnv (and removes it: a service must not
// inherit it).
func startTrace() {
	v, ok := os.LookupEnv(startupTraceEnv)
	if !ok {
		return
	}
	os.Unsetenv(startupTraceEnv)
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return
	}
	ns, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return
	}
	f, err := os.OpenFile(v[:i], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	startup.f, startup.t0, startup.seen = f, time.Unix(0, ns), map[string]bool{}
}

// mark records that start-up reached phase (once per phase).
func mark(phase string) {
	startup.Lock()
	defer startup.Unlock()
	if startup.f == nil || startup.seen[phase] {
		return
	}
	startup.seen[phase] = true
	fmt.Fprintf(startup.f, "%s %.3f\n", phase, float64(time.Since(startup.t0).Microseconds())/1000)
}

// markEvents marks the first service starting and ready and the watch's
// start.
func markEvents(e events.Event) {
	switch e.Type {
	case events.ServiceStarting:
		mark("starting")
	case events.ServiceReady:
		mark("ready")
	case events.WatchStarted:
		mark("watching")
	}
}
