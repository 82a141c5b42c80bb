//go:build linux

package supervise

// The dry-run host and the host of top-level run() calls.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

func TestDryRunUpRunsNothing(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, fmt.Sprintf(`
def provider():
    run("touch ran-run")
    s = start("touch ran-start; exec sleep 1000")
    return service(s, "localhost", %d)

register("api", "local", provider)
`, port))
	out := &syncBuffer{}
	s := w.supervisor(project, out)
	s.DryRun = true
	v := up(t, s, apiKey)
	if v != (petsfile.Value{Hostname: "localhost", Port: port}) {
		t.Errorf("dry Up = %+v; want the address and no pid", v)
	}
	want := fmt.Sprintf("Pets would start api-local:\n"+
		"  run \"touch ran-run\" in %[1]s\n"+
		"  start \"touch ran-start; exec sleep 1000\" in %[1]s\n"+
		"  wait until localhost:%[2]d accepts TCP\n", w.dir, port)
	if out.String() != want {
		t.Errorf("dry Up said:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, f := range []string{"ran-run", "ran-start"} {
		if _, err := os.Stat(filepath.Join(w.dir, f)); err == nil {
			t.Errorf("a dry run ran the command that makes %s", f)
		}
	}
	if s := w.strays(); len(s) > 0 {
		t.Errorf("a dry run started processes: %s", describe(s))
	}
	if rec, ok := w.lookup("api"); ok {
		t.Errorf("a dry run recorded the service: %+v", rec)
	}
	if _, err := os.Stat(w.state.LogPath("api", "local")); err == nil {
		t.Error("a dry run created the service's log")
	}
}

func TestDryRunUpLeavesRecordedServiceAlone(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	v := up(t, w.supervisor(project, nil), apiKey)
	out := &syncBuffer{}
	dry := w.supervisor(project, out)
	dry.DryRun = true
	up(t, dry, apiKey)
	if !strings.HasPrefix(out.String(), "Pets would stop api-local first\nPets would start api-local:\n") {
		t.Errorf("dry Up over a running service said:\n%s", out.String())
	}
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", v.PID)) {
		t.Errorf("after a dry Up, port %d answers %q; want the running server, pid %d", port, got, v.PID)
	}
	if rec := w.record("api"); rec.PID != v.PID {
		t.Errorf("a dry Up changed the record: %+v", rec)
	}
}

func TestDryRunDownStopsNothing(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	project := loadProject(t, w.dir, servicePetsfile("api", port))
	v := up(t, w.supervisor(project, nil), apiKey)
	out := &syncBuffer{}
	dry := w.supervisor(project, out)
	dry.DryRun = true
	if err := dry.Down(context.Background(), apiKey); err != nil {
		t.Fatal(err)
	}
	if out.String() != "Pets would stop api-local\n" {
		t.Errorf("dry Down said %q", out.String())
	}
	if got := answer(port); !strings.Contains(got, fmt.Sprintf("(pid %d)", v.PID)) {
		t.Errorf("after a dry Down, port %d answers %q", port, got)
	}
	if _, ok := w.lookup("api"); !ok {
		t.Error("a dry Down removed the record")
	}
}

func TestDryHostPrintsRun(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	ran := filepath.Join(w.dir, "ran")
	if err := DryHost(out).Run(context.Background(), petsfile.Command{Dir: w.dir, Line: "touch " + ran}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("  run %q in %s\n", "touch "+ran, w.dir); out.String() != want {
		t.Errorf("DryHost.Run said %q; want %q", out.String(), want)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("DryHost.Run ran the command")
	}
}

func TestTopLevelHostRunsWithOutput(t *testing.T) {
	w := newWorld(t)
	out := &syncBuffer{}
	h := TopLevelHost(out)
	ctx := context.Background()
	if err := h.Run(ctx, petsfile.Command{Dir: w.dir, Line: "echo in $(pwd)"}); err != nil {
		t.Fatal(err)
	}
	if want := "in " + w.dir + "\n"; out.String() != want {
		t.Errorf("top-level run() wrote %q; want %q", out.String(), want)
	}
	// run(cmd, env={...}) at the top level gets its env too.
	if err := h.Run(ctx, petsfile.Command{Dir: w.dir, Line: "echo $GREETING", Env: []string{"GREETING=hi"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "hi\n") {
		t.Errorf("top-level run() with env= wrote %q", out.String())
	}
	err := h.Run(ctx, petsfile.Command{Dir: w.dir, Line: "exit 3"})
	if err == nil || err.Error() != `run "exit 3": exit status 3` {
		t.Errorf("failing top-level run() = %v", err)
	}
	if _, err := h.Start(ctx, petsfile.Command{Dir: w.dir, Line: "exec sleep 1000"}); err == nil || !strings.Contains(err.Error(), "only a provider may start a server") {
		t.Errorf("top-level start() = %v; want a refusal", err)
	}
	if err := h.Ready(ctx, apiKey, petsfile.Process{}, petsfile.Readiness{Hostname: "localhost", Port: 1}); err == nil || !strings.Contains(err.Error(), "only a provider may declare a service") {
		t.Errorf("top-level service() = %v; want a refusal", err)
	}
}
