package petsfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// project writes files (name -> content) into a new directory and returns
// the path of its Petsfile.
func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "Petsfile")
}

// signalWriter is a print() destination that closes printed at the first
// write: the evaluation has reached the print.
type signalWriter struct {
	once    sync.Once
	printed chan struct{}
}

func (w *signalWriter) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.printed) })
	return len(b), nil
}

// wantStop checks that err is an *petsfile.Error at a position matching
// pos (a regexp, anchored) whose message starts with msg.
func wantStop(t *testing.T, err error, pos, msg string) *petsfile.Error {
	t.Helper()
	var pe *petsfile.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *petsfile.Error", err, err)
	}
	if !regexp.MustCompile("^("+pos+")$").MatchString(pe.Pos) || !strings.HasPrefix(pe.Msg, msg) {
		t.Errorf("stopped at %q with %q, want %q and a message starting %q\n%v", pe.Pos, pe.Msg, pos, msg, err)
	}
	return pe
}

// An endless loop at the top level of a loaded file is stopped where it
// spins, and the error says how to raise the limit.
func TestStepLimitStopsAnEndlessLoop(t *testing.T) {
	pf := project(t, map[string]string{
		"Petsfile":     "load(\"lib\", \"x\")\n",
		"lib/Petsfile": "x = 1\nwhile True:\n  x += 1\n",
	})
	_, err := petsfile.Load(context.Background(), pf, petsfile.Options{MaxSteps: 100_000})
	pe := wantStop(t, err, `lib/Petsfile:3:\d+`, "evaluation stopped after 100000 Starlark steps")
	if !errors.Is(err, petsfile.ErrTooManySteps) {
		t.Errorf("errors.Is(err, ErrTooManySteps) = false: %v", err)
	}
	if !strings.Contains(pe.Hint, petsfile.MaxStepsEnv+"=1000000") {
		t.Errorf("hint %q does not say how to raise the limit", pe.Hint)
	}
	if !strings.Contains(pe.Backtrace, pe.Pos+": in <toplevel>") {
		t.Errorf("no backtrace:\n%v", err)
	}
	// The same file is fine with more room.
	pf = project(t, map[string]string{"Petsfile": "x = 0\nfor i in range(1000):\n  x += i\n"})
	if _, err := petsfile.Load(context.Background(), pf, petsfile.Options{MaxSteps: 100_000}); err != nil {
		t.Errorf("a loop within the limit: %v", err)
	}
}

// A provider has the same limit: its error names the service and the line.
func TestStepLimitStopsAnEndlessProvider(t *testing.T) {
	pf := project(t, map[string]string{"Petsfile": "def spin():\n  while True:\n    pass\nregister(\"s\", \"local\", spin)\n"})
	p, err := petsfile.Load(context.Background(), pf, petsfile.Options{MaxSteps: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Provide(context.Background(), petsfile.Key{Name: "s", Tier: "local"}, nil, nopHost{})
	var prov *petsfile.ProviderError
	if !errors.As(err, &prov) || prov.Service.Name != "s" || !errors.Is(err, petsfile.ErrTooManySteps) {
		t.Fatalf("Provide = %v, want a ProviderError of s wrapping ErrTooManySteps", err)
	}
	// The loop has no instruction of its own with a position: the stop is
	// placed at its while (not at the def, where Starlark would say).
	pe := wantStop(t, err, "Petsfile:2:3", "evaluation stopped after 10000 Starlark steps")
	if !strings.HasSuffix(pe.Backtrace, "Petsfile:2:3: in spin") {
		t.Errorf("backtrace does not end at the loop:\n%s", pe.Backtrace)
	}
}

// $PETS_MAX_STEPS sets the limit when Options do not; a value that is no
// number is refused before anything is evaluated.
func TestStepLimitFromEnvironment(t *testing.T) {
	pf := project(t, map[string]string{"Petsfile": "print(\"evaluated\")\nx = 0\nfor i in range(10000):\n  x += i\n"})
	t.Setenv(petsfile.MaxStepsEnv, "1_000")
	_, err := petsfile.Load(context.Background(), pf, petsfile.Options{})
	wantStop(t, err, `Petsfile:[34]:\d+`, "evaluation stopped after 1000 Starlark steps")

	t.Setenv(petsfile.MaxStepsEnv, "1000000")
	if _, err := petsfile.Load(context.Background(), pf, petsfile.Options{}); err != nil {
		t.Errorf("with %s=1000000: %v", petsfile.MaxStepsEnv, err)
	}
	// Options win over the environment.
	_, err = petsfile.Load(context.Background(), pf, petsfile.Options{MaxSteps: 500})
	wantStop(t, err, `Petsfile:[34]:\d+`, "evaluation stopped after 500 Starlark steps")

	t.Setenv(petsfile.MaxStepsEnv, "lots")
	var printed strings.Builder
	_, err = petsfile.Load(context.Background(), pf, petsfile.Options{Stderr: &printed})
	var ue *petsfile.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `PETS_MAX_STEPS="lots" is not a number`) || !strings.Contains(ue.Hint, "0 for no limit") {
		t.Errorf("with %s=lots: %v", petsfile.MaxStepsEnv, err)
	}
	if printed.Len() != 0 {
		t.Errorf("evaluated despite a bad limit: printed %q", printed.String())
	}
}

// Cancelling the context stops a top-level endless loop (no step limit)
// at once, at the position where it spins, in a loaded file too.
func TestCancelStopsEvaluationMidLoop(t *testing.T) {
	pf := project(t, map[string]string{
		"Petsfile":     "load(\"lib\", \"x\")\n",
		"lib/Petsfile": "print(\"spinning\")\nx = 0\nwhile True:\n  x += 1\n",
	})
	out := &signalWriter{printed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := petsfile.Load(ctx, pf, petsfile.Options{Stderr: out, MaxSteps: petsfile.NoStepLimit})
		done <- result{err, time.Now()}
	}()
	select {
	case <-out.printed:
	case r := <-done:
		t.Fatalf("Load returned before its loop: %v", r.err)
	}
	cancelled := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Load still running 10s after its context was cancelled")
	}
	if took := r.at.Sub(cancelled); took > 2*time.Second {
		t.Errorf("Load returned %s after the cancel", took)
	}
	wantStop(t, r.err, `lib/Petsfile:4:\d+`, "evaluation interrupted")
	if !errors.Is(r.err, context.Canceled) || errors.Is(r.err, petsfile.ErrTooManySteps) {
		t.Errorf("error %v: want context.Canceled, not ErrTooManySteps", r.err)
	}
	if n := strings.Count(r.err.Error(), "evaluation interrupted"); n != 1 {
		t.Errorf("the stop is said %d times:\n%v", n, r.err)
	}
}

