package proc

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Where a Spec.Wrap program StartHeld forked reads its go-ahead, and
// reports the process it runs.
const (
	releaseFD = 3
	reportFD  = 4
)

// AwaitRelease is the held side of StartHeld for a Spec.Wrap program: it
// blocks until the starter releases it (true) or gives up or dies (false:
// the program must exit without running anything, as nobody recorded it).
// It closes the go-ahead pipe either way. A program forked before its
// command was known (Spec.Line empty) is told it here: the Release's Line
// is then set.
func AwaitRelease() (Release, bool) {
	// The report pipe is the program's, not its command's: were it
	// inherited, the service would hold pets' pipe for as long as it runs.
	closeOnExec(reportFD)
	f := os.NewFile(releaseFD, "pets-release")
	if f == nil {
		return Release{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(f) // the starter closes its end once it has written
	if err != nil {
		return Release{}, false
	}
	return decodeRelease(b)
}

// Release is what a held Spec.Wrap program forked with no Line is to run
// (Proc.ReleaseTo): its command line, its working directory, and the
// variables to add to its environment (later ones win).
type Release struct {
	Line string
	Dir  string
	Env  []string
}

// The go-ahead is "go\n", and for a Release its fields after it, each
// ended by a NUL (which no command line, path or variable holds).
const goAhead = "go\n"

func (r Release) encode() []byte {
	b := []byte(goAhead)
	for _, f := range append([]string{r.Line, r.Dir}, r.Env...) {
		b = append(append(b, f...), 0)
	}
	return b
}

func decodeRelease(b []byte) (Release, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(goAhead))
	if !ok {
		return Release{}, false
	}
	if len(rest) == 0 {
		return Release{}, true
	}
	fields := strings.Split(strings.TrimSuffix(string(rest), "\x00"), "\x00")
	if len(fields) < 2 || fields[0] == "" {
		return Release{}, false
	}
	return Release{Line: fields[0], Dir: fields[1], Env: fields[2:]}, true
}

// ReportChild is a Spec.Wrap program's report of the process it runs (id;
// zero: none, it could not start it). It closes the report pipe.
func ReportChild(id Identity) error {
	f := os.NewFile(reportFD, "pets-report")
	if f == nil {
		return fmt.Errorf("proc: no report pipe (fd %d)", reportFD)
	}
	defer f.Close()
	if id.PID == 0 {
		return nil
	}
	_, err := fmt.Fprintf(f, "%d %d\n", id.PID, id.Start)
	return err
}

// ChildStartTime is StartTime for a child of this process that may have
// exited but is not reaped yet (Linux: a zombie keeps its start time).
func ChildStartTime(pid int) (uint64, error) { return startTime(pid, true) }
