package rebuild

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// Requests from outside the loop (pets restart, list, wait) and what the
// loop says of freshness.

// ask sends q to the loop and returns the reply channel.
func ask(t *testing.T, requests chan Request, op RequestOp, names ...string) chan Reply {
	t.Helper()
	reply := make(chan Reply, 1)
	requests <- Request{Op: op, Names: names, Reply: reply}
	return reply
}

// barriers is a fake file watcher's barrier: it remembers the ids asked for.
type barriers struct {
	mu  sync.Mutex
	ids []uint64
	got chan uint64
}

func (b *barriers) ask(id uint64) error {
	b.got <- id
	return nil
}

func statusLine(st []Status) string {
	var out []string
	for _, s := range st {
		l := fmt.Sprintf("%s %s %s", s.Key.Name, s.State, s.Freshness)
		if len(s.Files) > 0 {
			l += fmt.Sprint(s.Files)
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func TestLoopRestartRequestIsQueuedBehindTheRoundInProgress(t *testing.T) {
	release := make(chan struct{})
	f := &loopRunner{block: map[string]chan struct{}{"api-local": release}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	requests := make(chan Request)
	l.Requests = requests
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	<-f.entered // round 1 is in api's restart
	reply := ask(t, requests, OpRestart, "tool", "api-local")
	select {
	case r := <-reply:
		t.Fatalf("the restart was answered during round 1: %+v", r)
	default:
	}
	f.mu.Lock()
	f.block = nil
	f.mu.Unlock()
	close(release)
	if got := summary(<-rounds); got != "[/r/api/a.go] -> api web(bounced)" {
		t.Errorf("round 1 = %s (the request must not join a round in progress)", got)
	}
	r := <-reply
	if r.Err != nil || r.Round == nil || r.Round.N != 2 {
		t.Fatalf("reply %+v", r)
	}
	if got := summary(<-rounds); got != "[] -> api web(bounced) tool" {
		t.Errorf("round 2 = %s", got)
	}
	var steps []string
	for _, s := range r.Round.Steps {
		steps = append(steps, s.Key.Name+": "+s.Reason)
	}
	if fmt.Sprint(steps) != "[api: restarted by pets restart web: api-local restarted tool: restarted by pets restart]" {
		t.Errorf("the restart round's steps: %v", steps)
	}
	if r := <-ask(t, requests, OpRestart, "nope"); r.Err == nil || !strings.Contains(r.Err.Error(), "nope is not watched by this pets") {
		t.Errorf("restart of an unknown service: %+v", r)
	}
}

func TestLoopStatusCountsWhatTheWatcherHasSeen(t *testing.T) {
	release := make(chan struct{})
	f := &loopRunner{block: map[string]chan struct{}{"store-local": release}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	requests := make(chan Request)
	b := &barriers{got: make(chan uint64, 10)}
	l.Requests, l.Barrier = requests, b.ask
	defer runLoop(t, l)()

	// Nothing changed: everything is fresh.
	reply := ask(t, requests, OpStatus)
	id := <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id}}}
	if got := statusLine((<-reply).Status); got != "api ready fresh; store ready fresh; tool ready fresh; web ready fresh" {
		t.Errorf("status = %s", got)
	}
	// An edit the watcher has seen but not handed over (still in its open
	// batch) makes its owner stale.
	reply = ask(t, requests, OpStatus, "api", "tool")
	id = <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id, Pending: []string{"/r/tool/x.go"}}}}
	if got := statusLine((<-reply).Status); got != "api ready fresh; tool ready stale[/r/tool/x.go]" {
		t.Errorf("status = %s", got)
	}
	// While a service restarts it is stale, and so are the dependents to
	// be bounced after it (the round has not settled); tool, edited during
	// the round, waits for the next.
	changes <- Changes{Paths: []string{"/r/store/s.sql"}}
	<-f.entered // store's restart, held
	changes <- Changes{Paths: []string{"/r/tool/y.go"}}
	reply = ask(t, requests, OpStatus, "store", "web", "tool")
	id = <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id}}}
	if got := statusLine((<-reply).Status); got != "store starting stale[/r/store/s.sql]; tool ready stale[/r/tool/x.go /r/tool/y.go]; web ready stale" {
		t.Errorf("status during the round = %s", got)
	}
	close(release)
	<-rounds
	<-rounds // tool's
	reply = ask(t, requests, OpStatus)
	id = <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id}}}
	if got := statusLine((<-reply).Status); got != "api ready fresh; store ready fresh; tool ready fresh; web ready fresh" {
		t.Errorf("status after the rounds = %s", got)
	}
	// A barrier that failed: what looks fresh may not be.
	reply = ask(t, requests, OpStatus, "api")
	id = <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id, Err: "sentinel lost"}}}
	if r := <-reply; statusLine(r.Status) != "api ready unknown" || !strings.Contains(r.Status[0].Reason, "sentinel lost") {
		t.Errorf("status after a failed barrier = %+v", r.Status)
	}
}

