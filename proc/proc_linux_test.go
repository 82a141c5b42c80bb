package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestStartTimeParsesOddNames(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	dir := t.TempDir()
	if err := os.Symlink("/bin/sleep", filepath.Join(dir, "a (b) c")); err != nil {
		t.Fatal(err)
	}
	p, err := Start(Spec{Line: `exec "./a (b) c" 1000`, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = signalGroup(p.PID, syscall.SIGKILL); <-p.Done() }()
	var line string
	waitFor(t, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
		line = string(b)
		return err == nil && strings.Contains(line, "(a (b) c)")
	})
	fields := strings.Fields(line[strings.LastIndexByte(line, ')')+1:])
	want, _ := strconv.ParseUint(fields[19], 10, 64)
	got, err := StartTime(p.PID)
	if err != nil || got != want || got == 0 {
		t.Fatalf("StartTime = %d, %v; want %d", got, err, want)
	}
}
