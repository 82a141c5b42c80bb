package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReportEvery is how often a wait that takes a while ([Client.WaitRollout], a seed's wait
// for a ready pod in package sync) says what it waits for.
const ReportEvery = 5 * time.Second

// Waiting is a wait still under way, as reported every [ReportEvery]: what it waits for,
// how that stands, how long it has waited and how long it may.
type Waiting struct {
	What    string        // "the rollout of deployment/backend"
	Status  string        // "0 of 1 updated replicas available; pod backend-6d9f-x: NotReady ..."
	Elapsed time.Duration // since the wait began
	Timeout time.Duration // when it gives up
}

// String is the line a wait prints: "waiting for the rollout of deployment/backend: 0 of 1
// updated replicas available (10s of 5m0s)". Durations are in whole seconds once the
// timeout is a second or more.
func (w Waiting) String() string {
	unit := time.Second
	if w.Timeout < time.Second {
		unit = time.Millisecond
	}
	s := "waiting for " + w.What
	if w.Status != "" {
		s += ": " + w.Status
	}
	return fmt.Sprintf("%s (%s of %s)", s, w.Elapsed.Round(unit), w.Timeout.Round(unit))
}

// NotReady says why the pods of sel that are not ready are not (a reason such as
// ContainerCreating, NotReady, ImagePullBackOff, with a message), sorted by pod name.
// A selector that does not parse is an error; ready pods are left out.
func (c *Client) NotReady(ctx context.Context, sel PodSelector) ([]PodIssue, error) {
	ls, err := metav1.ParseToLabelSelector(sel.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", sel.Selector, err)
	}
	return c.stuckPods(ctx, c.namespace(sel.Namespace), ls), nil
}

// Issues says what the first of issues waits for, and how many more wait: "pod web-x:
// Pending: container app: ContainerCreating (and 2 more pods)"; "" for none.
func Issues(issues []PodIssue) string {
	if len(issues) == 0 {
		return ""
	}
	p := issues[0]
	s := "pod " + p.Pod + ": " + p.Reason
	if p.Message != "" {
		s += " (" + strings.TrimSpace(p.Message) + ")"
	}
	switch n := len(issues) - 1; n {
	case 0:
	case 1:
		s += " (and 1 more pod)"
	default:
		s += fmt.Sprintf(" (and %d more pods)", n)
	}
	return s
}
