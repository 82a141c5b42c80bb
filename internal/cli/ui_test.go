package cli

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/internal/freeport"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/state"
)

// startUI returns with the page listening and recorded: pets up --watch
// says "Watching" right after it, and pets ui, run then, must find it.
func TestStartUIReturnsWithThePageRecorded(t *testing.T) {
	dir, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	g := &globals{stdout: &bytes.Buffer{}, stderr: &stderr}
	f := &upFlags{watchOpts: watchFlags{uiPort: port, uiPortSet: func() bool { return true }}}
	w := g.newWatch(dir, f, &watchSpec{})
	st, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	w.self = state.Watcher{Identity: proc.Identity{PID: os.Getpid(), Start: st}, Started: time.Now()}
	if err := w.claim(&petsfile.Graph{}); err != nil {
		t.Fatal(err)
	}
	w.startUI(&petsfile.Graph{})
	defer w.close()
	rec, err := dir.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Watchers) != 1 || !strings.HasPrefix(rec.Watchers[0].UI, "http://127.0.0.1:") {
		t.Fatalf("right after startUI the record's watchers are %+v; want this one with its page (stderr: %s)", rec.Watchers, stderr.String())
	}
	if c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(rec.Watchers[0].UI, "http://"), "/")); err != nil {
		t.Errorf("the recorded page %s does not answer: %v", rec.Watchers[0].UI, err)
	} else {
		c.Close()
	}
}