func TestLoopWaitRepliesOnceFreshOrAtOnceWhenItCannotBe(t *testing.T) {
	f := &loopRunner{fail: map[string]bool{"tool-local": true}}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	requests := make(chan Request)
	b := &barriers{got: make(chan uint64, 10)}
	l.Requests, l.Barrier = requests, b.ask
	defer runLoop(t, l)()

	// An edit still in the watcher's open batch: the wait waits for it.
	reply := ask(t, requests, OpWait, "api")
	id := <-b.got
	changes <- Changes{Barriers: []Barrier{{ID: id, Pending: []string{"/r/api/a.go"}}}}
	select {
	case r := <-reply:
		t.Fatalf("wait answered before the edit ran: %+v", r)
	default:
	}
	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	<-rounds
	if r := <-reply; r.Err != nil || statusLine(r.Status) != "api ready fresh" {
		t.Errorf("wait = %+v", r)
	}
	// A service that failed, with nothing pending for it, cannot get fresh.
	changes <- Changes{Paths: []string{"/r/tool/t.go"}}
	<-rounds
	reply = ask(t, requests, OpWait, "tool")
	changes <- Changes{Barriers: []Barrier{{ID: <-b.got}}}
	if r := <-reply; r.Err == nil || !strings.Contains(r.Err.Error(), "tool-local failed: boom") {
		t.Errorf("wait for a failed service = %+v", r)
	}
}

func TestLoopSaysWhenAServiceGoesStaleAndFresh(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	seen := make(chan string, 10)
	l.Events.(*testSink).seen = func(e events.Event) {
		if e.Type == events.ServiceStale || e.Type == events.ServiceFresh {
			seen <- fmt.Sprintf("%s %s %v", e.Service, e.Freshness, e.Files)
		}
	}
	defer runLoop(t, l)()
	// A service is fresh once the loop has taken its round back, which
	// may be after the round's finished event: each edit waits for its
	// service's two events.
	var got []string
	changes <- Changes{Paths: []string{"/r/api/a.go", "/r/api/b.go"}}
	<-rounds
	for len(got) < 2 {
		got = append(got, <-seen)
	}
	changes <- Changes{Paths: []string{"/r/tool/x"}}
	<-rounds
	for len(got) < 4 {
		got = append(got, <-seen)
	}
	want := "[api-local stale [/r/api/a.go /r/api/b.go] api-local fresh [] tool-local stale [/r/tool/x] tool-local fresh []]"
	if fmt.Sprint(got) != want {
		t.Errorf("freshness events:\n%v\nwant\n%s", got, want)
	}
}

// A Runner's Alive reporting a crash: the event says how it ended.
func TestLoopCrashEventCarriesTheExitStatus(t *testing.T) {
	f := &exitRunner{loopRunner: &loopRunner{dead: map[string]bool{}}}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f.loopRunner, changes, rounds)
	l.Runner = f
	crashed := make(chan events.Event, 1)
	l.Events.(*testSink).seen = func(e events.Event) {
		if e.Type == events.ServiceCrashed {
			crashed <- e
		}
	}
	l.Timing.CheckEvery = 1
	defer runLoop(t, l)()
	f.mu.Lock()
	f.dead["web-local"] = true
	f.mu.Unlock()
	if e := <-crashed; e.Service != "web-local" || e.Exit != "exit status 3" || e.State != events.Crashed {
		t.Errorf("crash event %+v", e)
	}
}

type exitRunner struct{ *loopRunner }

func (f *exitRunner) Alive(ctx context.Context, k petsfile.Key) (bool, string) {
	if ok, _ := f.loopRunner.Alive(ctx, k); ok {
		return true, ""
	}
	return false, "exit status 3"
}

