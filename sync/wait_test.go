package sync

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/petsfile"
)

// fakePods is a Client with no cluster: ReadyPods returns ready() and
// NotReady says issues.
type fakePods struct {
	ready  func() []kube.Pod
	issues []kube.PodIssue
}

func (f *fakePods) ReadyPods(context.Context, kube.PodSelector) ([]kube.Pod, error) {
	return f.ready(), nil
}

func (f *fakePods) Exec(context.Context, kube.Pod, []string, kube.Streams) error {
	return errors.New("fakePods cannot exec")
}

func (f *fakePods) NotReady(context.Context, kube.PodSelector) ([]kube.PodIssue, error) {
	return f.issues, nil
}

var _ Client = (*fakePods)(nil)

// A seed that waits for a ready pod says so every interval, naming what the
// pods wait for, until one is ready.
func TestSeedWaitReportsWhatItWaitsFor(t *testing.T) {
	var lines []string
	f := &fakePods{issues: []kube.PodIssue{{Pod: "web-1", Reason: "Pending", Message: "container app: ContainerCreating"}}}
	f.ready = func() []kube.Pod {
		if len(lines) < 3 {
			return nil
		}
		return []kube.Pod{{Namespace: "ns", Name: "web-1"}}
	}
	k := petsfile.Key{Name: "web", Tier: "k8s"}
	s := &Syncer{Client: f, every: 10 * time.Millisecond, Report: func(got petsfile.Key, line string) {
		if got != k {
			t.Errorf("report for %v, want %v", got, k)
		}
		lines = append(lines, line)
	}}
	pods, err := s.readyPods(context.Background(), k, kube.PodSelector{Namespace: "ns", Selector: "app=web"}, true)
	if err != nil || len(pods) != 1 {
		t.Fatalf("readyPods = %v, %v; want the pod once ready", pods, err)
	}
	if len(lines) != 3 {
		t.Fatalf("%d reports, want 3: %q", len(lines), lines)
	}
	for _, l := range lines {
		if want := `waiting for a ready pod of app=web (namespace "ns") to give it its files: pod web-1: Pending (container app: ContainerCreating) (0s of 1m0s)`; l != want {
			t.Errorf("report %q, want %q", l, want)
		}
	}
}

// A seed gives up at its limit, saying what it waited for; without
// seeding (a sync of an edit) it does not wait at all.
func TestSeedWaitGivesUp(t *testing.T) {
	f := &fakePods{ready: func() []kube.Pod { return nil }}
	s := &Syncer{Client: f, seedWait: 30 * time.Millisecond}
	sel := kube.PodSelector{Namespace: "ns", Selector: "app=web"}
	_, err := s.readyPods(context.Background(), petsfile.Key{Name: "web", Tier: "k8s"}, sel, true)
	if !errors.Is(err, ErrNoPods) || !strings.Contains(err.Error(), `"app=web" (namespace "ns") within 30ms: no pod matches yet`) {
		t.Errorf("readyPods = %v, want ErrNoPods within 30ms naming what it waited for", err)
	}
	t0 := time.Now()
	if pods, err := s.readyPods(context.Background(), petsfile.Key{}, sel, false); err != nil || len(pods) != 0 || time.Since(t0) > time.Second {
		t.Errorf("readyPods without wait = %v, %v after %v", pods, err, time.Since(t0))
	}
}

// A rule's directory that .gitignore excludes (a build's bin/) is sent whole
// by a seed, minus the ignore= globs and what is always ignored; inside
// other rule directories .gitignore applies as usual.
func TestWalkSendsAMappedDirectoryTheIgnoreFilesExclude(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		".gitignore":        "bin/\n*.bak\n",
		"bin/server":        "binary",
		"bin/sub/tool":      "binary",
		"bin/debug.log":     "ignore= excludes it",
		"bin/.server.swp":   "an editor's swap file",
		"static/index.html": "page",
		"static/old.bak":    "gitignored",
	} {
		writeFile(t, filepath.Join(dir, name), body, 0o644)
	}
	rule := func(local string, ignore ...string) petsfile.SyncRule {
		return petsfile.SyncRule{Base: dir, Ignore: ignore, Paths: []petsfile.SyncPath{{Local: filepath.Join(dir, local), Remote: "/app/" + local}}}
	}
	rel := func(ps []string) []string {
		out := []string{}
		for _, p := range ps {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		r    petsfile.SyncRule
		want []string
	}{
		{rule("bin", filepath.Join(dir, "bin/*.log")), []string{"bin/server", "bin/sub/tool"}},
		{rule("static"), []string{"static/index.html"}},
		{rule("bin", filepath.Join(dir, "bin")), []string{}}, // ignore= names the directory itself: nothing
	} {
		got, err := walk(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rel(got), tc.want) {
			t.Errorf("walk(%s, ignore=%v) = %v, want %v", tc.r.Paths[0].Local, tc.r.Ignore, rel(got), tc.want)
		}
	}
}
