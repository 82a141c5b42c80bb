package watcher

import (
	"slices"
	"testing"
	"time"
)

// closeTimes runs events (ms offsets, ascending) through a debounce the way
// the loop does and returns when each batch closed and how many events it held.
func closeTimes(quiet, cap time.Duration, events []int) (closes []int, sizes []int) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d := debounce{quiet: quiet, cap: cap}
	n := 0
	flush := func(now time.Time) {
		if d.due(now) {
			dl, _ := d.deadline()
			closes = append(closes, int(dl.Sub(t0)/time.Millisecond))
			sizes = append(sizes, n)
			n = 0
			d.reset()
		}
	}
	for _, ms := range events {
		flush(at(ms))
		d.event(at(ms), true)
		n++
	}
	if dl, ok := d.deadline(); ok {
		flush(dl)
	}
	return closes, sizes
}

func TestDebounce(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name        string
		quiet, cap  time.Duration
		events      []int
		wantCloses  []int
		wantBatches []int
	}{
		{"one event closes after the quiet window", 30 * ms, time.Second, []int{0}, []int{30}, []int{1}},
		{"events inside the window extend it", 30 * ms, time.Second, []int{0, 20, 40, 69}, []int{99}, []int{4}},
		{"a gap of exactly the window splits", 30 * ms, time.Second, []int{0, 30}, []int{30, 60}, []int{1, 1}},
		{"a gap just under the window does not", 30 * ms, time.Second, []int{0, 29}, []int{59}, []int{2}},
		{"cap closes a steady stream", 30 * ms, 110 * ms,
			[]int{0, 20, 40, 60, 80, 100, 120, 140, 160, 180}, []int{110, 210}, []int{6, 4}},
		{"cap shorter than quiet", 50 * ms, 20 * ms, []int{0, 10, 30}, []int{20, 50}, []int{2, 1}},
		{"separate bursts", 30 * ms, time.Second, []int{0, 5, 10, 500, 505}, []int{40, 535}, []int{3, 2}},
		{"no events, no batch", 30 * ms, time.Second, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closes, sizes := closeTimes(tc.quiet, tc.cap, tc.events)
			if !slices.Equal(closes, tc.wantCloses) || !slices.Equal(sizes, tc.wantBatches) {
				t.Errorf("closed at %v with %v events, want at %v with %v", closes, sizes, tc.wantCloses, tc.wantBatches)
			}
		})
	}
}

func TestDebounceDue(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	d := debounce{quiet: 30 * time.Millisecond, cap: time.Second}
	if _, ok := d.deadline(); ok || d.due(t0) {
		t.Fatal("an empty debounce has a deadline")
	}
	d.event(t0, true)
	if d.due(t0.Add(29 * time.Millisecond)) {
		t.Error("due before the quiet window passed")
	}
	if !d.due(t0.Add(30 * time.Millisecond)) {
		t.Error("not due once the quiet window passed")
	}
	d.reset()
	if _, ok := d.deadline(); ok || d.quiet != 30*time.Millisecond || d.cap != time.Second {
		t.Errorf("reset left %+v", d)
	}
}

func TestDebounceWindowGrowsWithHeat(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name         string
		quiet, burst time.Duration
		paths        int // events that add heat (fresh paths), all at t0
		repeats      int // events that do not
		want         time.Duration
	}{
		{"one path: quiet", 10 * ms, 40 * ms, 1, 0, 10 * ms},
		{"the same path again: still quiet", 10 * ms, 40 * ms, 1, 5, 10 * ms},
		{"two paths: twice quiet", 10 * ms, 40 * ms, 2, 0, 20 * ms},
		{"three paths", 10 * ms, 40 * ms, 3, 3, 30 * ms},
		{"four paths reach burst", 10 * ms, 40 * ms, 4, 0, 40 * ms},
		{"and stay there", 10 * ms, 40 * ms, 2000, 0, 40 * ms},
		{"burst below quiet means quiet", 30 * ms, 0, 100, 0, 30 * ms},
		{"no paths (an overflow): quiet", 10 * ms, 40 * ms, 0, 1, 10 * ms},
		// A quiet window shorter than heatStep widens by heatStep.
		{"short quiet, one path", 3 * ms, 50 * ms, 1, 0, 3 * ms},
		{"short quiet, two paths: quiet + a step", 3 * ms, 50 * ms, 2, 0, 8 * ms},
		{"short quiet, five paths", 3 * ms, 50 * ms, 5, 0, 23 * ms},
		{"short quiet reaches burst", 3 * ms, 50 * ms, 11, 0, 50 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := debounce{quiet: tc.quiet, burst: tc.burst, cap: time.Hour}
			for range tc.paths {
				d.event(t0, true)
			}
			for range tc.repeats {
				d.event(t0, false)
			}
			if got, _ := d.deadline(); got.Sub(t0) != tc.want {
				t.Errorf("closes after %v, want %v", got.Sub(t0), tc.want)
			}
		})
	}
}

