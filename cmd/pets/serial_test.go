//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/windmilleng/pets/events"
)

// TestUpSerialStartsOneAtATime: three independent services start side by
// side by default (each starts before any is ready: each takes 0.5 s), one
// after another with --serial (each starts once the one before is ready).
func TestUpSerialStartsOneAtATime(t *testing.T) {
	for _, serial := range []bool{false, true} {
		e := newEnv(t)
		var pf strings.Builder
		for _, n := range []string{"a", "b", "c"} {
			port := freePort(t)
			fmt.Fprintf(&pf, "register(%q, \"local\", lambda: service(start(\"sleep 0.5; exec $PETSERVER --name %s --port %d\"), \"127.0.0.1\", %d))\n", n, n, port, port)
		}
		e.write("Petsfile", pf.String())
		args := []string{"up"}
		if serial {
			args = append(args, "--serial")
		}
		e.mustPets(args...)
		r := e.mustPets("events", "-n", "-1", "--type", "service.starting,service.ready")
		var seq []string
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var ev events.Event
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("not an event: %q", l)
			}
			seq = append(seq, strings.TrimPrefix(string(ev.Type), "service."))
		}
		got := strings.Join(seq, " ")
		want := "starting starting starting ready ready ready"
		if serial {
			want = "starting ready starting ready starting ready"
		}
		if got != want {
			t.Errorf("serial=%v: events %s; want %s", serial, got, want)
		}
		e.mustPets("down")
	}
}
