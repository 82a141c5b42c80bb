package watcher

import "time"

// Clock is the time source of the debounce. Tests inject a fake one; nil in
// Options means the real clock.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the watcher uses.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// debounce decides when the open batch closes: after quiet has passed with no
// event, or once the batch is cap old, whichever comes first. It is a pure value;
// the loop feeds it times from its Clock.
type debounce struct {
	quiet, cap  time.Duration
	open        bool
	first, last time.Time
}

// event records an event at now, opening a batch if none is open.
func (d *debounce) event(now time.Time) {
	if !d.open {
		d.open = true
		d.first = now
	}
	d.last = now
}

// deadline is when the open batch closes. ok is false if no batch is open.
func (d *debounce) deadline() (t time.Time, ok bool) {
	if !d.open {
		return time.Time{}, false
	}
	q := d.last.Add(d.quiet)
	c := d.first.Add(d.cap)
	if c.Before(q) {
		return c, true
	}
	return q, true
}

// due reports whether the open batch should be handed out at now.
func (d *debounce) due(now time.Time) bool {
	t, ok := d.deadline()
	return ok && !now.Before(t)
}

// reset closes the batch after it was handed out.
func (d *debounce) reset() { *d = debounce{quiet: d.quiet, cap: d.cap} }
