package rebuild

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

func TestNewReload(t *testing.T) {
	old := diamond() // store <- api <- web, store <- web
	newG := &petsfile.Graph{
		Order: []petsfile.Key{key("store"), {Name: "api", Tier: "k8s"}, key("cache"), key("web")},
		Deps: map[petsfile.Key][]petsfile.Key{
			key("store"): nil, {Name: "api", Tier: "k8s"}: {key("store")}, key("cache"): nil,
			key("web"): {{Name: "api", Tier: "k8s"}, key("store"), key("cache")},
		},
	}
	oldFP := map[petsfile.Key]string{key("store"): "s", key("api"): "a", key("web"): "w"}
	newFP := map[petsfile.Key]string{key("store"): "s", {Name: "api", Tier: "k8s"}: "a", key("cache"): "c", key("web"): "w2"}
	r := NewReload(old, newG, oldFP, newFP)
	got := fmt.Sprintf("added %v removed %v changed %v unchanged %v", r.Added, r.Removed, r.Changed, r.Unchanged)
	want := "added [api-k8s cache-local] removed [api-local] changed [web-local] unchanged [store-local]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLoopAppliesReloadBetweenRounds(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	reloads, results := reloading(l)
	var downs []string
	f2 := &downRecorder{loopRunner: f, downs: &downs}
	defer runLoop(t, l)()

	// New config: tool removed, api changed, cache added (web now needs it).
	g := diamond()
	cache := key("cache")
	g.Order = []petsfile.Key{key("store"), cache, key("api"), key("web")}
	g.Deps[cache] = nil
	g.Deps[key("web")] = []petsfile.Key{key("api"), key("store"), cache}
	old := l.Graph
	r := NewReload(old, g,
		map[petsfile.Key]string{key("store"): "s", key("api"): "a", key("web"): "w", key("tool"): "t"},
		map[petsfile.Key]string{key("store"): "s", key("api"): "a2", key("web"): "w2", cache: "c"})
	r.Runner = f2
	r.Owners = []Owner{{Key: key("store"), Dir: "/r/store"}, {Key: cache, Dir: "/r/cache"}, {Key: key("api"), Dir: "/r/api"}, {Key: key("web"), Dir: "/r/web"}}
	reloads <- r
	res := <-results
	if fmt.Sprint(downs) != "[tool-local]" {
		t.Errorf("downs = %v", downs)
	}
	// cache started, api restarted, web (changed, and api's dependent) once.
	if got := summary(res.Round); got != "[] -> cache api web" {
		t.Errorf("reload round = %s", got)
	}
	if s := res.Round.Steps[0]; s.Kind != events.StepStop || s.Service != "tool-local" || s.Result != events.ResultOK {
		t.Errorf("reload round's first step = %+v, want tool-local stopped", s)
	}
	if got := f.takeCalls(); got != "cache[] api[store0] web[api2 store0 cache1]" {
		t.Errorf("calls = %s", got)
	}
	// The new owners apply: cache's files restart cache (and web); tool's nothing.
	changes <- Changes{Paths: []string{"/r/tool/x", "/r/cache/y"}}
	if got := summary(<-rounds); got != "[/r/cache/y] -> cache web(bounced)" {
		t.Errorf("round after reload = %s", got)
	}
}

// downRecorder records Down calls.
type downRecorder struct {
	*loopRunner
	downs *[]string
}

func (d *downRecorder) Down(_ context.Context, k petsfile.Key) error {
	*d.downs = append(*d.downs, k.String())
	return nil
}

// A change that arrives while a reload waits is owned by the new owners
// (files that only the new configuration owns are not dropped in the
// window), and joins the reload's round.
func TestLoopOwnsChangesDuringAReloadWithTheNewOwners(t *testing.T) {
	release := make(chan struct{})
	f := &loopRunner{block: map[string]chan struct{}{"tool-local": release}, entered: make(chan string, 10)}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	reloads, results := reloading(l)
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/tool/x"}} // round 1 blocks in tool's restart
	<-f.entered
	g := diamond()
	cache := key("cache")
	g.Order = append(g.Order, cache)
	g.Deps[cache] = nil
	r := NewReload(l.Graph, g, map[petsfile.Key]string{}, map[petsfile.Key]string{})
	r.Runner = f
	r.Owners = []Owner{{Key: key("store"), Dir: "/r/store"}, {Key: key("api"), Dir: "/r/api"}, {Key: key("web"), Dir: "/r/web"}, {Key: cache, Dir: "/r/cache"}, {Key: key("web"), Dir: "/r/shared"}}
	reloads <- r
	changes <- Changes{Paths: []string{"/r/shared/new.go"}} // only the new config owns it
	f.mu.Lock()
	f.block = nil
	f.mu.Unlock()
	close(release)
	<-rounds // round 1
	res := <-results
	if len(res.Applied.Reload.Added) != 1 || len(res.Applied.Reload.Removed) != 1 {
		t.Fatalf("reload: added %v removed %v", res.Applied.Reload.Added, res.Applied.Reload.Removed)
	}
	if got := summary(res.Round); got != "[/r/shared/new.go] -> web cache" {
		t.Errorf("reload round with the change made while it waited: %s", got)
	}
	if got := f.takeCalls(); got != "tool[] web[api0 store0] cache[]" {
		t.Errorf("calls = %s", got)
	}
}

// When the Petsfile does not evaluate (a nil Reload), the held batch goes on.
func TestLoopHeldBatchGoesOnWhenTheReloadFails(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	reloads := make(chan *Reload)
	coming := make(chan struct{})
	l.Reloads, l.Coming = reloads, coming
	defer runLoop(t, l)()

	coming <- struct{}{}
	changes <- Changes{Paths: []string{"/r/api/main.go"}}
	reloads <- nil
	if got := summary(<-rounds); got != "[/r/api/main.go] -> api web(bounced)" {
		t.Errorf("round = %s", got)
	}
}

