package kube

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Problem names a kind of exec or sync failure that has a known cause and remedy.
type Problem string

const (
	ProblemMissingTar     Problem = "missing-tar"       // the image has no tar
	ProblemMissingShell   Problem = "missing-shell"     // the image has no sh
	ProblemMissingCommand Problem = "missing-command"   // some other executable is missing
	ProblemNotExecutable  Problem = "not-executable"    // exit 126: found but cannot be executed
	ProblemKilled         Problem = "killed"            // exit 137: SIGKILL (OOM, or the container went away)
	ProblemPermission     Problem = "permission-denied" // the container user cannot write the target
	ProblemReadOnly       Problem = "read-only"         // the target is on a read-only filesystem
	ProblemNotRunning     Problem = "not-running"       // the container is not running (or not there)
	ProblemNoContainer    Problem = "no-container"      // the pod has no container of that name
	ProblemPodGone        Problem = "pod-gone"          // the pod no longer exists
)

// AdviceError explains an exec or sync failure: what failed (Err), why it usually happens and
// what to do (Hint). Missing names the missing executable for the Missing* problems.
type AdviceError struct {
	Problem Problem
	Missing string
	Hint    string
	Err     error
}

func (e *AdviceError) Error() string { return e.Err.Error() + "\n" + e.Hint }

func (e *AdviceError) Unwrap() error { return e.Err }

// Advise recognises the exec and tar failures that have a known cause and returns them as an
// [*AdviceError] wrapping err. Anything else (including nil) is returned unchanged.
//
// It reads an [*ExitError]'s code and stderr, an [*ExecError]'s message from the API server or
// runtime ("executable file not found in $PATH", "container not found", ...), and
// apimachinery status errors.
func Advise(err error) error {
	if err == nil {
		return nil
	}
	var already *AdviceError
	if errors.As(err, &already) {
		return err
	}
	p, missing := classify(err)
	if p == "" {
		return err
	}
	return &AdviceError{Problem: p, Missing: missing, Hint: hint(p, missing), Err: err}
}

var (
	// runc/containerd: exec: "tar": executable file not found in $PATH
	reExecNotFound = regexp.MustCompile(`exec: "([^"]*)": (?:executable file not found|stat [^:]*: no such file or directory)`)
	// busybox/dash: "sh: tar: not found", "sh: 1: tar: not found"; bash: "bash: line 1: tar: command not found"
	reShellNotFound = regexp.MustCompile(`(?m)^[^:\n]*:(?: line)? ?(?:\d+: )?([^:\n]+): (?:command )?not found`)
	// runc: exec: "/app/run": permission denied
	reExecPerm = regexp.MustCompile(`exec: "([^"]*)": permission denied`)
	// busybox/dash/bash exit 126: "sh: /app/run: Permission denied"
	reShellPerm = regexp.MustCompile(`(?m)^[^:\n]*:(?: line)? ?(?:\d+: )?([^:\n]+): (?:Permission denied|cannot execute)`)
)

