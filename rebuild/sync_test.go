package rebuild

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// fakeSyncer records syncs and changes in calls, deploys and seeds in
// lifecycle.
type fakeSyncer struct {
	fail      bool
	calls     []string
	lifecycle []string
}

var _ Syncer = (*fakeSyncer)(nil)

func (f *fakeSyncer) Sync(_ context.Context, k petsfile.Key, files []RuleFiles) (SyncReport, error) {
	var paths []string
	for _, rf := range files {
		paths = append(paths, rf.Paths...)
	}
	f.calls = append(f.calls, fmt.Sprintf("%s%v", k.Name, paths))
	if f.fail {
		return SyncReport{}, errors.New("no tar in the image")
	}
	return SyncReport{Files: len(paths), Pods: []string{"ns/pod-1"}}, nil
}

func (f *fakeSyncer) Changed(k petsfile.Key, paths []string) {
	f.calls = append(f.calls, fmt.Sprintf("changed %s%v", k.Name, paths))
}

func (f *fakeSyncer) Deployed(k petsfile.Key) {
	f.lifecycle = append(f.lifecycle, "deployed "+k.Name)
}

func (f *fakeSyncer) Seed(_ context.Context, k petsfile.Key, files []RuleFiles) (SyncReport, error) {
	f.lifecycle = append(f.lifecycle, fmt.Sprintf("seed %s %d rules", k.Name, len(files)))
	return SyncReport{Files: 3, Pods: []string{"ns/pod-1"}}, nil
}

func (f *fakeSyncer) Holding(k petsfile.Key, rules []petsfile.SyncRule) []string {
	return []string{k.Name + " holds"}
}

func (f *fakeSyncer) Unseeded(context.Context, petsfile.Key, []petsfile.SyncRule) ([]string, error) {
	return nil, nil
}

func (f *fakeSyncer) Follow(ctx context.Context, k petsfile.Key, _ []petsfile.SyncRule, _ func(SyncReport, error)) error {
	<-ctx.Done()
	return nil
}

// syncSummary says what a finished round did to each service.
func syncSummary(r events.Event) string {
	s := ""
	for _, res := range r.Steps {
		name, _, _ := strings.Cut(res.Service, "-")
		switch {
		case res.Kind == events.StepSync:
			s += name + "(synced) "
		case res.Fallback != "":
			s += name + "(restarted: " + res.Fallback + ") "
		case res.Kind == events.StepBounce:
			s += name + "(bounced) "
		default:
			s += name + " "
		}
	}
	return s
}

func TestLoopSyncsCoveredChangesAndFallsBack(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	s := syncAPI(l)
	defer runLoop(t, l)()

	// Wholly covered: synced, not restarted; its dependent is bounced.
	changes <- Changes{Paths: []string{"/r/api/static/a.css", "/r/api/static/b.css"}}
	if got := syncSummary(<-rounds); got != "api(synced) web(bounced) " {
		t.Errorf("covered change: %s", got)
	}
	if got := f.takeCalls(); got != "web[api0 store0]" {
		t.Errorf("runner calls = %s (api must not restart)", got)
	}
	// One path outside the rules: a full restart, saying why.
	changes <- Changes{Paths: []string{"/r/api/static/c.css", "/r/api/main.go"}}
	if got := syncSummary(<-rounds); got != "api(restarted: a change outside its sync rules) web(bounced) " {
		t.Errorf("uncovered change: %s", got)
	}
	// A failed sync falls back to a restart with the reason.
	s.fail = true
	changes <- Changes{Paths: []string{"/r/api/static/d.css"}}
	if got := syncSummary(<-rounds); got != "api(restarted: sync failed: no tar in the image) web(bounced) " {
		t.Errorf("failed sync: %s", got)
	}
	// Lost events: no sync attempted.
	s.fail = false
	n := len(s.calls)
	changes <- Changes{All: true}
	<-rounds
	if len(s.calls) != n {
		t.Errorf("synced after lost events: %v", s.calls[n:])
	}
}

func TestLoopRestartsAFailedServiceInsteadOfSyncingIt(t *testing.T) {
	f := &loopRunner{}
	changes, rounds := make(chan Changes), make(chan events.Event, 10)
	l := diamondLoop(f, changes, rounds)
	s := syncAPI(l)
	l.Down = map[petsfile.Key]bool{key("api"): true} // down: nothing to sync into
	var started []string
	l.Events.(*testSink).seen = func(e events.Event) {
		if e.Type != events.RoundPlanned {
			return
		}
		for _, s := range e.Steps {
			if s.Service == "api-local" {
				started = append(started, fmt.Sprintf("%d:%v", e.Round, s.Kind == events.StepSync))
			}
		}
	}
	defer runLoop(t, l)()

	changes <- Changes{Paths: []string{"/r/api/static/a.css"}}
	if got := syncSummary(<-rounds); got != "api web(bounced) " {
		t.Errorf("first change to a failed service: %s (want a restart)", got)
	}
	if len(s.calls) != 0 {
		t.Errorf("synced into a service that was down: %v", s.calls)
	}
	// Up again: the next covered change is synced.
	changes <- Changes{Paths: []string{"/r/api/static/b.css"}}
	if got := syncSummary(<-rounds); got != "api(synced) web(bounced) " {
		t.Errorf("second change: %s", got)
	}
	if fmt.Sprint(started) != "[1:false 2:true]" {
		t.Errorf("Started said syncing = %v, want [1:false 2:true]", started)
	}
}

// syncAPI gives l a fake Syncer and api a sync rule for /r/api/static.
func syncAPI(l *Loop) *fakeSyncer {
	s := &fakeSyncer{}
	l.Syncer = s
	for i := range l.Owners {
		if l.Owners[i].Key == key("api") {
			l.Owners[i].Sync = []petsfile.SyncRule{{Selector: "app=api", Paths: []petsfile.SyncPath{{Local: "/r/api/static", Remote: "/www"}}}}
		}
	}
	return s
}
