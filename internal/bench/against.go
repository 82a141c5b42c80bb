package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// against measures one group of figures (-only) for two pets binaries in
// interleaved runs: pairs pairs, the first of each pair this binary and
// the other in turn, so that both see the same hours of a shared machine.
// It prints each figure's median in every run, the mean of those medians
// on each side, and in how many pairs this binary was the faster: where
// the spread between pairs is larger than a difference, the pairs say so
// (make bench-ab: the other binary built from another commit).
func (b *bench) against(other string, pairs int) error {
	measure, ok := b.alone()[b.only]
	if !ok {
		return fmt.Errorf("-only %s: no such figure (see -help)", b.only)
	}
	this := b.pets
	that, err := filepath.Abs(other)
	if err != nil {
		return err
	}
	runs := map[string][][]row{}
	for i := 0; i < pairs; i++ {
		order := []string{this, that}
		if i%2 == 1 {
			order = []string{that, this}
		}
		for _, bin := range order {
			fmt.Fprintf(os.Stderr, "pair %d of %d: %s\n", i+1, pairs, bin)
			b.rows, b.pets = nil, bin
			if err := measure(); err != nil {
				return err
			}
			runs[bin] = append(runs[bin], b.rows)
		}
	}
	b.pets = this
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FIGURE (median of each run, ms)\tTHIS: %s\tAGAINST: %s\tTHIS FASTER\tEACH PAIR (this / against)\n", this, that)
	for _, s := range compare(runs[this], runs[that]) {
		var each []string
		for i := range s.this {
			each = append(each, fmt.Sprintf("%.1f / %.1f", s.this[i], s.that[i]))
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%d of %d\t%s\n", s.figure, mean(s.this), mean(s.that), s.faster, len(s.this), strings.Join(each, ", "))
	}
	tw.Flush()
	fmt.Printf("(-only %s, %d samples per latency, %d interleaved pairs)\n", b.only, b.n, pairs)
	return nil
}

// comparison is one figure's medians over the runs of both binaries.
type comparison struct {
	figure string
	this   []float64 // the median of each run, ms
	that   []float64
	faster int // pairs in which this binary's median was lower
}

// medianRE finds the median a row's value gives ("median 16.0 ms, p90 ...",
// "median 121.4 ms of 3").
var medianRE = regexp.MustCompile(`^median ([0-9.]+) ms`)

// compare pairs the figures of this binary's runs with the other's, run i
// with run i, by figure name, keeping those that give a median in every
// run (and not the same medians as the figure before), in the order of
// the first run.
func compare(this, that [][]row) []comparison {
	medians := func(runs [][]row, figure string) ([]float64, bool) {
		var out []float64
		for _, rows := range runs {
			found := false
			for _, r := range rows {
				if r.figure != figure {
					continue
				}
				m := medianRE.FindStringSubmatch(r.value)
				if m == nil {
					return nil, false
				}
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					return nil, false
				}
				out, found = append(out, v), true
				break
			}
			if !found {
				return nil, false
			}
		}
		return out, true
	}
	if len(this) == 0 || len(this) != len(that) {
		return nil
	}
	var out []comparison
	for _, r := range this[0] {
		a, ok := medians(this, r.figure)
		if !ok {
			continue
		}
		b, ok := medians(that, r.figure)
		if !ok {
			continue
		}
		if n := len(out); n > 0 && slices.Equal(out[n-1].this, a) && slices.Equal(out[n-1].that, b) {
			continue // the same samples against another floor (the chain's bounds)
		}
		c := comparison{figure: r.figure, this: a, that: b}
		for i := range a {
			if a[i] < b[i] {
				c.faster++
			}
		}
		out = append(out, c)
	}
	return out
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