func classify(err error) (Problem, string) {
	var exit *ExitError
	var execErr *ExecError
	var argv0 string
	msg := err.Error()
	stderr := ""
	switch {
	case errors.As(err, &exit):
		stderr = exit.Stderr
		if len(exit.Command) > 0 {
			argv0 = exit.Command[0]
		}
	case errors.As(err, &execErr):
		stderr = execErr.Stderr
		if len(execErr.Command) > 0 {
			argv0 = execErr.Command[0]
		}
	}

	// The runtime could not start the command at all (the API server passes its message on).
	if m := reExecNotFound.FindStringSubmatch(msg); m != nil {
		return missingProblem(m[1]), m[1]
	}
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory: unknown") {
		return missingProblem(argv0), argv0
	}
	if m := reExecPerm.FindStringSubmatch(msg); m != nil {
		return ProblemNotExecutable, m[1]
	}

	if exit != nil {
		lower := strings.ToLower(stderr)
		switch {
		case exit.Code == 127:
			name := argv0
			if m := reShellNotFound.FindStringSubmatch(stderr); m != nil {
				name = strings.TrimSpace(m[1])
			}
			return missingProblem(name), name
		case exit.Code == 126:
			name := argv0
			if m := reShellPerm.FindStringSubmatch(stderr); m != nil {
				name = strings.TrimSpace(m[1])
			}
			return ProblemNotExecutable, name
		case exit.Code == 137:
			return ProblemKilled, ""
		case strings.Contains(lower, "read-only file system"):
			return ProblemReadOnly, ""
		case strings.Contains(lower, "permission denied") || strings.Contains(lower, "operation not permitted"):
			return ProblemPermission, ""
		}
		return "", ""
	}

	lower := strings.ToLower(msg)
	switch {
	case apierrors.IsNotFound(err) && strings.Contains(lower, "pods"):
		return ProblemPodGone, ""
	case strings.Contains(lower, "is not valid for pod"):
		return ProblemNoContainer, ""
	case strings.Contains(lower, "container not found"),
		strings.Contains(lower, "container is not created or running"),
		strings.Contains(lower, "cannot exec into a container in a completed pod"),
		strings.Contains(lower, "does not have a host assigned"),
		strings.Contains(lower, "container") && strings.Contains(lower, "not running"):
		return ProblemNotRunning, ""
	case strings.Contains(lower, "not found") && strings.Contains(lower, "pods"):
		return ProblemPodGone, ""
	}
	return "", ""
}

func missingProblem(name string) Problem {
	switch baseName(name) {
	case "tar":
		return ProblemMissingTar
	case "sh", "bash", "ash", "dash":
		return ProblemMissingShell
	}
	return ProblemMissingCommand
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

func hint(p Problem, missing string) string {
	switch p {
	case ProblemMissingTar:
		return "The container image has no tar, which live-sync needs to copy files in. " +
			"Add tar to the image (on distroless or scratch images, e.g. COPY busybox's tar in), " +
			"or remove the service's sync rules so edits trigger a full restart instead."
	case ProblemMissingShell:
		return fmt.Sprintf("The container image has no shell (%s), which live-sync needs to delete files and run commands. ", missing) +
			"Add a shell to the image (busybox has sh and tar), " +
			"or remove the service's sync rules so edits trigger a full restart instead."
	case ProblemMissingCommand:
		return fmt.Sprintf("The container image has no %q on its PATH. ", missing) +
			"Install it in the image, or change the sync rule's command."
	case ProblemNotExecutable:
		return fmt.Sprintf("%q exists in the container but cannot be executed (exit 126: no execute permission, "+
			"a directory, or a binary for another architecture). Fix its mode or build in the image.", missing)
	case ProblemKilled:
		return "The command was killed (exit 137, SIGKILL): usually the container ran out of memory " +
			"(check its memory limit and `kubectl describe pod` for OOMKilled), or it restarted or was deleted meanwhile."
	case ProblemPermission:
		return "The container's user may not write the sync target. Run the container as a user that owns " +
			"the target directory (securityContext.runAsUser, or chown it in the image), or sync into a directory that user can write."
	case ProblemReadOnly:
		return "The sync target is on a read-only filesystem: drop securityContext.readOnlyRootFilesystem for " +
			"development, or sync into a writable volume (an emptyDir mounted at the target)."
	case ProblemNotRunning:
		return "The container is not running (it is starting, crashed, or restarting). " +
			"Check `kubectl get pods` and `kubectl logs --previous`; pets syncs again once a container runs."
	case ProblemNoContainer:
		return "The pod has no container of that name: check the container named in the service's sync rule " +
			"against the pod's (kubectl get pod POD -o jsonpath='{.spec.containers[*].name}')."
	case ProblemPodGone:
		return "The pod no longer exists: it was replaced (a rollout, a crash, a deletion). " +
			"pets syncs into its replacement once it runs."
	}
	return ""
}
