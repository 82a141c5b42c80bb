package proc

import (
	"fmt"
	"io"
	"os"
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
// It closes the go-ahead pipe either way.
func AwaitRelease() bool {
	f := os.NewFile(releaseFD, "pets-release")
	if f == nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 3)
	_, err := io.ReadFull(f, buf)
	return err == nil && string(buf) == "go\n"
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
