//go:build linux || darwin || freebsd

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests here start the test binary again as another uid (nobody):
// TestMain hands such a process to childMain.
const (
	childEnv = "PETS_CONTROL_TEST_CHILD" // "client" or "server"
	pathEnv  = "PETS_CONTROL_TEST_PATH"  // client: the socket; server: the state directory
	otherUID = 65534
)

// childResult is what a client child saw, printed as JSON.
type childResult struct {
	Dial  string   `json:"dial,omitempty"` // "EACCES", or another dial error
	Lines []string `json:"lines,omitempty"`
	End   string   `json:"end,omitempty"` // how the connection ended: "closed", or the error
}

func childMain(role string) int {
	path := os.Getenv(pathEnv)
	switch role {
	case "client":
		// A raw client: Do would refuse our (root) server before reading
		// its reply, and the reply is what is under test.
		var res childResult
		c, err := net.Dial("unix", path)
		if errors.Is(err, syscall.EACCES) {
			res.Dial = "EACCES"
		} else if err != nil {
			res.Dial = err.Error()
		} else {
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write([]byte(`{"op":"list"}` + "\n"))
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				res.Lines = append(res.Lines, sc.Text())
			}
			// A server that hangs up without reading the request makes
			// Linux report ECONNRESET after the data: closed all the same.
			if err := sc.Err(); err == nil || errors.Is(err, syscall.ECONNRESET) {
				res.End = "closed"
			} else {
				res.End = err.Error()
			}
			c.Close()
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return 0
	case "server":
		s, err := Listen(path, HandlerFunc(func(ctx context.Context, req Request, send func(Reply) error) error {
			return send(Reply{Status: []ServiceStatus{{Service: "impostor-local"}}})
		}))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ready " + s.Path())
		_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

// needRoot skips a test that needs root to start a process as another uid;
// under CI (which runs as root) that skip is a failure.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	const why = "needs root to start a process as another uid"
	if os.Getenv("CI") == "true" {
		t.Fatal(why + ", and CI=true: CI runs as root")
	}
	t.Skip(why)
}

// openDir returns a new directory that uid nobody can traverse (t.TempDir
// is root's 0700), holding a copy of the test binary nobody can run.
func openDir(t *testing.T) (dir, binary string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pets-control-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	binary = filepath.Join(dir, "control.test")
	if err := os.WriteFile(binary, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, binary
}

// asNobody returns the command that runs binary as uid nobody in role.
func asNobody(ctx context.Context, binary, role, path string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary)
	cmd.Env = append(os.Environ(), childEnv+"="+role, pathEnv+"="+path)
	cmd.Dir = filepath.Dir(binary)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	cmd.Stderr = os.Stderr
	return cmd
}

// clientAsNobody runs a client child against path and returns what it saw.
func clientAsNobody(t *testing.T, binary, path string) childResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := asNobody(ctx, binary, "client", path).Output()
	if err != nil {
		t.Fatalf("client as uid %d: %v", otherUID, err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client as uid %d printed %q: %v", otherUID, out, err)
	}
	return res
}

func TestOtherUIDIsRefused(t *testing.T) {
	needRoot(t)
	dir, binary := openDir(t)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	s, err := Listen(state, HandlerFunc(func(context.Context, Request, func(Reply) error) error {
		calls.Add(1)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	t.Run("the socket's mode keeps it from connecting", func(t *testing.T) {
		if res := clientAsNobody(t, binary, s.Path()); res.Dial != "EACCES" {
			t.Fatalf("uid %d at a 0600 socket: %+v, want EACCES on connect", otherUID, res)
		}
	})
	t.Run("the peer check refuses it when the mode would not", func(t *testing.T) {
		if err := os.Chmod(s.Path(), 0o666); err != nil {
			t.Fatal(err)
		}
		res := clientAsNobody(t, binary, s.Path())
		want := fmt.Sprintf(`{"done":true,"error":"refused: peer uid %d is not the owner uid %d"}`, otherUID, os.Geteuid())
		if res.Dial != "" || len(res.Lines) != 1 || res.Lines[0] != want || res.End != "closed" {
			t.Fatalf("uid %d at a 0666 socket: %+v, want the one line %s and a closed connection", otherUID, res, want)
		}
	})
	// Our own uid still gets through, and is the only one the handler saw.
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); err != nil {
		t.Fatalf("Do as the owner: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want once (only for the owner)", n)
	}
}

func TestClientRefusesServerOfOtherUID(t *testing.T) {
	needRoot(t)
	dir, binary := openDir(t)
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(state, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := asNobody(ctx, binary, "server", state)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	wait := func() error {
		stdin.Close() // the child closes its server and exits
		_, _ = io.Copy(io.Discard, stdout)
		waited = true
		return cmd.Wait()
	}
	defer func() {
		if !waited {
			_ = wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	path, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		t.Fatalf("server as uid %d printed %q (%v), want ready PATH", otherUID, line, err)
	}

	err = Do(ctx, path, Request{Op: "list"}, func(r Reply) error {
		t.Errorf("the client believed a server of uid %d: %+v", otherUID, r)
		return nil
	})
	want := fmt.Sprintf("belongs to uid %d, not to our uid %d", otherUID, os.Geteuid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Do against a server of uid %d = %v, want an error saying %q", otherUID, err, want)
	}
	if err := wait(); err != nil {
		t.Fatalf("server as uid %d: %v", otherUID, err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the child's socket after it closed: %v", err)
	}
}
