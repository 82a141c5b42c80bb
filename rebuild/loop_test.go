package rebuild

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// loopRunner is a fake Runner for the loop: Up may block until released,
// fail on demand, and services may be marked dead.
type loopRunner struct {
	mu        sync.Mutex
	calls     []string
	fail      map[string]bool
	dead      map[string]bool
	gone      map[string]bool          // stopped and unrecorded by another pets (pets down)
	block     map[string]chan struct{} // Up(k) waits for this channel, if set
	entered   chan string              // receives k when Up(k) starts, if set
	gen       int
	builds    []string        // Build calls
	buildFail map[string]bool // Build(k) fails
}

var _ Runner = (*loopRunner)(nil)

func (f *loopRunner) Check(_ context.Context, k petsfile.Key) (petsfile.Value, Health) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.gone[k.String()]:
		return petsfile.Value{}, Absent
	case f.dead[k.String()]:
		return petsfile.Value{}, Dead
	}
	return petsfile.Value{Hostname: k.Name + "-again", Port: 1}, Healthy
}

func (f *loopRunner) Alive(_ context.Context, k petsfile.Key) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.dead[k.String()] && !f.gone[k.String()], ""
}

func (f *loopRunner) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	f.mu.Lock()
	var hosts []string
	for _, d := range deps {
		hosts = append(hosts, d.Hostname)
	}
	f.calls = append(f.calls, fmt.Sprintf("%s%v", k.Name, hosts))
	b := f.block[k.String()]
	fail := f.fail[k.String()]
	f.gen++
	v := petsfile.Value{Hostname: fmt.Sprintf("%s%d", k.Name, f.gen), Port: 1}
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- k.String()
	}
	if b != nil {
		select {
		case <-b:
		case <-ctx.Done():
			return petsfile.Value{}, ctx.Err()
		}
	}
	if fail {
		return petsfile.Value{}, errors.New("boom")
	}
	f.mu.Lock()
	delete(f.dead, k.String())
	delete(f.gone, k.String())
	f.mu.Unlock()
	return v, nil
}

func (f *loopRunner) Down(context.Context, petsfile.Key) error { return nil }

func (f *loopRunner) Build(_ context.Context, k petsfile.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds = append(f.builds, k.Name)
	if f.buildFail[k.String()] {
		return errors.New("build failed: undefined: x")
	}
	return nil
}

func (f *loopRunner) takeCalls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, " ")
	f.calls = nil
	return s
}

// diamondLoop: store <- api <- web, store <- web, plus an unrelated tool;
// each service owns /r/<name>. The rounds it finishes (not a reload's)
// arrive on rounds.
func diamondLoop(f *loopRunner, changes chan Changes, rounds chan events.Event) *Loop {
	g := diamond()
	tool := key("tool")
	g.Order = append(g.Order, tool)
	g.Deps[tool] = nil
	var owners []Owner
	values := map[petsfile.Key]petsfile.Value{}
	for _, k := range g.Order {
		owners = append(owners, Owner{Key: k, Dir: "/r/" + k.Name})
		values[k] = petsfile.Value{Hostname: k.Name + "0", Port: 1}
	}
	l := &Loop{
		Config:  Config{Runner: f, Graph: g, Owners: owners, Skip: map[string]bool{"/r/store/Petsfile": true}},
		Values:  values,
		Changes: changes,
		// One step at a time: the tests compare the runner's calls in
		// order (TestExecutor* test steps side by side).
		Parallel: 1,
	}
	l.Events = &testSink{l: l, rounds: rounds}
	return l
}

// testSink routes a loop's events for tests: finished rounds to rounds, a
// reload's round with its result to reloads (see reloading), every event to
// seen (if set).
type testSink struct {
	l       *Loop
	rounds  chan events.Event
	reloads chan reloadResult
	seen    func(events.Event)

	mu         sync.Mutex
	reloadDone *events.Event // the reload's round, until its result comes
}