// A cause given to the cancellation is the reason shown (a watching pets
// says a newer edit superseded the evaluation).
func TestCancelCauseIsTheReason(t *testing.T) {
	pf := project(t, map[string]string{"Petsfile": "print(\"spinning\")\nwhile True:\n  pass\n"})
	out := &signalWriter{printed: make(chan struct{})}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	superseded := errors.New("superseded by a newer edit")
	go func() {
		<-out.printed
		cancel(superseded)
	}()
	_, err := petsfile.Load(ctx, pf, petsfile.Options{Stderr: out, MaxSteps: petsfile.NoStepLimit})
	wantStop(t, err, "Petsfile:2:1", "evaluation stopped: superseded by a newer edit")
	if !errors.Is(err, superseded) || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v wraps neither its cause nor context.Canceled", err)
	}
}

// A provider whose endless loop is interrupted (the first Ctrl-C) says
// where it was.
func TestCancelStopsAProvider(t *testing.T) {
	pf := project(t, map[string]string{"Petsfile": "def spin():\n  print(\"spinning\")\n  while True:\n    pass\nregister(\"s\", \"local\", spin)\n"})
	out := &signalWriter{printed: make(chan struct{})}
	p, err := petsfile.Load(context.Background(), pf, petsfile.Options{Stderr: out, MaxSteps: petsfile.NoStepLimit})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-out.printed
		cancel()
	}()
	_, err = p.Provide(ctx, petsfile.Key{Name: "s", Tier: "local"}, nil, nopHost{})
	wantStop(t, err, "Petsfile:3:3", "evaluation interrupted")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
}

// A top-level run() cut short by the cancellation says so, with what the
// command said, at the run() call.
func TestCancelDuringTopLevelRun(t *testing.T) {
	pf := project(t, map[string]string{"Petsfile": "x = 1\nrun(\"make\")\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &blockingHost{running: make(chan struct{})}
	go func() {
		<-h.running
		cancel()
	}()
	_, err := petsfile.Load(ctx, pf, petsfile.Options{Host: h})
	wantStop(t, err, "Petsfile:2:4", "evaluation interrupted: ")
	if !strings.Contains(err.Error(), "make") || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v: want the command named and context.Canceled", err)
	}
}

// nopHost runs nothing.
type nopHost struct{}

var _ petsfile.Host = nopHost{}

func (nopHost) Start(context.Context, petsfile.Command) (petsfile.Process, error) {
	return petsfile.Process{PID: 1}, nil
}
func (nopHost) Run(context.Context, petsfile.Command) error { return nil }
func (nopHost) Ready(context.Context, petsfile.Key, petsfile.Process, petsfile.Readiness) error {
	return nil
}

// blockingHost's Run blocks until its context ends, like a long command.
type blockingHost struct {
	nopHost
	running chan struct{}
}

func (h *blockingHost) Run(ctx context.Context, c petsfile.Command) error {
	close(h.running)
	<-ctx.Done()
	return errors.New("run \"" + c.Line + "\": signal: killed")
}
