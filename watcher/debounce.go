package watcher

import (
	"math"
	"os"
	"time"
)

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

// debounce decides when the open batch closes. It is a pure value; the loop
// feeds it times from its Clock, and what git is doing (gitStatus).
//
// A batch closes once it has been quiet for its window, or once it is cap
// old, whichever comes first. The window grows with the rate at which
// distinct files change: each event of a path that did not change in the
// last four half-lives (see recency) adds one to a heat that halves every
// halfLife, across batches, and the window is quiet plus heatStep (or
// quiet, if longer) for every unit of heat above one, up to burst. A lone save, or one file saved
// over and over, closes after quiet; a burst (a formatter, a save-all, a
// build writing into the tree), or a stream that split once, gets a window
// that outlasts the pauses of a busy machine. While git holds the index lock the batch stays open (up to
// the cap, and up to a cap after the lock was first seen, so that a stale
// lock stops holding); events in the git directory count as activity, and
// while a merge, rebase, cherry-pick or revert is under way a gap of up to
// gitStateGrace after git's last event there does not close the batch either.
type debounce struct {
	quiet, burst, cap time.Duration
	halfLife          time.Duration // of heat; 0 = heatHalfLife
	stateGrace        time.Duration // 0 = gitStateGrace
	open              bool
	first, last       time.Time
	// heat counts the new paths of late, each weighing 1 when it came and
	// half as much every halfLife since, as of heatAt (the last event).
	heat   float64
	heatAt time.Time
	// settleUntil: when the batch was due, one of its paths looked half
	// saved (see halfSaved); it waits until then for the save to end,
	// unless another event comes first.
	settleUntil time.Time
	git         gitStatus
}

// heatHalfLife is how fast the window forgets a burst. Chosen by
// measurement: see the package doc.
const heatHalfLife = 250 * time.Millisecond

// heatStep is how much each unit of heat widens the window (at least the
// quiet window itself): with it the window grows with a burst as fast
// as it did when the quiet window was 5 ms, however short that is now.
// See the package doc.
const heatStep = 5 * time.Millisecond

// gitStatus is what the git directories of the watched trees say, as the
// loop last saw it.
type gitStatus struct {
	// lockedUntil: an index.lock is present, and holds batches until then
	// (a cap after it was first seen). Zero: no lock.
	lockedUntil time.Time
	// active is when the last event in a git directory came (zero: none).
	active time.Time
	// state: a merge, rebase, cherry-pick or revert is under way.
	state bool
}

// gitStateGrace is how long after git's last event in its directory a batch
// stays open while a merge, rebase, cherry-pick or revert is under way
// (between the steps of a rebase, say). Chosen by measurement: see the
// package doc.
const gitStateGrace = 100 * time.Millisecond

// event records an event at now, opening a batch if none is open. fresh
// says it adds heat: its path did not change lately (see recency).
func (d *debounce) event(now time.Time, fresh bool) {
	if !d.open {
		d.open = true
		d.first = now
	}
	d.last = now
	d.settleUntil = time.Time{}
	if !d.heatAt.IsZero() && now.After(d.heatAt) {
		hl := d.halfLife
		if hl <= 0 {
			hl = heatHalfLife
		}
		d.heat *= math.Exp2(-float64(now.Sub(d.heatAt)) / float64(hl))
	}
	d.heatAt = now
	if fresh {
		d.heat = min(d.heat+1, d.maxHeat())
	}
}

// memory is how long a path's change keeps its next change from adding
// heat: four half-lives, after which its heat is a sixteenth.
func (d *debounce) memory() time.Duration {
	hl := d.halfLife
	if hl <= 0 {
		hl = heatHalfLife
	}
	return 4 * hl
}

// maxHeat is the heat at which the window reaches burst: more would only
// take longer to forget.
func (d *debounce) maxHeat() float64 {
	if d.quiet <= 0 || d.burst <= d.quiet {
		return 1
	}
	return 1 + float64(d.burst-d.quiet)/float64(d.step())
}

// step is what each unit of heat above one adds to the window.
func (d *debounce) step() time.Duration { return max(d.quiet, heatStep) }

// window is the quiet window of the open batch: quiet plus a step for
// every unit of heat above one, at most burst.
func (d *debounce) window() time.Duration {
	w := d.quiet
	if d.heat > 1 {
		w += time.Duration((d.heat - 1) * float64(d.step()))
	}
	return min(w, max(d.burst, d.quiet))
}

// deadline is when the open batch closes. ok is false if no batch is open.
func (d *debounce) deadline() (t time.Time, ok bool) {
	if !d.open {
		return time.Time{}, false
	}
	w := d.window()
	q := d.last.Add(w)
	if !d.git.active.IsZero() {
		grace := w
		if d.git.state {
			sg := d.stateGrace
			if sg <= 0 {
				sg = gitStateGrace
			}
			grace = max(grace, sg)
		}
		if a := d.git.active.Add(grace); a.After(q) {
			q = a
		}
	}
	if d.settleUntil.After(q) {
		q = d.settleUntil
	}
	if d.git.lockedUntil.After(q) {
		q = d.git.lockedUntil
	}
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

// settle is called when the batch is due at now but looks half saved: it
// keeps the batch open until burst after its last event (the cap still
// applies), unless it did so already since that event. It reports whether
// the batch is no longer due.
func (d *debounce) settle(now time.Time) bool {
	if !d.settleUntil.IsZero() {
		return false
	}
	d.settleUntil = d.last.Add(max(d.burst, d.quiet))
	return !d.due(now)
}

// reset closes the batch after it was handed out; the heat and what git is
// doing stay.
func (d *debounce) reset() {
	*d = debounce{quiet: d.quiet, burst: d.burst, cap: d.cap, halfLife: d.halfLife, stateGrace: d.stateGrace,
		heat: d.heat, heatAt: d.heatAt, git: d.git}
}

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

// maxHalfSavedCheck bounds the batches halfSaved looks at: a save is a path
// or a few, and a burst's window is wide anyway.
const maxHalfSavedCheck = 16

// halfSaved reports whether a path of a small batch looks like a save
// caught halfway, as a short window can catch one when the saving program
// stalls: missing (vim, emacs and JetBrains rename the file away before
// writing the new one) or an empty file (truncated, not yet written). Then
// the batch waits, once, for a burst window (debounce.settle), so that the
// save is one change and no restart sees the file missing or empty. A file
// really removed, or really empty, waits the same and then goes.
func halfSaved(pending map[string]bool) bool {
	if len(pending) > maxHalfSavedCheck {
		return false
	}
	for p := range pending {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode().IsRegular() && fi.Size() == 0 {
			return true
		}
	}
	return false
}

// recency remembers when each path last changed, so that only the change of
// a path that did not change lately adds heat: one file saved over and over
// (or written in many pieces) is no burst; many files changing are. It
// belongs to its loop's goroutine.
type recency map[string]time.Time

// fresh notes that p changed at now and reports whether it had not changed
// within memory before.
func (r recency) fresh(p string, now time.Time, memory time.Duration) bool {
	t, ok := r[p]
	r[p] = now
	return !ok || now.Sub(t) >= memory
}

// forget drops the paths that changed longer than memory ago.
func (r recency) forget(now time.Time, memory time.Duration) {
	for p, t := range r {
		if now.Sub(t) >= memory {
			delete(r, p)
		}
	}
}
