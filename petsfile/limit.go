package petsfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// DefaultMaxSteps is how many Starlark steps one evaluation may take: the
// top level of one file, or one provider call. A step is one bytecode
// instruction; a real Petsfile takes a few thousand. 100 million took 0.9 s
// of `while True: pass` and 2.3 s of a loop calling list builtins on the
// project's 2-core test machine (8 s and 15 s in a -race build): far more
// than any Petsfile needs, soon enough to turn an endless loop into an
// error with its position. Time spent waiting in builtins (a run("make")
// that takes minutes) takes no steps: the limit is not a timeout.
const DefaultMaxSteps = 100_000_000

// MaxStepsEnv, when set, replaces DefaultMaxSteps: a number of steps, or 0
// for no limit.
const MaxStepsEnv = "PETS_MAX_STEPS"

// NoStepLimit as Options.MaxSteps lifts the limit.
const NoStepLimit = ^uint64(0)

// ErrTooManySteps is (wrapped in an *Error) what an evaluation that took
// more than its steps returns.
var ErrTooManySteps = errors.New("petsfile: too many steps")

// Why a thread is cancelled (evaluation.why).
const (
	reasonSteps = "pets: too many steps"
	reasonCtx   = "pets: interrupted"
)

// maxSteps is the limit Options ask for: MaxSteps, else $PETS_MAX_STEPS,
// else DefaultMaxSteps.
func maxSteps(o Options) (uint64, error) {
	if o.MaxSteps != 0 {
		return o.MaxSteps, nil
	}
	v, ok := os.LookupEnv(MaxStepsEnv)
	if !ok || strings.TrimSpace(v) == "" {
		return DefaultMaxSteps, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(strings.ReplaceAll(v, "_", "")), 10, 64)
	if err != nil {
		return 0, &UsageError{
			Msg:  fmt.Sprintf("%s=%q is not a number of steps", MaxStepsEnv, v),
			Hint: fmt.Sprintf("set it to a whole number (the default is %d), or 0 for no limit", uint64(DefaultMaxSteps)),
		}
	}
	if n == 0 {
		return NoStepLimit, nil
	}
	return n, nil
}

// evaluation runs Starlark code on one thread under ctx and a step limit.
//
// Both stops are taken on the thread's own goroutine, from OnMaxSteps,
// which the interpreter calls every checkEvery steps: the context's end is
// noticed there (not by a Cancel from another goroutine), so that the
// thread stops where the position it reports says where the code was.
// Starlark gives positions only to the instructions that can fail (calls,
// operators); the others report the last positioned one before them in the
// code (a loop's head reports the statement before the loop), or their
// function's start. So a stop takes up to lateSteps more steps to land on a
// position inside a loop of the source; if it never does and the position
// never changed (`while True: pass` has no positioned instruction at all),
// the stop is placed at the first while loop after that position.
type evaluation struct {
	ctx   context.Context
	max   uint64                   // NoStepLimit: none
	src   func(file string) []byte // the source of an evaluated file, by display name
	ended atomic.Bool              // ctx ended; set by context.AfterFunc

	// Touched only by the thread's goroutine.
	why   string // "" while running, else reasonSteps or reasonCtx
	late  int    // steps taken, once stopping, to reach a real position
	first syntax.Position
	at    syntax.Position // where the thread stopped
	moved bool            // the position changed while stopping
	files map[string]*loops
}

// checkEvery is how many steps run between two looks at the context: tens
// of microseconds.
const checkEvery = 10_000

// lateSteps bounds the steps taken, once stopping, to find a position in a
// loop.
const lateSteps = 64

// evaluate prepares t to stop when ctx ends or it takes more than max
// steps, runs fn (which evaluates on t), and turns a stop into an *Error
// that says where evaluation was and why it stopped.
func (p *Project) evaluate(ctx context.Context, t *starlark.Thread, fn func() error) error {
	e := &evaluation{ctx: ctx, max: p.maxSteps, src: func(name string) []byte { return p.srcs[name] }}
	if ctx.Err() != nil {
		e.ended.Store(true)
	}
	t.OnMaxSteps = e.check
	t.SetMaxExecutionSteps(e.next(0))
	stop := context.AfterFunc(ctx, func() { e.ended.Store(true) })
	defer stop()
	err := fn()
	if err == nil {
		return nil
	}
	return e.stopped(evalError(err))
}

// next is the step count at which e.check runs next, after steps.
func (e *evaluation) next(steps uint64) uint64 {
	if e.ended.Load() {
		return steps + 1
	}
	n := steps + checkEvery
	if e.max != NoStepLimit && n > e.max {
		n = e.max
	}
	return n
}

