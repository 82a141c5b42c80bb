package rebuild

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// fakeRunner records calls; services in running are up already, services in
// fail fail to start.
type fakeRunner struct {
	running map[string]bool
	fail    map[string]bool
	calls   []string
}

var _ Runner = (*fakeRunner)(nil)

func (f *fakeRunner) Check(_ context.Context, k petsfile.Key) (petsfile.Value, Health) {
	if f.running[k.String()] {
		return petsfile.Value{Hostname: "old-" + k.Name, Port: 1}, Healthy
	}
	return petsfile.Value{}, Absent
}

func (f *fakeRunner) Up(_ context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	var hosts []string
	for _, d := range deps {
		hosts = append(hosts, d.Hostname)
	}
	f.calls = append(f.calls, fmt.Sprintf("up %s %v", k, hosts))
	if f.fail[k.String()] {
		return petsfile.Value{}, errors.New("boom")
	}
	return petsfile.Value{Hostname: "new-" + k.Name, Port: 2}, nil
}

func (f *fakeRunner) Alive(_ context.Context, k petsfile.Key) (bool, string) {
	return f.running[k.String()], ""
}

func (f *fakeRunner) Build(_ context.Context, k petsfile.Key) error {
	f.calls = append(f.calls, "build "+k.String())
	return nil
}

func (f *fakeRunner) Down(_ context.Context, k petsfile.Key) error {
	f.calls = append(f.calls, "down "+k.String())
	return nil
}

// diamond: web -> api -> store, web -> store.
func diamond() *petsfile.Graph {
	k := func(n string) petsfile.Key { return petsfile.Key{Name: n, Tier: "local"} }
	return &petsfile.Graph{
		Order: []petsfile.Key{k("store"), k("api"), k("web")},
		Deps: map[petsfile.Key][]petsfile.Key{
			k("store"): nil,
			k("api"):   {k("store")},
			k("web"):   {k("api"), k("store")},
		},
	}
}

func TestUp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		running []string
		fail    []string
		want    string // calls, then the error if any
	}{
		{
			name: "fresh start, deps first, values passed in deps order",
			want: "up store-local [] | up api-local [new-store] | up web-local [new-api new-store]",
		},
		{
			name:    "everything up: all reused",
			running: []string{"store-local", "api-local", "web-local"},
			want:    "",
		},
		{
			name:    "dead dependency restarted: its running dependents are bounced",
			running: []string{"api-local", "web-local"},
			want:    "up store-local [] | up api-local [new-store] | up web-local [new-api new-store]",
		},
		{
			name:    "only the top is down: deps reused with their recorded values",
			running: []string{"store-local", "api-local"},
			want:    "up web-local [old-api old-store]",
		},
		{
			name: "failure rolls back what this call started, newest first",
			fail: []string{"web-local"},
			want: "up store-local [] | up api-local [new-store] | up web-local [new-api new-store] | down api-local | down store-local | error: web-local failed: boom",
		},
		{
			name:    "failure leaves services that were already up alone",
			running: []string{"store-local"},
			fail:    []string{"web-local"},
			want:    "up api-local [old-store] | up web-local [new-api old-store] | down api-local | error: web-local failed: boom",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{running: set(tc.running), fail: set(tc.fail)}
			var evs []string
			e := &Engine{Runner: f, Parallel: 1, Events: events.SinkFunc(func(ev events.Event) {
				if ev.Type == events.ServiceReused || ev.Type == events.ServiceReady {
					evs = append(evs, string(ev.Type))
				}
			})}
			_, err := e.Up(context.Background(), diamond())
			got := strings.Join(f.calls, " | ")
			if err != nil {
				got += " | error: " + err.Error()
			}
			got = strings.TrimPrefix(got, " | ")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if err == nil && len(evs) != len(diamond().Order) {
				t.Errorf("events %v: want one per service", evs)
			}
		})
	}
}

