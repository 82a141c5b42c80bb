package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
)

// The terminal lines are a view of the events: each case is the events in,
// the lines out.
func TestPrinterLines(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 4, 5, 678_000_000, time.Local)
	step := func(kind events.StepKind, svc string, res events.Result, ms float64) events.Step {
		return events.Step{Kind: kind, Service: svc, Result: res, TookMs: ms}
	}
	for _, tc := range []struct {
		name      string
		keepGoing bool
		in        []events.Event
		want      string
	}{
		{
			name: "pets up: reused, started, rollback",
			in: []events.Event{
				{Type: events.ServiceReused, Service: "db-local"},
				{Type: events.ServiceStarting, Service: "api-local"},
				{Type: events.ServiceReady, Service: "api-local", TookMs: 12.4},
				{Type: events.ServiceFailed, Service: "web-local", Error: "boom"},
				{Type: events.ServiceStopped, Service: "api-local", Reason: "rollback"},
			},
			want: "The service db-local is already running\n" +
				"The service api-local is now running (ready in 12ms)\n" +
				"Stopped api-local (it was started by this command, which failed)",
		},
		{
			name:      "pets up --watch: a failure is said at once",
			keepGoing: true,
			in:        []events.Event{{Type: events.ServiceFailed, Service: "web-local", Error: "the server exited"}},
			want:      "pets: web-local failed: the server exited",
		},
		{
			name: "a round: what it will do, then how each step went",
			in: []events.Event{
				{Type: events.RoundPlanned, Round: 3, Reason: "files changed", Steps: []events.Step{
					{Kind: events.StepSync, Service: "css-k8s"}, {Kind: events.StepRestart, Service: "api-local"}, {Kind: events.StepBounce, Service: "web-local"}}},
				{Type: events.RoundFinished, Round: 3, Reason: "files changed", TookMs: 61, Files: []string{"/src/api/main.go", "/src/css/a.css"}, Steps: []events.Step{
					{Kind: events.StepSync, Service: "css-k8s", Result: events.ResultOK, TookMs: 20, Sync: &events.SyncInfo{Files: 1, Pods: []string{"ns/css-1"}, Ran: []string{"make", "restart"}}},
					step(events.StepRestart, "api-local", events.ResultOK, 30.4),
					step(events.StepBounce, "web-local", events.ResultOK, 10)}},
			},
			want: "[10:04:05.678] round 3: syncing css-k8s, restarting api-local\n" +
				"[10:04:05.678] round 3: /src/api/main.go, /src/css/a.css -> css-k8s synced 1 file (0 deleted) to ns/css-1, ran \"make\", restarted the process in 20ms, api-local restarted in 30ms, web-local bounced in 10ms (61ms in all)",
		},
		{
			name: "a failed round: the failure, the skipped dependent, then the error with its log tail",
			in: []events.Event{{Type: events.RoundFinished, Round: 4, Reason: "files changed", TookMs: 50, Files: []string{"/src/a/data"}, Steps: []events.Step{
				{Kind: events.StepRestart, Service: "a-local", Result: events.ResultFailed, TookMs: 40, Error: "the server exited (exit status 4)\n--- last 1 lines ---\nbad data"},
				{Kind: events.StepBounce, Service: "b-local", Result: events.ResultSkipped, Skipped: "a-local failed"}}}},
			want: "[10:04:05.678] round 4: /src/a/data -> a-local FAILED after 40ms, b-local skipped (a-local failed) (50ms in all)\n" +
				"pets: a-local failed; it restarts on the next change to its files:\nthe server exited (exit status 4)\n--- last 1 lines ---\nbad data",
		},
		{
			name: "many files, lost events, a fallback, an interruption",
			in: []events.Event{
				{Type: events.RoundFinished, Round: 5, Reason: "files changed", TookMs: 9, Files: []string{"/f/1", "/f/2", "/f/3"}, MoreFiles: 1997, Steps: []events.Step{
					{Kind: events.StepRestart, Service: "api-k8s", Result: events.ResultOK, TookMs: 9, Fallback: "a change outside its sync rules"}}},
				{Type: events.RoundFinished, Round: 6, Reason: "files changed", TookMs: 1, Steps: []events.Step{
					{Kind: events.StepRestart, Service: "a-local", Result: events.ResultInterrupted, Error: "context canceled"},
					{Kind: events.StepBounce, Service: "b-local", Result: events.ResultInterrupted, Skipped: "interrupted"}}},
			},
			want: "[10:04:05.678] round 5: /f/1, /f/2 and 1998 more files -> api-k8s restarted in 9ms (instead of a sync: a change outside its sync rules) (9ms in all)\n" +
				"[10:04:05.678] round 6: files may have changed (events were lost) -> a-local interrupted, b-local skipped (interrupted) (1ms in all)",
		},
		{
			name: "a round asked for by pets restart, and one of changes made while no pets watched",
			in: []events.Event{
				{Type: events.RoundFinished, Round: 2, Reason: "pets restart", TookMs: 7, Steps: []events.Step{step(events.StepRestart, "api-local", events.ResultOK, 7)}},
				{Type: events.RoundFinished, Round: 1, Reason: "changed while no pets was watching", TookMs: 7, Files: []string{"/src/a.go"}, Steps: []events.Step{step(events.StepRestart, "api-local", events.ResultOK, 7)}},
			},
			want: "[10:04:05.678] round 2: pets restart -> api-local restarted in 7ms (7ms in all)\n" +
				"[10:04:05.678] round 1: /src/a.go (changed while no pets was watching) -> api-local restarted in 7ms (7ms in all)",
		},
		{
			name: "a reload: its round shows in the reload's line, not as a round",
			in: []events.Event{
				{Type: events.RoundPlanned, Round: 7, Reason: "reload", Steps: []events.Step{{Kind: events.StepStart, Service: "worker-local"}}},
				{Type: events.RoundFinished, Round: 7, Reason: "reload", Files: []string{"/src/static/a.css"}, Steps: []events.Step{
					{Kind: events.StepStop, Service: "old-local", Result: events.ResultOK},
					step(events.StepStart, "worker-local", events.ResultOK, 5),
					step(events.StepRestart, "api-local", events.ResultOK, 6),
					step(events.StepBounce, "web-local", events.ResultOK, 7)}},
				{Type: events.ReloadApplied, TookMs: 120.7, Round: 7, Reload: &events.ReloadInfo{
					Added: []string{"worker-local"}, Removed: []string{"old-local"}, Changed: []string{"api-local"}, Unchanged: []string{"db-local"}}},
			},
			want: "[10:04:05.678] Petsfile reloaded in 120ms: 1 added (worker-local), 1 removed (old-local), 1 changed (api-local), 1 unchanged; worker-local started in 5ms, api-local restarted in 6ms, web-local bounced in 7ms (with /src/static/a.css)",
		},
		{
			name: "a reload that restarts nothing; one that does not evaluate",
			in: []events.Event{
				{Type: events.ReloadApplied, TookMs: 3, Reload: &events.ReloadInfo{Unchanged: []string{"a-local", "b-local"}}},
				{Type: events.ReloadRefused, Files: []string{"/src/Petsfile"}, Error: "/src/Petsfile:3:1: undefined: x"},
			},
			want: "[10:04:05.678] Petsfile reloaded in 3ms: 0 added, 0 removed, 0 changed, 2 unchanged\n" +
				"[10:04:05.678] /src/Petsfile changed but does not evaluate; still running the previous configuration:\n/src/Petsfile:3:1: undefined: x",
		},
		{
			name: "crashes, syncs outside rounds, watch problems, Ctrl-C",
			in: []events.Event{
				{Type: events.ServiceCrashed, Service: "a-local", Exit: "signal: killed", Reason: "it restarts by itself (restart policy on-failure)"},
				{Type: events.ServiceCrashed, Service: "b-local"},
				{Type: events.SyncDone, Service: "be-k8s", Reason: "at deploy", TookMs: 80, Sync: &events.SyncInfo{Files: 3, Deleted: 1, Pods: []string{"default/be-1"}}},
				{Type: events.SyncDone, Service: "be-k8s", Reason: "a new pod", TookMs: 90, Sync: &events.SyncInfo{Files: 1, Pods: []string{"default/be-2"}}},
				{Type: events.SyncFailed, Service: "be-k8s", Reason: "not following its pods", Error: "forbidden"},
				{Type: events.WatchError, Error: "/src/x does not exist yet; watching /src for it"},
				{Type: events.RoundInterrupted, Round: 9, GraceMs: 10000},
				{Type: events.WatchStarted, Roots: []string{"/src"}, Services: []string{"a-local", "b-local"}},
			},
			want: "pets: a-local is not running any more (signal: killed) (see pets logs a-local); it restarts by itself (restart policy on-failure)\n" +
				"pets: b-local is not running any more (see pets logs b-local); it restarts on the next change to its files\n" +
				"[10:04:05.678] be-k8s: synced 3 files (1 deleted) to default/be-1 at deploy in 80ms\n" +
				"[10:04:05.678] be-k8s: new pod: synced 1 file (0 deleted) to default/be-2 in 90ms\n" +
				"pets: be-k8s: not following its pods: forbidden\n" +
				"pets: /src/x does not exist yet; watching /src for it\n" +
				"pets: letting the restart in progress finish (for up to 10s; Ctrl-C again to quit now)\n" +
				"Watching /src for a-local, b-local. Ctrl-C to stop them.",
		},
		{
			name: "events a terminal does not show: steps in rounds, freshness, overflow",
			in: []events.Event{
				{Type: events.ServiceStarting, Service: "a-local", Round: 2},
				{Type: events.ServiceReady, Service: "a-local", Round: 2},
				{Type: events.ServiceStale, Service: "a-local"},
				{Type: events.ServiceFresh, Service: "a-local"},
				{Type: events.WatchOverflow},
				{Type: events.SyncDone, Service: "be-k8s", Round: 2, Reason: "a.css changed"},
			},
			want: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			p := &printer{w: &b, stopHow: "Ctrl-C to stop them.", keepGoing: tc.keepGoing}
			for _, e := range tc.in {
				e.Time = at
				p.Emit(e)
			}
			if got := strings.TrimSuffix(b.String(), "\n"); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// A file name with a newline in it must not split a round's line.
func TestPrinterQuotesControlCharacters(t *testing.T) {
	var b strings.Builder
	p := &printer{w: &b, wd: "/src"}
	p.Emit(events.Event{Type: events.RoundFinished, Round: 1, Reason: "files changed", Files: []string{"/src/a\nb.go"},
		Steps: []events.Step{{Kind: events.StepRestart, Service: "a-local", Result: events.ResultOK}}})
	if got := b.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `"a\nb.go"`) {
		t.Errorf("line: %q", got)
	}
}
