package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
)

// Under PETS_STARTUP_TRACE each phase is written once, with the time since
// the launcher's clock, and the variable is gone from the environment.
func TestStartupTrace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace")
	t.Setenv(startupTraceEnv, fmt.Sprintf("%s:%d", file, time.Now().Add(-time.Second).UnixNano()))
	startTrace()
	defer func() {
		startup.f.Close()
		startup.f = nil
	}()
	if _, ok := os.LookupEnv(startupTraceEnv); ok {
		t.Errorf("%s is still in the environment", startupTraceEnv)
	}
	mark("main")
	markEvents(events.Event{Type: events.ServiceReady})
	markEvents(events.Event{Type: events.ServiceReady}) // the first one only
	markEvents(events.Event{Type: events.RoundFinished})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "main 1") || !strings.HasPrefix(lines[1], "ready 1") {
		t.Errorf("trace:\n%s\nwant main and ready, each about 1000 ms after T0", b)
	}
}
