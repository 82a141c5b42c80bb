package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultEnv is a test hook, for the fault-injection tests
// (cmd/pets/faults_test.go): PETS_FAULT=kill-at-KIND:N makes pets kill
// itself with SIGKILL (no cleanup, no deferred code: as `kill -9` would)
// right after the N-th event of KIND, counted from 1 in this process:
//
//	state-write  state.json was replaced (package state)
//	fork         a command's process was forked, held before its command
//	             (StartHeld, Run): not recorded yet
//	step         either, in the order they happen
//
// It says so on stderr first ("pets: PETS_FAULT: killed at ..."). The
// variable is read once, at the first event; unset, an event costs one
// atomic load.
const FaultEnv = "PETS_FAULT"

var fault struct {
	once  sync.Once
	on    bool
	kind  string
	at    int64
	count atomic.Int64
}

// FaultPoint notes an event of kind (see FaultEnv) and kills the process if
// PETS_FAULT says so.
func FaultPoint(kind string) {
	fault.once.Do(readFault)
	if !fault.on || fault.kind != "step" && fault.kind != kind {
		return
	}
	if n := fault.count.Add(1); n != fault.at {
		return
	}
	fmt.Fprintf(os.Stderr, "pets: %s: killed at %s #%d (%s)\n", FaultEnv, fault.kind, fault.at, kind)
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
	}
	for {
		time.Sleep(time.Hour) // the kill is on its way
	}
}

func readFault() {
	v := os.Getenv(FaultEnv)
	if v == "" {
		return
	}
	kind, n, ok := strings.Cut(strings.TrimPrefix(v, "kill-at-"), ":")
	at, err := strconv.ParseInt(n, 10, 64)
	switch {
	case !strings.HasPrefix(v, "kill-at-") || !ok || err != nil || at < 1:
	case kind == "step" || kind == "state-write" || kind == "fork":
		fault.on, fault.kind, fault.at = true, kind, at
		return
	}
	fmt.Fprintf(os.Stderr, "pets: %s=%q not understood (want kill-at-KIND:N, KIND one of step, state-write, fork); ignored\n", FaultEnv, v)
}