// A service that keeps crashing restarts by itself after 0.5 s, then 1 s,
// then 2 s (fake time); a change to its files restarts it at once.
func TestLoopRestartsACrashedServiceWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &loopRunner{dead: map[string]bool{}}
		changes, rounds := make(chan Changes), make(chan events.Event, 10)
		l := diamondLoop(f, changes, rounds)
		l.Timing.CheckEvery = 100 * time.Millisecond
		var mu sync.Mutex
		var crashedAt time.Time
		var waits []time.Duration
		backoffs := make(chan events.Event, 10)
		l.Events.(*testSink).seen = func(e events.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Type {
			case events.ServiceCrashed:
				crashedAt = time.Now()
			case events.ServiceBackoff:
				backoffs <- e
			case events.RoundPlanned:
				waits = append(waits, time.Since(crashedAt))
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()
		kill := func() {
			f.mu.Lock()
			f.dead["api-local"] = true
			f.mu.Unlock()
		}
		for i := 0; i < 3; i++ {
			kill()
			b := <-backoffs
			if b.Service != "api-local" || b.State != events.Backoff || b.DelayMs != float64(Backoff(i).Milliseconds()) {
				t.Errorf("backoff event %d: %+v", i, b)
			}
			if got := summary(<-rounds); got != "[] -> api web(bounced)" {
				t.Errorf("restart %d: %s", i, got)
			}
		}
		mu.Lock()
		if fmt.Sprint(waits) != "[500ms 1s 2s]" {
			t.Errorf("from crash to restart: %v, want [500ms 1s 2s]", waits)
		}
		mu.Unlock()
		// Crashed again: held for 4s; a change to its files restarts it now.
		kill()
		<-backoffs
		t0 := time.Now()
		changes <- Changes{Paths: []string{"/r/api/fix.go"}}
		if got := summary(<-rounds); got != "[/r/api/fix.go] -> api web(bounced)" {
			t.Errorf("the fix's round: %s", got)
		}
		if d := time.Since(t0); d != 0 {
			t.Errorf("the fix waited %s (fake time) for the backoff", d)
		}
		cancel()
		<-done
	})
}

// A service with a build step: its build runs before its restart (what
// ran before keeps running meanwhile); a failed build restarts nothing,
// leaves it up (and stale), skips its dependents, and the next change
// builds again.
func TestLoopBuildsBeforeItRestarts(t *testing.T) {
	f := &loopRunner{buildFail: map[string]bool{}}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	for i := range l.Owners {
		if l.Owners[i].Key == key("api") {
			l.Owners[i].Build = "go build -o bin/api ."
			l.Owners[i].BuildOutputs = []string{"/r/api/bin/**"}
		}
	}
	requests := make(chan Request)
	l.Requests = requests
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/api/main.go"}}
	if got := summary(<-rounds); got != "[/r/api/main.go] -> api web(bounced)" {
		t.Errorf("round = %s", got)
	}
	f.mu.Lock()
	if got := fmt.Sprint(f.builds, " ", f.calls); got != "[api] [api[store0] web[api1 store0]]" {
		t.Errorf("builds and starts: %s (the build before api's start, none for web's bounce)", got)
	}
	f.builds, f.calls = nil, nil
	f.buildFail["api-local"] = true
	f.mu.Unlock()

	// The build fails: api is not restarted, web is skipped.
	changes <- Changes{Paths: []string{"/r/api/main.go"}}
	r := <-rounds
	if got := summary(r); got != "[/r/api/main.go] -> api(failed) web(skipped: api-local failed)" {
		t.Errorf("round = %s", got)
	}
	if !r.Steps[0].BuildFailed {
		t.Errorf("the failed step does not say its build failed: %+v", r.Steps[0])
	}
	f.mu.Lock()
	if got := fmt.Sprint(f.builds, " ", f.calls); got != "[api] []" {
		t.Errorf("after a failed build: %s (nothing may start)", got)
	}
	f.mu.Unlock()
	// Still ready (the previous version), and stale.
	reply := make(chan Reply, 1)
	requests <- Request{Op: OpStatus, Names: []string{"api"}, Reply: reply}
	if st := (<-reply).Status[0]; st.State != events.Ready || st.Freshness != events.Stale || !strings.Contains(st.Reason, "previous version") {
		t.Errorf("api after its failed build: %+v", st)
	}
	// Build outputs trigger nothing.
	changes <- Changes{Paths: []string{"/r/api/bin/api"}}
	f.mu.Lock()
	delete(f.buildFail, "api-local")
	f.mu.Unlock()
	changes <- Changes{Paths: []string{"/r/api/fixed.go"}}
	if got := summary(<-rounds); got != "[/r/api/fixed.go] -> api web(bounced)" {
		t.Errorf("round after the fix = %s (the build output must not be in it)", got)
	}
}

// A change to an env file restarts the services that name it, and only them.
func TestLoopRestartsWhatNamesAChangedEnvFile(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	for i := range l.Owners {
		switch l.Owners[i].Key {
		case key("api"), key("tool"):
			l.Owners[i].EnvFiles = []string{"/r/.env"}
		case key("web"):
			l.Owners[i].EnvFiles = []string{"/r/web.env"}
		}
	}
	envs := make(chan []string)
	l.EnvChanges = envs
	defer runLoop(t, l)()
	envs <- []string{"/r/.env"}
	r := <-rounds
	if got := summary(r); got != "[] -> api web(bounced) tool" {
		t.Errorf("round = %s", got)
	}
	if r.Reason != "env file .env changed" || r.Steps[0].Reason != "env file .env changed" {
		t.Errorf("reasons: round %q, step %q", r.Reason, r.Steps[0].Reason)
	}
	if got := fmt.Sprint(EnvFilesOf(l.Owners)); got != "[/r/.env /r/web.env]" {
		t.Errorf("EnvFilesOf = %s", got)
	}
}