// TestDebounceRateGrownWindow feeds a stream of fresh paths 12 ms apart to
// a 10 ms quiet window: alone, each would be a batch. The first splits off;
// from the second on the heat of the first ones widens the window beyond the
// gaps, so the rest is one batch, closing burst after its last event.
// Seconds later a lone save gets the quiet window again.
func TestDebounceRateGrownWindow(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(1_700_000_000, 0)
	d := debounce{quiet: 10 * ms, burst: 40 * ms, cap: time.Hour}
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * ms) }
	events := []int{0} // a lone save
	for i := range 20 {
		events = append(events, 2000+12*i)
	}
	events = append(events, 5000) // another, long after
	var closes []time.Duration
	var sizes []int
	n := 0
	for _, e := range events {
		if dl, ok := d.deadline(); ok && !at(e).Before(dl) {
			closes, sizes = append(closes, dl.Sub(t0)), append(sizes, n)
			d.reset()
			n = 0
		}
		d.event(at(e), true)
		n++
	}
	dl, _ := d.deadline()
	closes, sizes = append(closes, dl.Sub(t0)), append(sizes, n)
	want := []time.Duration{10 * ms, 2010 * ms, (2000 + 12*19 + 40) * ms, 5010 * ms}
	if !slices.Equal(sizes, []int{1, 1, 19, 1}) || len(closes) != len(want) {
		t.Fatalf("batches of %v closing at %v, want batches of [1 1 19 1] closing at %v", sizes, closes, want)
	}
	for i := range want {
		// The heat of an event seconds ago is not quite zero.
		if diff := closes[i] - want[i]; diff < 0 || diff > 50*time.Microsecond {
			t.Errorf("batch %d closed at %v, want %v", i, closes[i], want[i])
		}
	}
}

func TestDebounceGit(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(1_700_000_000, 0)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * ms) }
	tests := []struct {
		name string
		git  gitStatus
		want time.Duration // when a batch of one event at t0 closes (quiet 10 ms, cap 1 s)
	}{
		{"no git", gitStatus{}, 10 * ms},
		{"a lock holds until it goes", gitStatus{lockedUntil: at(500)}, 500 * ms},
		{"but not past the cap", gitStatus{lockedUntil: at(5000)}, time.Second},
		{"a stale lock (seen a cap ago) no longer holds", gitStatus{lockedUntil: at(-1)}, 10 * ms},
		{"git activity counts as an event", gitStatus{active: at(7)}, 17 * ms},
		{"git activity long ago does not", gitStatus{active: at(-100)}, 10 * ms},
		{"a rebase under way: a gap of gitStateGrace after git's last event",
			gitStatus{active: at(7), state: true}, 7*ms + gitStateGrace},
		{"a rebase waiting for the user (git idle) holds nothing",
			gitStatus{active: at(-1000), state: true}, 10 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := debounce{quiet: 10 * ms, burst: 40 * ms, cap: time.Second, git: tc.git}
			d.event(t0, true)
			if got, _ := d.deadline(); got.Sub(t0) != tc.want {
				t.Errorf("closes after %v, want %v", got.Sub(t0), tc.want)
			}
		})
	}
	// What git says outlives the batch.
	d := debounce{quiet: 10 * ms, cap: time.Second, git: gitStatus{state: true}}
	d.event(t0, true)
	d.reset()
	if !d.git.state {
		t.Error("reset forgot the git status")
	}
	if _, ok := d.deadline(); ok {
		t.Error("git status alone opened a batch")
	}
}