// The Petsfile lies outside the watched directories: its watcher says a
// reload is coming, and a batch that follows waits for it and joins it.
func TestLoopBatchWaitsForAComingReload(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	reloads, results := reloading(l)
	coming := make(chan struct{})
	l.Coming = coming
	defer runLoop(t, l)()

	coming <- struct{}{}
	changes <- Changes{Paths: []string{"/r/api/main.go", "/r/tool/x.go"}}
	r := changedReload(l, f, key("api"))
	reloads <- r
	if got := summary((<-results).Round); got != "[/r/api/main.go /r/tool/x.go] -> api web(bounced) tool" {
		t.Errorf("reload round = %s, want the held batch in it", got)
	}
	if got := f.takeCalls(); got != "api[store0] web[api1 store0] tool[]" {
		t.Errorf("calls = %s (each once)", got)
	}
}

// A reload waits ReloadSettle before it applies: a batch from the same burst
// that arrives in that window joins its round, not run twice.
func TestLoopReloadSettlesForTheRestOfTheBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &loopRunner{}
		changes, rounds := make(chan Changes), make(chan events.Event, 10)
		l := diamondLoop(f, changes, rounds)
		reloads, results := reloading(l)
		l.Timing.Settle = 40 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		r := changedReload(l, f, key("api"))
		reloads <- r
		time.Sleep(30 * time.Millisecond) // fake time: within the settle window
		changes <- Changes{Paths: []string{"/r/api/main.go", "/r/tool/x.go"}}
		if got := summary((<-results).Round); got != "[/r/api/main.go /r/tool/x.go] -> api web(bounced) tool" {
			t.Errorf("reload round = %s, want the batch in it", got)
		}
		if got := f.takeCalls(); got != "api[store0] web[api1 store0] tool[]" {
			t.Errorf("calls = %s (each once)", got)
		}
		cancel()
		<-done
	})
}

// The announcement's case: the Petsfile changes the frontend (web) while a
// static file of the backend (api, with sync rules) changes. One round: the
// backend is synced, then the frontend restarted once with its new config.
func TestLoopReloadRoundSyncsHeldChanges(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	s := syncAPI(l)
	reloads, results := reloading(l)
	coming := make(chan struct{})
	l.Coming = coming
	defer runLoop(t, l)()

	coming <- struct{}{}
	changes <- Changes{Paths: []string{"/r/api/static/a.css"}}
	r := changedReload(l, f, key("web"))
	reloads <- r
	if got := syncSummary((<-results).Round); got != "api(synced) web " {
		t.Errorf("reload round = %s", got)
	}
	if got := f.takeCalls(); got != "web[api0 store0]" {
		t.Errorf("runner calls = %s (api synced, web restarted once)", got)
	}
	if fmt.Sprint(s.calls) != "[api[/r/api/static/a.css]]" {
		t.Errorf("sync calls = %v", s.calls)
	}
}

// reloading wires l for reloads: what is sent on reloads is applied between
// rounds, and each result arrives on results.
func reloading(l *Loop) (reloads chan *Reload, results chan reloadResult) {
	reloads, results = make(chan *Reload), make(chan reloadResult, 1)
	l.Reloads = reloads
	l.Events.(*testSink).reloads = results
	return reloads, results
}

// changedReload is a reload of l's graph in which only k's definition
// changed, run by f with l's owners.
func changedReload(l *Loop, f Runner, k petsfile.Key) *Reload {
	r := NewReload(l.Graph, l.Graph, map[petsfile.Key]string{k: "old"}, map[petsfile.Key]string{k: "new"})
	r.Runner, r.Owners, r.Skip = f, l.Owners, l.Skip
	return r
}

// A reload said to be coming that never comes holds batches two seconds at
// most.
func TestLoopHeldBatchGoesOnWhenNoReloadComes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &loopRunner{}
		changes, rounds := make(chan Changes), make(chan events.Event, 10)
		l := diamondLoop(f, changes, rounds)
		coming := make(chan struct{})
		l.Reloads, l.Coming = make(chan *Reload), coming
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		coming <- struct{}{}
		t0 := time.Now()
		changes <- Changes{Paths: []string{"/r/api/main.go"}}
		if got := summary(<-rounds); got != "[/r/api/main.go] -> api web(bounced)" {
			t.Errorf("round = %s", got)
		}
		if d := time.Since(t0); d != reloadWait {
			t.Errorf("held for %s (fake time), want %s", d, reloadWait)
		}
		cancel()
		<-done
	})
}

// A reload said to be coming applies once it has settled, not when the
// wait for it would have run out.
func TestLoopComingReloadAppliesWhenItSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &loopRunner{}
		changes, rounds := make(chan Changes), make(chan events.Event, 10)
		l := diamondLoop(f, changes, rounds)
		reloads, results := reloading(l)
		coming := make(chan struct{})
		l.Coming = coming
		l.Timing.Settle = 40 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.Run(ctx) }()

		t0 := time.Now()
		coming <- struct{}{}
		time.Sleep(10 * time.Millisecond) // fake time: the Petsfile evaluates
		reloads <- changedReload(l, f, key("api"))
		<-results
		if d := time.Since(t0); d != 50*time.Millisecond {
			t.Errorf("applied %s after the write began (fake time), want 50ms: 10ms to evaluate + 40ms to settle", d)
		}
		cancel()
		<-done
	})
}
