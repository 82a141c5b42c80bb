//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/state"
)

// appendEvents appends evs to the env's events file, as a pets would, and
// returns every line of the file.
func (e *env) appendEvents(evs ...events.Event) []string {
	e.t.Helper()
	d, err := state.Open(e.home)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		if err := d.AppendEvent(ev); err != nil {
			e.t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(e.home, "events.jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func pick(lines []string, idx ...int) string {
	var b strings.Builder
	for _, i := range idx {
		b.WriteString(lines[i] + "\n")
	}
	return b.String()
}

func TestEventsRecentAndFilters(t *testing.T) {
	e := newEnv(t)
	if r := e.mustPets("events"); r.stdout != "" {
		t.Errorf("no events yet, printed %q", r.stdout)
	}
	lines := e.appendEvents(
		events.Event{Type: events.ServiceStarting, Source: "up 1", Service: "api-local", State: events.Starting, Reason: "requested"}, // 0
		events.Event{Type: events.ServiceReady, Source: "up 1", Service: "api-local", State: events.Ready, Host: "127.0.0.1:8080"},    // 1
		events.Event{Type: events.ServiceStarting, Source: "up 1", Service: "web-local", State: events.Starting},                      // 2
		events.Event{Type: events.ServiceFailed, Source: "up 1", Service: "web-local", State: events.Failed, Error: "not ready"},      // 3
		events.Event{Type: events.RoundPlanned, Source: "watch 2", Round: 1, Steps: []events.Step{ // 4
			{Kind: events.StepRestart, Service: "api-local", Reason: "api/main.go changed"}}},
		events.Event{Type: events.WatchOverflow, Source: "watch 2"},                                                             // 5
		events.Event{Type: events.ServiceReady, Source: "up 3", Service: "api-k8s", State: events.Ready},                        // 6
		events.Event{Type: events.ReloadApplied, Source: "watch 2", Reload: &events.ReloadInfo{Changed: []string{"web-local"}}}, // 7
		events.Event{Type: events.ServiceReady, Source: "up 3", Service: "apigw-local", State: events.Ready},                    // 8
	)
	all := pick(lines, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, all},
		{[]string{"-n", "-1"}, all},
		{[]string{"-n", "3"}, pick(lines, 6, 7, 8)},
		{[]string{"-n", "0"}, ""},
		{[]string{"--type", "service."}, pick(lines, 0, 1, 2, 3, 6, 8)},
		{[]string{"--type", "service.ready", "--type", "service.failed", "-n", "2"}, pick(lines, 6, 8)},
		{[]string{"--type", "service.ready,watch.overflow"}, pick(lines, 1, 5, 6, 8)},
		{[]string{"api"}, pick(lines, 0, 1, 4, 6)},
		{[]string{"api-local"}, pick(lines, 0, 1, 4)},
		{[]string{"web", "--type", "service."}, pick(lines, 2, 3)},
		{[]string{"web", "apigw"}, pick(lines, 2, 3, 7, 8)},
		{[]string{"nosuch"}, ""},
	} {
		r := e.mustPets(append([]string{"events"}, c.args...)...)
		if r.stdout != c.want {
			t.Errorf("pets events %s:\n%s\nwant:\n%s", strings.Join(c.args, " "), r.stdout, c.want)
		}
	}

	r := e.pets("events", "--type", "servce.")
	if r.code == 0 || !strings.Contains(r.stderr, `no event type is or starts with "servce."`) || !strings.Contains(r.stderr, "service.ready") {
		t.Errorf("a mistyped --type: exit %d, stderr %q", r.code, r.stderr)
	}

	// By default, the last 50.
	var more []events.Event
	for i := range 60 {
		more = append(more, events.Event{Type: events.ServiceStale, Source: "watch 2", Service: "api-local", Freshness: events.Stale, Files: []string{fmt.Sprintf("/src/%d.go", i)}})
	}
	lines = e.appendEvents(more...)
	want := strings.Join(lines[len(lines)-50:], "\n") + "\n"
	if r := e.mustPets("events"); r.stdout != want {
		t.Errorf("pets events printed %d lines, want the last 50:\n%s", strings.Count(r.stdout, "\n"), r.stdout)
	}
}

// pets events -f prints the last -n events, then each new one that passes
// the filters, as it is appended, and exits 0 on Ctrl-C.
func TestEventsFollow(t *testing.T) {
	e := newEnv(t)
	lines := e.appendEvents(
		events.Event{Type: events.ServiceCrashed, Source: "watch 2", Service: "api-local", State: events.Crashed, Exit: "exit status 1"},
		events.Event{Type: events.ServiceReady, Source: "up 1", Service: "api-local", State: events.Ready},
		events.Event{Type: events.ServiceCrashed, Source: "watch 2", Service: "web-local", State: events.Crashed, Exit: "signal: killed"},
	)
	cmd := e.cmd("events", "-f", "-n", "1", "--type", "service.crashed")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	got := make(chan string)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			got <- s.Text()
		}
		close(got)
		exited <- cmd.Wait()
	}()
	ended := false
	t.Cleanup(func() {
		if !ended {
			_ = cmd.Process.Kill()
			for range got {
			}
			<-exited
		}
	})
	next := func(want string) {
		t.Helper()
		select {
		case l, ok := <-got:
			if !ok {
				t.Fatalf("pets events -f ended; stderr:\n%s", stderr.String())
			}
			if l != want {
				t.Fatalf("pets events -f printed\n%s\nwant\n%s", l, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for pets events -f to print\n%s", want)
		}
	}
	next(lines[2]) // the last crash: it follows from here on
	lines = e.appendEvents(
		events.Event{Type: events.ServiceReady, Source: "up 1", Service: "web-local", State: events.Ready},
		events.Event{Type: events.ServiceCrashed, Source: "watch 2", Service: "web-local", State: events.Crashed, Exit: "exit status 2"},
	)
	// The ready event is filtered out: the crash is the next line.
	next(lines[len(lines)-1])

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case l, ok := <-got:
		if ok {
			t.Fatalf("after Ctrl-C, pets events -f printed %s", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pets events -f did not end on Ctrl-C")
	}
	err = <-exited
	ended = true
	if err != nil {
		t.Errorf("pets events -f ended with %v on Ctrl-C, want exit 0; stderr:\n%s", err, stderr.String())
	}
}
