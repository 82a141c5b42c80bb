package rebuild

import (
	"fmt"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// The holder is driven by the times its caller gives it: these tests walk a
// clock by hand.

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestHolderExpectHoldsUntilTheReloadOrTwoSeconds(t *testing.T) {
	h := &holder{}
	if h.holding() {
		t.Fatal("holding before anything happened")
	}
	h.expect(at(0))
	h.expect(at(500)) // a second write of the same burst does not extend it
	if d, ok := h.deadline(); !ok || !d.Equal(at(2000)) {
		t.Errorf("deadline = %v %v, want 2s after the first write", d, ok)
	}
	h.hold(Changes{Paths: []string{"/a"}}, nil)
	h.tick(at(1999))
	if !h.holding() || h.release() != nil {
		t.Fatal("released before the two seconds were up")
	}
	h.tick(at(2000))
	if h.holding() {
		t.Fatal("still holding after two seconds with no reload")
	}
	rel := h.release()
	if len(rel) != 1 || rel[0].c.Paths[0] != "/a" || len(rel[0].fresh) != 0 {
		t.Errorf("released %+v", rel)
	}
	if h.release() != nil {
		t.Error("released twice")
	}
}

func TestHolderRefusedReloadReleases(t *testing.T) {
	h := &holder{}
	h.expect(at(0))
	h.hold(Changes{Paths: []string{"/a"}}, nil)
	h.arrived(nil, at(10)) // the Petsfile does not evaluate
	if h.holding() {
		t.Fatal("holding after a refused reload")
	}
	if rel := h.release(); len(rel) != 1 {
		t.Errorf("released %d batches, want 1", len(rel))
	}
}

func TestHolderSettlesBeforeApplying(t *testing.T) {
	h := &holder{settle: 40 * time.Millisecond}
	r1, r2 := &Reload{}, &Reload{}
	h.expect(at(0))
	h.arrived(r1, at(5))
	h.arrived(r2, at(20)) // queued; the settle window does not restart
	if h.due() != nil {
		t.Fatal("a reload is due before it settled")
	}
	if d, ok := h.deadline(); !ok || !d.Equal(at(45)) {
		t.Errorf("deadline %v, want the end of the settle window", d)
	}
	h.tick(at(44))
	if h.due() != nil {
		t.Fatal("due 1ms early")
	}
	h.tick(at(45))
	if got := h.due(); got != r1 {
		t.Fatal("first due is not the first reload")
	}
	if got := h.due(); got != r2 {
		t.Fatal("second due is not the second reload")
	}
	if h.due() != nil || h.holding() {
		t.Fatal("more than two reloads")
	}
}

// Batches held before a reload round joins it; those during its round are
// released after it, minus the services it restarted after they came.
func TestHolderJoinAndFresh(t *testing.T) {
	h := &holder{}
	h.arrived(&Reload{}, at(0))
	h.hold(Changes{Paths: []string{"/before"}}, nil)
	if h.due() == nil {
		t.Fatal("no reload due")
	}
	joined := h.join(3)
	if len(joined) != 1 || joined[0].Paths[0] != "/before" {
		t.Fatalf("joined %+v", joined)
	}
	// During round 3: api's step had begun when the first batch came, web's
	// had not.
	h.hold(Changes{Paths: []string{"/during-1"}}, map[petsfile.Key]bool{key("api"): true})
	h.hold(Changes{Paths: []string{"/during-2"}}, map[petsfile.Key]bool{key("api"): true, key("web"): true})
	if !h.holding() || h.release() != nil {
		t.Fatal("released while the reload round runs")
	}
	h.finished(Outcome{N: 3, Steps: []StepResult{
		{Step: Step{Key: key("api"), Kind: events.StepRestart}, Result: events.ResultOK},
		{Step: Step{Key: key("web"), Kind: events.StepBounce}, Result: events.ResultOK},
		{Step: Step{Key: key("img"), Kind: events.StepSync}, Result: events.ResultOK, Synced: true},
		{Step: Step{Key: key("db"), Kind: events.StepRestart}, Result: events.ResultFailed},
	}})
	rel := h.release()
	var got []string
	for _, r := range rel {
		got = append(got, fmt.Sprintf("%s fresh=%v", r.c.Paths[0], keysOf(r.fresh)))
	}
	// A sync sends only its planned files, a failure restarted nothing:
	// neither covers a later change.
	want := "[/during-1 fresh=[web] /during-2 fresh=[]]"
	if fmt.Sprint(got) != want {
		t.Errorf("released %v\nwant     %s", got, want)
	}
}

func keysOf(m map[petsfile.Key]bool) []string {
	var out []string
	for _, k := range []string{"api", "web", "img", "db"} {
		if m[key(k)] {
			out = append(out, k)
		}
	}
	return out
}

func TestHolderClosedStopsExpecting(t *testing.T) {
	h := &holder{}
	h.expect(at(0))
	h.closed()
	if h.holding() {
		t.Error("still expecting a reload after the reloads ended")
	}
	if _, ok := h.deadline(); ok {
		t.Error("a deadline with nothing to wait for")
	}
}
