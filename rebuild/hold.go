package rebuild

import (
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// reloadWait is how long batches wait for a reload that was said to be
// coming (evaluating a Petsfile takes milliseconds; loads from the network
// longer): after it they go ahead without it.
const reloadWait = 2 * time.Second

// holder decides when file changes wait for a Petsfile reload, so that a
// save-all or a checkout that touches the Petsfile and files restarts each
// service once, with the new configuration:
//
//   - expect: a Petsfile write began (its watcher's first event): batches
//     wait for its reload, for reloadWait at most;
//   - settle: a reload that arrived waits settle before it applies, so that
//     batches closing just after the Petsfile's (the rest of the burst)
//     join its round;
//   - stash: the batches held meanwhile. Those that came before a reload
//     round began join that round; those that came while it ran are taken
//     afterwards, minus the services the round restarted after the change.
//
// It is a plain value owned by the loop's goroutine; every method takes the
// time from the caller, so it is tested on any clock.
type holder struct {
	settle time.Duration

	queued       []*Reload // evaluated, waiting to be applied, in order
	expectUntil  time.Time // zero: no reload is expected
	settledAfter time.Time // zero: the queued reloads may apply
	running      int       // the number of the reload round running (0: none)
	stash        []stashed
	// last is the reload round that ended last, for release.
	last *Outcome
}

// stashed is a batch of changes held while a reload was due: round is the
// reload round running when it came (0: none had begun), begun the
// services whose step in that round had begun.
type stashed struct {
	c     Changes
	round int
	begun map[petsfile.Key]bool
}

// holding says whether batches must wait: a reload is queued, running or
// expected.
func (h *holder) holding() bool {
	return len(h.queued) > 0 || h.running != 0 || !h.expectUntil.IsZero()
}

// expect notes that a Petsfile write began at now.
func (h *holder) expect(now time.Time) {
	if h.expectUntil.IsZero() {
		h.expectUntil = now.Add(reloadWait)
	}
}

// arrived takes a reload (nil: the Petsfile changed but does not evaluate,
// and the batches held for it go on).
func (h *holder) arrived(r *Reload, now time.Time) {
	h.expectUntil = time.Time{}
	if r == nil {
		return
	}
	h.queued = append(h.queued, r)
	if h.settle > 0 && h.settledAfter.IsZero() {
		h.settledAfter = now.Add(h.settle)
	}
}

// closed says no reload will come any more.
func (h *holder) closed() { h.expectUntil = time.Time{} }

// tick lets the deadlines that have passed at now expire.
func (h *holder) tick(now time.Time) {
	if !h.expectUntil.IsZero() && !now.Before(h.expectUntil) {
		h.expectUntil = time.Time{}
	}
	if !h.settledAfter.IsZero() && !now.Before(h.settledAfter) {
		h.settledAfter = time.Time{}
	}
}

// deadline is the next time tick has something to do.
func (h *holder) deadline() (time.Time, bool) {
	var t time.Time
	for _, d := range []time.Time{h.expectUntil, h.settledAfter} {
		if !d.IsZero() && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t, !t.IsZero()
}

// due pops the reload that may apply now, if any.
func (h *holder) due() *Reload {
	if len(h.queued) == 0 || !h.settledAfter.IsZero() {
		return nil
	}
	r := h.queued[0]
	h.queued = h.queued[1:]
	return r
}

// hold stashes c, which came while holding; round and begun say how far the
// reload round running (if any) had got.
func (h *holder) hold(c Changes, begun map[petsfile.Key]bool) {
	h.stash = append(h.stash, stashed{c: c, round: h.running, begun: begun})
}

// join returns the held batches that join reload round n, which begins
// now: those that came before any reload round began.
func (h *holder) join(n int) []Changes {
	var out []Changes
	keep := h.stash[:0]
	for _, st := range h.stash {
		if st.round == 0 {
			out = append(out, st.c)
		} else {
			keep = append(keep, st)
		}
	}
	h.stash = keep
	h.running = n
	return out
}

// finished notes that the reload round running ended with o.
func (h *holder) finished(o Outcome) {
	h.running = 0
	h.last = &o
}

// release returns, once nothing holds any more, the held batches, each
// with the services it need not restart: the last reload round restarted
// them after the batch came (fresh).
func (h *holder) release() []releasedChanges {
	if h.holding() || len(h.stash) == 0 {
		return nil
	}
	restarted := map[petsfile.Key]bool{}
	if h.last != nil {
		for _, r := range h.last.Steps {
			// A sync sent only the files it was planned with: a later
			// edit still needs its own.
			if r.Result == "ok" && !r.Synced && r.Kind != "stop" {
				restarted[r.Key] = true
			}
		}
	}
	var out []releasedChanges
	for _, st := range h.stash {
		fresh := map[petsfile.Key]bool{}
		if h.last != nil && st.round != 0 && st.round <= h.last.N {
			for k := range restarted {
				if st.round < h.last.N || !st.begun[k] {
					fresh[k] = true
				}
			}
		}
		out = append(out, releasedChanges{c: st.c, fresh: fresh})
	}
	h.stash = nil
	return out
}

type releasedChanges struct {
	c     Changes
	fresh map[petsfile.Key]bool
}
