package rebuild

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// orderRunner records, for each Up, when it began and when it returned
// (on one counter), and how many ran at once at most.
type orderRunner struct {
	mu        sync.Mutex
	clock     int
	began     map[petsfile.Key]int
	returned  map[petsfile.Key]int
	running   int
	most      int
	delay     func(petsfile.Key) time.Duration // simulated work
	fail      map[petsfile.Key]bool
	together  int           // if > 0, Up waits until this many run at once (or gives up)
	allIn     chan struct{} // closed when together have entered
	allInOnce sync.Once
}

var _ Runner = (*orderRunner)(nil)

func (o *orderRunner) Check(context.Context, petsfile.Key) (petsfile.Value, Health) {
	return petsfile.Value{}, Absent
}
func (o *orderRunner) Alive(context.Context, petsfile.Key) (bool, string) { return true, "" }
func (o *orderRunner) Build(context.Context, petsfile.Key) error          { return nil }
func (o *orderRunner) Down(context.Context, petsfile.Key) error           { return nil }

func (o *orderRunner) Up(ctx context.Context, k petsfile.Key, _ []petsfile.Value) (petsfile.Value, error) {
	o.mu.Lock()
	o.clock++
	o.began[k] = o.clock
	o.running++
	o.most = max(o.most, o.running)
	if o.together > 0 && o.running == o.together {
		o.allInOnce.Do(func() { close(o.allIn) })
	}
	o.mu.Unlock()
	if o.together > 0 {
		select {
		case <-o.allIn:
		case <-time.After(5 * time.Second): // they do not all run at once: give up (the test then fails)
		}
	}
	if o.delay != nil {
		time.Sleep(o.delay(k)) // the service's own start-up work, simulated
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	o.clock++
	o.returned[k] = o.clock
	if o.fail[k] {
		return petsfile.Value{}, errors.New("boom")
	}
	return petsfile.Value{Hostname: k.Name}, nil
}

func newOrderRunner() *orderRunner {
	return &orderRunner{began: map[petsfile.Key]int{}, returned: map[petsfile.Key]int{}, fail: map[petsfile.Key]bool{}, allIn: make(chan struct{})}
}

// independent is a graph of n services that depend on nothing.
func independent(n int) *petsfile.Graph {
	g := &petsfile.Graph{Deps: map[petsfile.Key][]petsfile.Key{}}
	for i := 0; i < n; i++ {
		k := key(fmt.Sprintf("s%02d", i))
		g.Order = append(g.Order, k)
		g.Deps[k] = nil
	}
	return g
}

func startAll(g *petsfile.Graph) Plan {
	start := map[petsfile.Key]string{}
	for _, k := range g.Order {
		start[k] = "requested"
	}
	return Decide(Input{Graph: g, Start: start})
}

func TestExecutorStartsIndependentServicesSideBySide(t *testing.T) {
	g := independent(8)
	o := newOrderRunner()
	o.together = 8
	x := &Executor{Graph: g, Runner: o, KeepGoing: true}
	out := x.Run(context.Background(), 0, startAll(g), map[petsfile.Key]petsfile.Value{})
	if o.most != 8 {
		t.Errorf("at most %d started at once; want all 8", o.most)
	}
	for _, s := range out.Steps {
		if s.Result != events.ResultOK {
			t.Errorf("%s: %s", s.Key, s.Result)
		}
	}
}

func TestExecutorOneAtATime(t *testing.T) {
	g := independent(6)
	o := newOrderRunner()
	x := &Executor{Graph: g, Runner: o, KeepGoing: true, Parallel: 1}
	x.Run(context.Background(), 0, startAll(g), map[petsfile.Key]petsfile.Value{})
	if o.most != 1 {
		t.Errorf("%d ran at once with Parallel 1", o.most)
	}
	// And in plan order.
	for i := 1; i < len(g.Order); i++ {
		if o.began[g.Order[i]] < o.returned[g.Order[i-1]] {
			t.Errorf("%s began before %s returned", g.Order[i], g.Order[i-1])
		}
	}
}

// With random start times, a service never begins before every service it
// depends on is ready, and a failure skips exactly what depends on it.
func TestExecutorKeepsDependencyOrderWithRandomDelays(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		g := &petsfile.Graph{Deps: map[petsfile.Key][]petsfile.Key{}}
		for i := 0; i < 25; i++ {
			k := key(fmt.Sprintf("s%02d", i))
			var deps []petsfile.Key
			for j := 0; j < i; j++ {
				if rng.Intn(6) == 0 {
					deps = append(deps, g.Order[j])
				}
			}
			g.Order = append(g.Order, k)
			g.Deps[k] = deps
		}
		o := newOrderRunner()
		delays := map[petsfile.Key]time.Duration{}
		for _, k := range g.Order {
			delays[k] = time.Duration(rng.Intn(3000)) * time.Microsecond
		}
		failing := g.Order[rng.Intn(len(g.Order))]
		o.fail[failing] = true
		o.delay = func(k petsfile.Key) time.Duration { return delays[k] }
		x := &Executor{Graph: g, Runner: o, KeepGoing: true}
		out := x.Run(context.Background(), 0, startAll(g), map[petsfile.Key]petsfile.Value{})
		failedOrSkipped := map[petsfile.Key]bool{failing: true}
		for _, k := range g.Order {
			for _, d := range g.Deps[k] {
				if failedOrSkipped[d] {
					failedOrSkipped[k] = true
				}
			}
		}
		for i, s := range out.Steps {
			k := s.Key
			switch {
			case k == failing:
				if s.Result != events.ResultFailed {
					t.Errorf("seed %d: %s (failing) is %s", seed, k, s.Result)
				}
			case failedOrSkipped[k]:
				if s.Result != events.ResultSkipped || o.began[k] != 0 {
					t.Errorf("seed %d: %s depends on the failed %s: %s, began %d", seed, k, failing, s.Result, o.began[k])
				}
			default:
				if s.Result != events.ResultOK {
					t.Errorf("seed %d: %s: %s", seed, k, s.Result)
				}
				for _, d := range g.Deps[k] {
					if o.began[k] < o.returned[d] {
						t.Errorf("seed %d: %s began (%d) before its dependency %s was ready (%d)", seed, k, o.began[k], d, o.returned[d])
					}
				}
			}
			_ = i
		}
		if o.most < 2 {
			t.Errorf("seed %d: never more than one at once", seed)
		}
	}
}

