package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Where a Spec.Wrap program StartHeld forked reads its go-ahead, and
// reports the process it runs.
const (
	releaseFD = 3
	reportFD  = 4
)

// The go-ahead pipe carries messages of one line each, the last two with
// what follows them:
//
//	go\n        run the line of the command line (Proc.Release; then EOF)
//	go N\n...   run the Release of the N bytes that follow (Proc.ReleaseTo)
//	stay\n      once the tree of the command is gone, report done and wait
//	            for the next go (Proc.Stay)
//
// EOF (the starter let go, or died) while held: run nothing. The report
// pipe carries a line "PID START" for each command run (0 0: none could be
// started, the program exits), and "done" once a command that was asked to
// stay is gone.
const (
	goAhead = "go\n"
	stayMsg = "stay"
	doneMsg = "done"
)

// held and report are the go-ahead and report pipes, on the held
// program's side, opened by its first AwaitRelease (not before: in any
// other program, such as pets itself, fds 3 and 4 are something else).
var held, report *os.File

// AwaitRelease is the held side of StartHeld for a Spec.Wrap program: it
// blocks until the starter releases it (true) or gives up or dies (false:
// the program must exit without running anything, as nobody recorded it).
// A program forked before its command was known (Spec.Line empty) is told
// it here: the Release's Line is then set. The pipe stays open (kept from
// the commands the program runs): a starter that released it with
// ReleaseTo may ask it to stay (StayAsked) and release it again
// (AwaitRelease once more).
func AwaitRelease() (Release, bool) {
	// Both pipes are the program's, not its command's: were they
	// inherited, the service would hold pets' pipes for as long as it runs.
	if held == nil {
		closeOnExec(reportFD)
		closeOnExec(releaseFD)
		held, report = os.NewFile(releaseFD, "pets-release"), os.NewFile(reportFD, "pets-report")
	}
	if held == nil {
		return Release{}, false
	}
	head, err := readHead(held)
	if err != nil {
		return Release{}, false
	}
	if head == "go" {
		return Release{}, true
	}
	n, ok := strings.CutPrefix(head, "go ")
	size, err := strconv.Atoi(n)
	if !ok || err != nil || size <= 0 || size > 64<<20 {
		return Release{}, false
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(held, b); err != nil {
		return Release{}, false
	}
	return decodeRelease(b)
}

// StayAsked says, without waiting, whether the starter has asked the
// program to stay once its command's tree is gone (Proc.Stay, written
// before the starter signals that tree): the program then reports done
// (ReportDone) and waits for its next release instead of exiting.
func StayAsked() bool {
	if held == nil || !readable(releaseFD) {
		return false
	}
	head, err := readHead(held)
	return err == nil && head == stayMsg
}

// readHead reads one message's line (without its newline), a byte at a
// time: nothing after it is taken from the pipe.
func readHead(f *os.File) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 64 {
		if _, err := f.Read(one); err != nil {
			return "", err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return "", errors.New("proc: go-ahead line too long")
}

// Release is what a held Spec.Wrap program forked with no Line is to run
// (Proc.ReleaseTo): its command line, its working directory, and the
// variables to add to its environment (later ones win).
type Release struct {
	Line string
	Dir  string
	Env  []string
}

// encode is the message of ReleaseTo: its fields, each ended by a NUL
// (which no command line, path or variable holds), after their length.
func (r Release) encode() []byte {
	var body []byte
	for _, f := range append([]string{r.Line, r.Dir}, r.Env...) {
		body = append(append(body, f...), 0)
	}
	return append([]byte("go "+strconv.Itoa(len(body))+"\n"), body...)
}

func decodeRelease(b []byte) (Release, bool) {
	if len(b) == 0 || b[len(b)-1] != 0 {
		return Release{}, false
	}
	fields := strings.Split(string(bytes.TrimSuffix(b, []byte{0})), "\x00")
	if len(fields) < 2 || fields[0] == "" {
		return Release{}, false
	}
	return Release{Line: fields[0], Dir: fields[1], Env: fields[2:]}, true
}

// ReportChild is a Spec.Wrap program's report of the process it runs (id;
// zero: none, it could not start it, which closes the report pipe).
func ReportChild(id Identity) error {
	if report == nil {
		return fmt.Errorf("proc: no report pipe (fd %d)", reportFD)
	}
	if id.PID == 0 {
		return report.Close()
	}
	_, err := fmt.Fprintf(report, "%d %d\n", id.PID, id.Start)
	return err
}

// ReportDone is a Spec.Wrap program's report that the tree of the command
// it was asked to stay after (StayAsked) is gone, its output copied: it
// waits for its next release.
func ReportDone() error {
	if report == nil {
		return fmt.Errorf("proc: no report pipe (fd %d)", reportFD)
	}
	_, err := io.WriteString(report, doneMsg+"\n")
	return err
}

// ChildStartTime is StartTime for a child of this process that may have
// exited but is not reaped yet (Linux: a zombie keeps its start time).
func ChildStartTime(pid int) (uint64, error) { return startTime(pid, true) }
