package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAdvise(t *testing.T) {
	pod := Pod{Namespace: "ns", Name: "web-1", Container: "app"}
	exit := func(code int, stderr string, argv ...string) error {
		return &ExitError{Pod: pod, Command: argv, Code: code, Stderr: stderr, Err: fmt.Errorf("command terminated with non-zero exit code: %d", code)}
	}
	execErr := func(msg string, argv ...string) error {
		return &ExecError{Pod: pod, Command: argv, Err: errors.New(msg)}
	}
	sync, _ := SyncCommand("/app", nil)
	for _, tc := range []struct {
		desc    string
		err     error
		problem Problem
		missing string
	}{
		{"runc: no tar", execErr(`OCI runtime exec failed: exec failed: unable to start container process: exec: "tar": executable file not found in $PATH: unknown`, "tar", "-x"), ProblemMissingTar, "tar"},
		{"runc: no sh", execErr(`exec: "sh": executable file not found in $PATH: unknown`, sync...), ProblemMissingShell, "sh"},
		{"runc: absolute path missing", execErr(`exec: "/bin/tar": stat /bin/tar: no such file or directory: unknown`, "/bin/tar"), ProblemMissingTar, "/bin/tar"},
		{"runc: not executable", execErr(`exec: "/app/run": permission denied: unknown`, "/app/run"), ProblemNotExecutable, "/app/run"},
		{"busybox sh: no tar", exit(127, "sh: tar: not found\n", sync...), ProblemMissingTar, "tar"},
		{"dash: no tar", exit(127, "sh: 1: tar: not found\n", sync...), ProblemMissingTar, "tar"},
		{"bash: no tar", exit(127, "bash: line 1: tar: command not found\n", "bash", "-c", "tar -x"), ProblemMissingTar, "tar"},
		{"127 without stderr", exit(127, "", "make"), ProblemMissingCommand, "make"},
		{"busybox 126", exit(126, "sh: /app/run.sh: Permission denied\n", "sh", "-c", "/app/run.sh"), ProblemNotExecutable, "/app/run.sh"},
		{"126 without stderr", exit(126, "", "/app/run"), ProblemNotExecutable, "/app/run"},
		{"137", exit(137, "", "sh", "-c", "make"), ProblemKilled, ""},
		{"busybox tar permission", exit(1, "tar: can't open 'f.txt': Permission denied\n", sync...), ProblemPermission, ""},
		{"GNU tar permission", exit(2, "tar: f.txt: Cannot open: Permission denied\ntar: Exiting with failure status due to previous errors\n", sync...), ProblemPermission, ""},
		{"read-only", exit(1, "mkdir: can't create directory '/app': Read-only file system\n", sync...), ProblemReadOnly, ""},
		{"pod not found", &ExecError{Pod: pod, Err: apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "web-1")}, ProblemPodGone, ""},
		{"container not valid", execErr(`container nope is not valid for pod web-1`), ProblemNoContainer, ""},
		{"container not found", execErr(`unable to upgrade connection: container not found ("app")`), ProblemNotRunning, ""},
		{"container not running", execErr(`Internal error occurred: error executing command in container: container is not created or running`), ProblemNotRunning, ""},
		{"completed pod", execErr(`cannot exec into a container in a completed pod; current phase is Succeeded`), ProblemNotRunning, ""},
		{"wrapped", fmt.Errorf("sync web: %w", exit(127, "sh: tar: not found\n", sync...)), ProblemMissingTar, "tar"},

		{"plain exit 1", exit(1, "some failure\n", "make"), "", ""},
		{"unknown", errors.New("connection refused"), "", ""},
	} {
		got := Advise(tc.err)
		var adv *AdviceError
		if tc.problem == "" {
			if got != tc.err {
				t.Errorf("%s: Advise = %v, want the error unchanged", tc.desc, got)
			}
			continue
		}
		if !errors.As(got, &adv) {
			t.Errorf("%s: Advise = %v, want an *AdviceError", tc.desc, got)
			continue
		}
		if adv.Problem != tc.problem || adv.Missing != tc.missing {
			t.Errorf("%s: problem %q missing %q, want %q %q", tc.desc, adv.Problem, adv.Missing, tc.problem, tc.missing)
		}
		if !errors.Is(got, tc.err) || adv.Hint == "" || !strings.HasPrefix(got.Error(), tc.err.Error()+"\n") {
			t.Errorf("%s: advice %q does not wrap and extend %q", tc.desc, got, tc.err)
		}
		if again := Advise(got); again != got {
			t.Errorf("%s: advising twice wraps twice", tc.desc)
		}
	}
	if Advise(nil) != nil {
		t.Error("Advise(nil) != nil")
	}
}