// slowStamps is Stamps whose keep of first waits (up to a deadline) until
// the runner has begun starting next: a stamp is recorded while the
// dependents start, not before them.
type slowStamps struct {
	first     petsfile.Key
	nextBegan <-chan struct{}
	mu        sync.Mutex
	kept      []petsfile.Key
	overlap   bool // first's keep saw next begin
}

func (s *slowStamps) Take(k petsfile.Key, _ []string, _ bool) func() {
	return func() {
		if k == s.first {
			select {
			case <-s.nextBegan:
				s.mu.Lock()
				s.overlap = true
				s.mu.Unlock()
			case <-time.After(5 * time.Second):
			}
		}
		time.Sleep(20 * time.Millisecond) // the record's write, simulated
		s.mu.Lock()
		s.kept = append(s.kept, k)
		s.mu.Unlock()
	}
}
func (s *slowStamps) Drift(context.Context, petsfile.Key) ([]string, bool, error) {
	return nil, true, nil
}
func (s *slowStamps) Pods(petsfile.Key, []string) {}
func (s *slowStamps) Known(petsfile.Key) bool     { return true }

// beganRunner is orderRunner that closes began when k's Up begins.
type beganRunner struct {
	*orderRunner
	k     petsfile.Key
	began chan struct{}
}

func (b *beganRunner) Up(ctx context.Context, k petsfile.Key, deps []petsfile.Value) (petsfile.Value, error) {
	if k == b.k {
		close(b.began)
	}
	return b.orderRunner.Up(ctx, k, deps)
}