// check is t's OnMaxSteps: it stops the thread when its context has ended
// or its steps are used up, else lets it run checkEvery steps more.
func (e *evaluation) check(t *starlark.Thread) {
	steps := t.ExecutionSteps()
	if e.why == "" {
		switch {
		case e.ended.Load():
			e.why = reasonCtx
		case e.max != NoStepLimit && steps >= e.max:
			e.why = reasonSteps
		default:
			t.SetMaxExecutionSteps(e.next(steps))
			return
		}
	}
	pos := t.CallFrame(0).Pos
	if e.late == 0 {
		e.first = pos
	}
	e.moved = e.moved || pos != e.first
	e.at = pos
	if e.late < lateSteps && !e.loopsOf(pos).inside(pos) {
		e.late++
		t.SetMaxExecutionSteps(steps + 1)
		return
	}
	t.Cancel(e.why)
}

// loopsOf returns the loops of the file of pos, parsed once.
func (e *evaluation) loopsOf(pos syntax.Position) *loops {
	name := pos.Filename()
	if l, ok := e.files[name]; ok {
		return l
	}
	if e.files == nil {
		e.files = map[string]*loops{}
	}
	l := parseLoops(name, e.src(name))
	e.files[name] = l
	return l
}

// loops are the spans of a file's loops (for and while statements,
// comprehensions), and where its while loops start.
type loops struct {
	spans  [][2]syntax.Position
	whiles []syntax.Position
}

func parseLoops(name string, src []byte) *loops {
	l := &loops{}
	if src == nil {
		return l
	}
	f, err := fileOptions.Parse(name, src, 0)
	if err != nil {
		return l
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n.(type) {
		case *syntax.WhileStmt, *syntax.ForStmt, *syntax.Comprehension:
			start, end := n.Span()
			l.spans = append(l.spans, [2]syntax.Position{start, end})
			if w, ok := n.(*syntax.WhileStmt); ok {
				l.whiles = append(l.whiles, w.While)
			}
		}
		return true
	})
	return l
}

// before says whether a comes before b in their file.
func before(a, b syntax.Position) bool {
	return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
}

// inside says whether pos lies in a loop.
func (l *loops) inside(pos syntax.Position) bool {
	for _, s := range l.spans {
		if !before(pos, s[0]) && !before(s[1], pos) {
			return true
		}
	}
	return false
}

// whileAfter returns the first while loop after pos.
func (l *loops) whileAfter(pos syntax.Position) (syntax.Position, bool) {
	var next syntax.Position
	for _, w := range l.whiles {
		if before(pos, w) && (!next.IsValid() || before(w, next)) {
			next = w
		}
	}
	return next, next.IsValid()
}

// stopped turns err (already through evalError) into the error of a stop,
// if the evaluation was stopped.
func (e *evaluation) stopped(err error) error {
	ctxErr := e.ctx.Err()
	if e.why == "" && ctxErr == nil {
		return err
	}
	var pe *Error
	if !errors.As(err, &pe) {
		if ctxErr != nil {
			return fmt.Errorf("evaluation interrupted: %w", errors.Join(err, ctxErr))
		}
		return err
	}
	if pe.stopped {
		return err // a loaded file's evaluation, already said
	}
	pe.stopped = true
	if l := e.loopsOf(e.at); e.why != "" && !e.moved && pe.Pos == e.at.String() && !l.inside(e.at) {
		if loop, ok := l.whileAfter(e.at); ok {
			old := pe.Pos
			pe.Pos = loop.String()
			if i := strings.LastIndex(pe.Backtrace, old+":"); i >= 0 {
				pe.Backtrace = pe.Backtrace[:i] + pe.Pos + ":" + pe.Backtrace[i+len(old)+1:]
			}
		}
	}
	switch {
	case e.why == reasonSteps:
		pe.Msg = fmt.Sprintf("evaluation stopped after %d Starlark steps: is this an endless loop?", e.max)
		pe.Hint = fmt.Sprintf("if the Petsfile really computes that much, raise the limit with the environment variable %s, e.g. %s=%d (0: no limit)", MaxStepsEnv, MaxStepsEnv, raised(e.max))
		pe.err = errors.Join(ErrTooManySteps, pe.err)
	default:
		why := "interrupted"
		if c := context.Cause(e.ctx); c != nil && !errors.Is(c, context.Canceled) {
			why = "stopped: " + c.Error()
		}
		if e.why == reasonCtx {
			pe.Msg = "evaluation " + why
		} else {
			// A builtin (a run() at the top level, a go-get:// load) was
			// cut short by the context's end: what it said matters too.
			pe.Msg = "evaluation " + why + ": " + pe.Msg
		}
		pe.Hint = ""
		pe.err = errors.Join(ctxErr, context.Cause(e.ctx), pe.err)
	}
	return pe
}

// raised is a limit ten times max, for the hint.
func raised(max uint64) uint64 {
	if max > NoStepLimit/10 {
		return 0
	}
	return max * 10
}