// reloadResult is a reload applied: its round (zero if it restarted
// nothing) and its reload.applied event.
type reloadResult struct {
	Round   events.Event
	Applied events.Event
}

func (s *testSink) Emit(e events.Event) {
	if s.seen != nil {
		s.seen(e)
	}
	switch {
	case e.Type == events.RoundFinished && e.Reason == "reload":
		s.mu.Lock()
		s.reloadDone = &e
		s.mu.Unlock()
	case e.Type == events.RoundFinished:
		s.rounds <- e
	case e.Type == events.ReloadApplied:
		s.mu.Lock()
		res := reloadResult{Applied: e}
		if s.reloadDone != nil {
			res.Round, s.reloadDone = *s.reloadDone, nil
		}
		s.mu.Unlock()
		s.reloads <- res
	}
}

// summary says what a finished round did: "[paths] -> api web(bounced)";
// stop steps are left out (tests check them through the Runner's Down).
func summary(r events.Event) string {
	var parts []string
	for _, s := range r.Steps {
		if s.Kind == events.StepStop {
			continue
		}
		p, _, _ := strings.Cut(s.Service, "-")
		switch {
		case s.Skipped != "":
			p += "(skipped: " + s.Skipped + ")"
		case s.Error != "":
			p += "(failed)"
		case s.Kind == events.StepBounce:
			p += "(bounced)"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("%v -> %s", r.Files, strings.Join(parts, " "))
}

func runLoop(t *testing.T, l *Loop) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	return func() {
		stop()
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestLoopRestartsOwnerThenDependentsInOrder(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/store/db.go", "/r/store/schema.sql"}}
	r := <-rounds
	if got := summary(r); got != "[/r/store/db.go /r/store/schema.sql] -> store api(bounced) web(bounced)" {
		t.Errorf("round = %s", got)
	}
	// Each started with its deps' new values, in deps order.
	if got := f.takeCalls(); got != "store[] api[store1] web[api2 store1]" {
		t.Errorf("calls = %s", got)
	}

	changes <- Changes{Paths: []string{"/r/tool/x"}}
	if got := summary(<-rounds); got != "[/r/tool/x] -> tool" {
		t.Errorf("round = %s", got)
	}
	changes <- Changes{Paths: []string{"/r/store/Petsfile", "/elsewhere"}}
	changes <- Changes{Paths: []string{"/r/api/a.go", "/r/web/w.js"}}
	// The first batch owned nothing: the next round is the second batch's,
	// and web restarts once although it both changed and is api's dependent.
	if got := summary(<-rounds); got != "[/r/api/a.go /r/web/w.js] -> api web" {
		t.Errorf("round = %s", got)
	}
}

func TestLoopCoalescesEditsDuringARound(t *testing.T) {
	release := make(chan struct{})
	f := &loopRunner{block: map[string]chan struct{}{"api-local": release}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/api/1"}}
	if k := <-f.entered; k != "api-local" {
		t.Fatalf("first restart is %s", k)
	}
	// While api restarts: web (not begun yet in this round) and api and tool
	// (already begun / not in this round) change.
	changes <- Changes{Paths: []string{"/r/web/2"}}
	changes <- Changes{Paths: []string{"/r/api/3", "/r/tool/4"}}
	changes <- Changes{Paths: []string{"/r/api/5"}}
	f.mu.Lock()
	f.block = nil
	f.mu.Unlock()
	close(release)
	if got := summary(<-rounds); got != "[/r/api/1] -> api web(bounced)" {
		t.Errorf("round 1 = %s", got)
	}
	<-f.entered
	if got := summary(<-rounds); got != "[/r/api/3 /r/api/5 /r/tool/4] -> api web(bounced) tool" {
		t.Errorf("round 2 = %s (edits during round 1 must all land here, each service once)", got)
	}
	<-f.entered
	<-f.entered
	select {
	case r := <-rounds:
		t.Errorf("unexpected round 3: %s", summary(r))
	default:
	}
}

func TestLoopFailureSkipsDependentsAndRetriesOnNextChange(t *testing.T) {
	f := &loopRunner{fail: map[string]bool{"api-local": true}}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	if got := summary(<-rounds); got != "[/r/api/a.go] -> api(failed) web(skipped: api-local failed)" {
		t.Errorf("round = %s", got)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	if got := summary(<-rounds); got != "[/r/api/a.go] -> api web(bounced)" {
		t.Errorf("retry = %s", got)
	}
	// web was started with the values api and store have now: store's from
	// before (never restarted), api's from the retry.
	if got := f.takeCalls(); got != "api[store0] api[store0] web[api2 store0]" {
		t.Errorf("calls = %s", got)
	}
}

// A service pets up was to start and did not (it failed, or a failed
// dependency skipped it) was not running before: the round that brings it
// up, whatever its step (here a restart of api and a bounce of web), has
// started it, so that Ctrl-C stops it; one that was up before (tool) and
// only restarted is not this pets' to stop.
func TestLoopStartedCountsWhatFailedAtLaunchOnceItRuns(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	api, web := key("api"), key("web")
	l.Down = map[petsfile.Key]bool{api: true, web: true}
	l.Unstarted = map[petsfile.Key]bool{api: true, web: true}
	cancel := runLoop(t, l)

	changes <- Changes{Paths: []string{"/r/tool/x"}}
	if got := summary(<-rounds); got != "[/r/tool/x] -> tool" {
		t.Errorf("round = %s", got)
	}
	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	if got := summary(<-rounds); got != "[/r/api/a.go] -> api web(bounced)" {
		t.Errorf("round = %s", got)
	}
	cancel()
	if got := fmt.Sprint(l.Started); got != "map[api-local:true web-local:true]" {
		t.Errorf("Started = %s; want api and web (up now, not before pets), not tool (up before)", got)
	}
	if len(l.Unstarted) != 0 {
		t.Errorf("Unstarted = %v; want none (both run now)", l.Unstarted)
	}
}

func TestLoopOverflowRestartsEverythingOnce(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	defer runLoop(t, l)()
	changes <- Changes{All: true}
	if got := summary(<-rounds); got != "[] -> store api web tool" {
		t.Errorf("round = %s", got)
	}
}

// With restart_policy="no", a crash is reported once and the service waits
// for a change to its files (before restart policies, every service did).
func TestLoopReportsCrashOnceAndWaitsForAChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &loopRunner{dead: map[string]bool{}}
		changes, rounds := make(chan Changes), make(chan events.Event, 10)
		l := diamondLoop(f, changes, rounds)
		for i := range l.Owners {
			l.Owners[i].RestartPolicy = petsfile.RestartNo
		}
		var crashes []string
		l.Events.(*testSink).seen = func(e events.Event) {
			if e.Type == events.ServiceCrashed {
				crashes = append(crashes, e.Service)
			}
		}
		l.Timing.CheckEvery = time.Second
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		f.mu.Lock()
		f.dead["api-local"] = true
		f.mu.Unlock()
		time.Sleep(10 * time.Second) // fake time: ten crash checks
		synctest.Wait()
		if fmt.Sprint(crashes) != "[api-local]" {
			t.Errorf("crashes = %v, want api-local once", crashes)
		}
		if got := f.takeCalls(); got != "" {
			t.Errorf("a crashed service was restarted without a change: %s", got)
		}
		changes <- Changes{Paths: []string{"/r/api/fix.go"}}
		if got := summary(<-rounds); got != "[/r/api/fix.go] -> api web(bounced)" {
			t.Errorf("round = %s", got)
		}
		// Crashing again is reported again.
		f.mu.Lock()
		f.dead["api-local"] = true
		f.mu.Unlock()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if fmt.Sprint(crashes) != "[api-local api-local]" {
			t.Errorf("crashes = %v", crashes)
		}
		cancel()
		<-done
	})
}

// A service that pets down stopped is left alone by the next round, even
// when the round comes before the loop's periodic check has noticed the
// stop: neither its own change nor its dependency's starts it again. Once
// it runs again (pets up), its changes restart it again.
func TestLoopLeavesAloneWhatPetsDownStoppedBeforeTheCheck(t *testing.T) {
	f := &loopRunner{gone: map[string]bool{}}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	l.Timing.CheckEvery = time.Hour // the periodic check never comes
	var stopped []string
	l.Events.(*testSink).seen = func(e events.Event) {
		if e.Type == events.ServiceStopped {
			stopped = append(stopped, e.Service) // Run's goroutine only
		}
	}
	defer runLoop(t, l)()

	// pets down api: it stops api and its dependent web.
	f.mu.Lock()
	f.gone["api-local"], f.gone["web-local"] = true, true
	f.mu.Unlock()
	changes <- Changes{Paths: []string{"/r/api/a.go", "/r/store/s.sql"}}
	if got := summary(<-rounds); got != "[/r/store/s.sql] -> store" {
		t.Errorf("round = %s, want store alone (api and web were stopped by pets down)", got)
	}
	if got := f.takeCalls(); got != "store[]" {
		t.Errorf("calls = %s", got)
	}
	changes <- Changes{Paths: []string{"/r/web/w.js", "/r/tool/t"}}
	if got := summary(<-rounds); got != "[/r/tool/t] -> tool" {
		t.Errorf("round = %s, want tool alone", got)
	}
	if fmt.Sprint(stopped) != "[api-local web-local]" {
		t.Errorf("stopped = %v, want api and web reported once each", stopped)
	}

	// pets up api: it runs again, and its next change restarts it (web
	// is still down: not bounced).
	f.mu.Lock()
	delete(f.gone, "api-local")
	f.mu.Unlock()
	changes <- Changes{Paths: []string{"/r/api/a.go"}}
	if got := summary(<-rounds); got != "[/r/api/a.go] -> api" {
		t.Errorf("round = %s, want api, watched again", got)
	}
	if got := f.takeCalls(); got != "tool[] api[store1]" {
		t.Errorf("calls = %s", got)
	}
}

func TestLoopCancelFinishesTheServiceInHand(t *testing.T) {
	release := make(chan struct{})
	f := &loopRunner{block: map[string]chan struct{}{"api-local": release}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()

	changes <- Changes{Paths: []string{"/r/api/main.go"}}
	if k := <-f.entered; k != "api-local" {
		t.Fatalf("entered %s", k)
	}
	cancel() // Ctrl-C while api restarts
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) while api was still restarting", err)
	case r := <-rounds:
		t.Fatalf("round ended while api was still restarting: %s", summary(r))
	default:
	}
	close(release)
	if got := summary(<-rounds); got != "[/r/api/main.go] -> api web(skipped: interrupted)" {
		t.Errorf("round = %s; want api's restart finished and web left alone", got)
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}

func TestLoopCancelGivesUpOnAServiceThatDoesNotFinish(t *testing.T) {
	never := make(chan struct{}) // api's restart never finishes by itself
	f := &loopRunner{block: map[string]chan struct{}{"api-local": never}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	l.Timing.FinishWithin = 50 * time.Millisecond
	told := make(chan time.Duration, 1)
	l.Events.(*testSink).seen = func(e events.Event) {
		if e.Type == events.RoundInterrupted {
			told <- time.Duration(e.GraceMs * float64(time.Millisecond))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()

	changes <- Changes{Paths: []string{"/r/api/main.go"}}
	<-f.entered
	cancel()
	if d := <-told; d != 50*time.Millisecond {
		t.Errorf("Interrupted(%s)", d)
	}
	if got := summary(<-rounds); got != "[/r/api/main.go] -> api(failed) web(skipped: interrupted)" {
		t.Errorf("round = %s; want api cancelled after FinishWithin", got)
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}
