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

// alarm is a loop's one Timer, armed for the earliest of its deadlines (the
// open batch's, a barrier's). It belongs to the loop goroutine.
type alarm struct {
	clock Clock
	timer Timer     // nil when not armed
	at    time.Time // when timer fires
}

// wait arms the alarm for t, or disarms it if ok is false, and returns the
// channel to select on (nil when disarmed). An alarm already armed for t or
// earlier is kept: at worst it fires early, and the loop, finding nothing due,
// calls wait again. Deadlines that move earlier (a new barrier, a shorter
// window after Update) re-arm it.
func (a *alarm) wait(now, t time.Time, ok bool) <-chan time.Time {
	if !ok {
		a.stop()
		return nil
	}
	if a.timer == nil || t.Before(a.at) {
		a.stop()
		a.timer, a.at = a.clock.NewTimer(t.Sub(now)), t
	}
	return a.timer.C()
}

// fired tells the alarm that its channel delivered.
func (a *alarm) fired() { a.timer = nil }

func (a *alarm) stop() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}
