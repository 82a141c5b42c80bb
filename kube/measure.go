package kube

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Timings summarises repeated measurements.
type Timings struct {
	N                     int
	Min, Median, P90, Max time.Duration
}

// MeasureExec runs `true` in pod n times, one after the other, and returns how long each
// exec took from start to exit: the floor under any sync into that pod (a sync is one such
// exec carrying a tar). `make bench` reports it beside the sync latency.
func (c *Client) MeasureExec(ctx context.Context, pod Pod, n int) (Timings, error) {
	if n <= 0 {
		return Timings{}, fmt.Errorf("measure exec: n = %d", n)
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := c.Exec(ctx, pod, []string{"true"}, Streams{}); err != nil {
			return Timings{}, fmt.Errorf("measure exec: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	return Summarize(ds), nil
}

// Summarize returns the minimum, median, 90th percentile (nearest rank) and maximum of ds.
func Summarize(ds []time.Duration) Timings {
	if len(ds) == 0 {
		return Timings{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	p90 := s[(len(s)*9+9)/10-1]
	return Timings{N: len(s), Min: s[0], Median: median, P90: p90, Max: s[len(s)-1]}
}