func TestExecutorRecordsAStampWhileTheDependentsStart(t *testing.T) {
	a, b := key("a"), key("b")
	g := &petsfile.Graph{Order: []petsfile.Key{a, b}, Deps: map[petsfile.Key][]petsfile.Key{a: nil, b: {a}}}
	r := &beganRunner{orderRunner: newOrderRunner(), k: b, began: make(chan struct{})}
	st := &slowStamps{first: a, nextBegan: r.began}
	x := &Executor{Graph: g, Runner: r, Stamps: st}
	out := x.Run(context.Background(), 1, startAll(g), map[petsfile.Key]petsfile.Value{})
	if f := out.Failed(); len(f) > 0 {
		t.Fatalf("failed: %+v", f)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.overlap {
		t.Error("b began only once a's stamp was recorded; want it started meanwhile")
	}
	// Run returns once every stamp is recorded: the round's end counts them.
	if len(st.kept) != 2 {
		t.Errorf("recorded %v when Run returned; want a and b", st.kept)
	}
}

// recordedRunner is orderRunner with a state record: recorded says which
// services it holds (pets down removed the others).
type recordedRunner struct {
	*orderRunner
	recorded map[petsfile.Key]bool
}

func (r *recordedRunner) Recorded(keys ...petsfile.Key) map[petsfile.Key]bool {
	out := map[petsfile.Key]bool{}
	for _, k := range keys {
		out[k] = r.recorded[k]
	}
	return out
}

// A step for a service that ran when its round began skips it if it is no
// longer recorded when its turn comes (pets down stopped it meanwhile), and
// what needs it says it did not run; a step for a service that was not
// running (pets restart of one pets down stopped before) starts it.
func TestExecutorLeavesAServiceStoppedMeanwhileStopped(t *testing.T) {
	a, b, c, d := key("a"), key("b"), key("c"), key("d")
	g := &petsfile.Graph{Order: []petsfile.Key{a, b, c, d}, Deps: map[petsfile.Key][]petsfile.Key{b: {a}, c: {b}}}
	o := &recordedRunner{orderRunner: newOrderRunner(), recorded: map[petsfile.Key]bool{a: true}}
	plan := Plan{Steps: []Step{
		{Kind: events.StepRestart, Key: a, Running: true},
		{Kind: events.StepBounce, Key: b, After: []int{0}, Needs: []int{0}, Running: true},
		{Kind: events.StepBounce, Key: c, After: []int{1}, Needs: []int{1}, Running: true},
		{Kind: events.StepRestart, Key: d},
	}}
	out := (&Executor{Graph: g, Runner: o, KeepGoing: true}).Run(context.Background(), 1, plan, map[petsfile.Key]petsfile.Value{})
	got := map[petsfile.Key]string{}
	for _, s := range out.Steps {
		got[s.Key] = string(s.Result) + " " + s.Skipped
	}
	want := map[petsfile.Key]string{
		a: string(events.ResultOK) + " ",
		b: string(events.ResultSkipped) + " stopped meanwhile by pets down",
		c: string(events.ResultSkipped) + " b-local did not run",
		d: string(events.ResultOK) + " ",
	}
	for _, k := range g.Order {
		if got[k] != want[k] {
			t.Errorf("%s: %q, want %q", k, got[k], want[k])
		}
	}
	if o.began[b] != 0 || o.began[c] != 0 {
		t.Errorf("started after pets down: b %d, c %d", o.began[b], o.began[c])
	}
}

// stoppingRunner is orderRunner as a Gater: its UpAfter says it is stopping
// the old instance (stopping), then waits for the gate, and notes what
// the executor had done for the step by then (seen).
type stoppingRunner struct {
	*orderRunner
	stopping chan struct{}
	passed   chan struct{} // UpAfter is past the gate
	mu       sync.Mutex
	took     bool // the step's stamp was taken
	starting bool // the step was said to start
	seen     []string
}

func (g *stoppingRunner) UpAfter(ctx context.Context, k petsfile.Key, deps []petsfile.Value, gate <-chan struct{}) (petsfile.Value, error) {
	close(g.stopping)
	<-gate
	g.mu.Lock()
	g.seen = append(g.seen, fmt.Sprintf("took %v, starting %v", g.took, g.starting))
	g.mu.Unlock()
	close(g.passed)
	return g.orderRunner.Up(ctx, k, deps)
}

// stoppingStamps is Stamps whose Take waits (up to a deadline) until the
// runner is stopping the old instance, then gives the runner a moment to
// pass its gate, as it must not before Take is over.
type stoppingStamps struct {
	r       *stoppingRunner
	overlap bool
}

func (s *stoppingStamps) Take(petsfile.Key, []string, bool) func() {
	select {
	case <-s.r.stopping:
		s.overlap = true
	case <-time.After(5 * time.Second):
	}
	select {
	case <-s.r.passed: // too early: seen says so
	case <-time.After(200 * time.Millisecond):
	}
	s.r.mu.Lock()
	s.r.took = true
	s.r.mu.Unlock()
	return func() {}
}
func (s *stoppingStamps) Drift(context.Context, petsfile.Key) ([]string, bool, error) {
	return nil, true, nil
}
func (s *stoppingStamps) Pods(petsfile.Key, []string) {}
func (s *stoppingStamps) Known(petsfile.Key) bool     { return true }

// A runner that can stop the old instance first (Gater) does so while the
// executor notes what the step starts from and says it starts; it starts
// the new one only once both are done.
func TestExecutorStampsWhileTheOldInstanceStops(t *testing.T) {
	a := key("a")
	g := &petsfile.Graph{Order: []petsfile.Key{a}, Deps: map[petsfile.Key][]petsfile.Key{}}
	r := &stoppingRunner{orderRunner: newOrderRunner(), stopping: make(chan struct{}), passed: make(chan struct{})}
	st := &stoppingStamps{r: r}
	sink := events.SinkFunc(func(e events.Event) {
		if e.Type == events.ServiceStarting {
			r.mu.Lock()
			r.starting = true
			r.mu.Unlock()
		}
	})
	x := &Executor{Graph: g, Runner: r, Stamps: st, Events: sink}
	out := x.Run(context.Background(), 1, startAll(g), map[petsfile.Key]petsfile.Value{})
	if f := out.Failed(); len(f) > 0 {
		t.Fatalf("failed: %+v", f)
	}
	if !st.overlap {
		t.Error("the stamp was taken before the runner began; want it taken while the old instance stops")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []string{"took true, starting true"}; !slices.Equal(r.seen, want) {
		t.Errorf("past the gate: %v; want %v", r.seen, want)
	}
}