func set(xs []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// gateRunner fails a's start; b's start returns (ready) only once a's has
// failed, so b is ready after the failure that ends pets up.
type gateRunner struct {
	mu      sync.Mutex
	calls   []string
	aFailed chan struct{}
}

func (g *gateRunner) Check(context.Context, petsfile.Key) (petsfile.Value, Health) {
	return petsfile.Value{}, Absent
}
func (g *gateRunner) Alive(context.Context, petsfile.Key) (bool, string) { return true, "" }
func (g *gateRunner) Build(context.Context, petsfile.Key) error          { return nil }

func (g *gateRunner) Down(_ context.Context, k petsfile.Key) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "down "+k.String())
	return nil
}

func (g *gateRunner) Up(_ context.Context, k petsfile.Key, _ []petsfile.Value) (petsfile.Value, error) {
	if k.Name == "a" {
		defer close(g.aFailed)
		return petsfile.Value{}, errors.New("boom")
	}
	<-g.aFailed
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "ready "+k.String())
	return petsfile.Value{Hostname: k.Name}, nil
}

// TestUpRollsBackWhatBecameReadyAfterTheFailure: starting side by side, a
// service can become ready after another one's failure has ended pets up;
// it was started by this command, so it is stopped too (it was left
// running, with no one to stop it).
func TestUpRollsBackWhatBecameReadyAfterTheFailure(t *testing.T) {
	g := independent(2)
	a, b := g.Order[0], g.Order[1]
	a.Name, b.Name = "a", "b"
	g = &petsfile.Graph{Order: []petsfile.Key{a, b}, Deps: map[petsfile.Key][]petsfile.Key{a: nil, b: nil}}
	r := &gateRunner{aFailed: make(chan struct{})}
	_, err := (&Engine{Runner: r, Parallel: 2}).Up(context.Background(), g)
	var ue *UpError
	if !errors.As(err, &ue) || ue.Key != a {
		t.Fatalf("Up: %v, want a's failure", err)
	}
	if got, want := strings.Join(r.calls, " | "), "ready b-local | down b-local"; got != want {
		t.Errorf("calls %q, want %q", got, want)
	}
	if fmt.Sprint(ue.RolledBack) != fmt.Sprint([]petsfile.Key{b}) {
		t.Errorf("rolled back %v, want [b-local]", ue.RolledBack)
	}
}

// preforkRunner is a fakeRunner that is told, before a round's first step,
// which services the round will start (a Preforker).
type preforkRunner struct{ fakeRunner }

func (p *preforkRunner) PreforkNext(first, later []petsfile.Key) func() {
	names := func(keys []petsfile.Key) string {
		var out []string
		for _, k := range keys {
			out = append(out, k.String())
		}
		return strings.Join(out, " ")
	}
	p.calls = append(p.calls, "prefork "+names(first)+", later "+names(later))
	return func() { p.calls = append(p.calls, "drop") }
}

// TestRoundPreforksItsStarts: a round tells a Preforker, before its first
// step, every service it will start, restart or bounce (first those whose
// steps begin at once, then those that wait for others), and lets go of
// what is left after its last; a round that only stops (a rollback) tells
// it nothing.
func TestRoundPreforksItsStarts(t *testing.T) {
	p := &preforkRunner{fakeRunner{running: set([]string{"store-local", "api-local", "web-local"})}}
	(&Engine{Runner: p, Parallel: 1}).Restart(context.Background(), diamond(), []petsfile.Key{key("store")})
	want := "prefork store-local, later api-local web-local | up store-local [] | up api-local [new-store] | up web-local [new-api new-store] | drop"
	if got := strings.Join(p.calls, " | "); got != want {
		t.Errorf("a restart of store:\ngot  %s\nwant %s", got, want)
	}

	p = &preforkRunner{fakeRunner{fail: set([]string{"web-local"})}}
	_, err := (&Engine{Runner: p, Parallel: 1}).Up(context.Background(), diamond())
	want = "prefork store-local, later api-local web-local | up store-local [] | up api-local [new-store] | up web-local [new-api new-store] | drop | down api-local | down store-local"
	if got := strings.Join(p.calls, " | "); got != want || err == nil {
		t.Errorf("an up that fails and rolls back (%v):\ngot  %s\nwant %s", err, got, want)
	}
}
