package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// Streams are the standard streams of a command run by [Client.Exec]. Nil ones are not
// attached (a nil Stdin gives the command an empty, closed stdin). Stdout and Stderr may
// be one writer (a bytes.Buffer, say): Exec serializes the writes to it.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError is a command that ran in a container and exited non-zero.
type ExitError struct {
	Pod     Pod // Namespace, Name, Container
	Command []string
	Code    int
	Stderr  string // the end of what the command wrote to stderr
	Err     error  // client-go's error
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("exec %s in pod %s container %s: exit code %d", quoteArgv(e.Command), e.Pod, e.Pod.Container, e.Code)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + lastLines(s, 5)
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExecError is a command that could not run or whose stream broke: the API server or the
// kubelet refused it (no such pod or container, executable not found, ...), or the
// connection failed. Use [Advise] to explain it.
type ExecError struct {
	Pod     Pod
	Command []string
	Stderr  string
	Err     error
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("exec %s in pod %s container %s: %v", quoteArgv(e.Command), e.Pod, e.Pod.Container, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// Exec runs cmd in pod's container (pod.Namespace, pod.Name, pod.Container) with the given
// streams, and returns when it has exited and its output is copied. A non-zero exit is an
// [*ExitError]; any other failure an [*ExecError]. It talks WebSocket (the v5 protocol, which
// closes stdin properly) and falls back to SPDY when the server cannot upgrade to it.
// Cancelling ctx ends the stream.
func (c *Client) Exec(ctx context.Context, pod Pod, cmd []string, s Streams) error {
	if len(cmd) == 0 {
		return errors.New("exec: empty command")
	}
	pod.Namespace = c.namespace(pod.Namespace)
	req := c.Clientset.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: pod.Container,
			Command:   cmd,
			Stdin:     s.Stdin != nil,
			Stdout:    s.Stdout != nil,
			Stderr:    true, // always: advice needs it
		}, scheme.ParameterCodec)
	u := req.URL()

	spdyExec, err := remotecommand.NewSPDYExecutor(c.Config.Rest, "POST", u)
	if err != nil {
		return &ExecError{Pod: pod, Command: cmd, Err: err}
	}
	// WebSocket upgrades must be GET (RFC 6455 4.1); same choice as kubectl 1.32.
	wsExec, err := remotecommand.NewWebSocketExecutor(c.Config.Rest, "GET", u.String())
	if err != nil {
		return &ExecError{Pod: pod, Command: cmd, Err: err}
	}
	executor, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return &ExecError{Pod: pod, Command: cmd, Err: err}
	}

	// client-go copies the streams on goroutines of its own, which may
	// still write after StreamWithContext has returned (when ctx ends
	// first): the caller's writers are gated, and shut once it returns, so
	// that the caller may read its buffers then. One writer for both
	// streams gets one gate, which serializes them.
	var gates []*gate
	gated := func(w io.Writer) io.Writer {
		g := &gate{w: w}
		gates = append(gates, g)
		return g
	}
	defer func() {
		for _, g := range gates {
			g.shut()
		}
	}()
	switch {
	case s.Stdout != nil && s.Stdout == s.Stderr:
		w := gated(s.Stdout)
		s.Stdout, s.Stderr = w, w
	default:
		if s.Stdout != nil {
			s.Stdout = gated(s.Stdout)
		}
		if s.Stderr != nil {
			s.Stderr = gated(s.Stderr)
		}
	}
	tail := &tailBuffer{max: 4096}
	var stderr io.Writer = tail
	if s.Stderr != nil {
		stderr = io.MultiWriter(s.Stderr, tail)
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{
		Stdin:  s.Stdin,
		Stdout: s.Stdout,
		Stderr: stderr,
	})
	if err == nil {
		return nil
	}
	var code utilexec.CodeExitError
	if errors.As(err, &code) {
		return &ExitError{Pod: pod, Command: cmd, Code: code.Code, Stderr: tail.String(), Err: err}
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return &ExecError{Pod: pod, Command: cmd, Stderr: tail.String(), Err: err}
}

// gate passes writes on to w, one at a time, until it is shut; later
// writes are refused (io.ErrClosedPipe) and w is not touched again.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	isShut bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isShut {
		return 0, io.ErrClosedPipe
	}
	return g.w.Write(p)
}

// shut waits for a write under way and refuses the ones after it.
func (g *gate) shut() {
	g.mu.Lock()
	g.isShut = true
	g.mu.Unlock()
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func quoteArgv(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	s := strings.Join(q, " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
