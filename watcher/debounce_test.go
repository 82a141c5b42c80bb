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
		d.event(at(ms))
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
	d.event(t0)
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
