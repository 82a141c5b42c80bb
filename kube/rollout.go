package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// ErrRolloutStuck is what a [*RolloutError] unwraps to when no other cause is known.
var ErrRolloutStuck = errors.New("kube: rollout did not finish")

// RolloutError is a Deployment that did not finish rolling out in time, with what its pods
// are waiting for.
type RolloutError struct {
	Namespace, Name string
	Status          string     // the last rollout status, as kubectl rollout status words it
	Pods            []PodIssue // pods of the Deployment that are not ready, and why
	Err             error      // the deadline, or the progress deadline the Deployment reported
}

// PodIssue says why one pod is not ready: a reason such as ImagePullBackOff,
// ErrImageNeverPull, CrashLoopBackOff or Unschedulable, and a message.
type PodIssue struct {
	Pod     string
	Reason  string
	Message string
}

func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rollout of Deployment %s/%s did not finish: %v", e.Namespace, e.Name, e.Err)
	if e.Status != "" {
		fmt.Fprintf(&b, " (%s)", e.Status)
	}
	for _, p := range e.Pods {
		fmt.Fprintf(&b, "\n  pod %s: %s", p.Pod, p.Reason)
		if p.Message != "" {
			fmt.Fprintf(&b, ": %s", p.Message)
		}
	}
	return b.String()
}

func (e *RolloutError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return ErrRolloutStuck
}

// WaitRollout waits until every Deployment among objs has rolled out, as `kubectl rollout
// status` decides it: the controller has observed its generation, all replicas are updated,
// no old replica is left, and the updated ones are available. Other kinds are skipped.
// When timeout passes (or ctx ends) first, the error is a [*RolloutError] naming each stuck
// pod's reason (ImagePullBackOff, CrashLoopBackOff, Pending with the scheduler's message, ...).
func (c *Client) WaitRollout(ctx context.Context, objs []Object, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		if err := c.waitDeployment(ctx, o.Namespace, o.Name, timeout); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) waitDeployment(ctx context.Context, ns, name string, timeout time.Duration) error {
	ns = c.namespace(ns)
	deps := c.Clientset.AppsV1().Deployments(ns)
	var last *appsv1.Deployment
	status := ""
	// check reports whether d has rolled out; a progress deadline is an error.
	check := func(d *appsv1.Deployment) (bool, error) {
		last = d
		var done bool
		var err error
		status, done, err = deploymentStatus(d)
		return done, err
	}
	err := func() error {
		// Get, then watch from its resourceVersion; again whenever the watch ends (the API
		// server closes watches after a while). No informer: its reflector would log to
		// stderr when the deadline cuts a watch.
		for {
			d, err := deps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if done, err := check(d); done || err != nil {
				return err
			}
			w, err := deps.Watch(ctx, metav1.ListOptions{
				FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
				ResourceVersion: d.ResourceVersion,
			})
			if err != nil {
				return err
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Deleted {
					w.Stop()
					return fmt.Errorf("deployment %s/%s was deleted", ns, name)
				}
				d, ok := ev.Object.(*appsv1.Deployment)
				if !ok {
					continue // a watch error (e.g. resourceVersion too old): get again
				}
				if done, err := check(d); done || err != nil {
					w.Stop()
					return err
				}
			}
			w.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}()
	if err == nil {
		return nil
	}
	rerr := &RolloutError{Namespace: ns, Name: name, Status: status, Err: err}
	if ctx.Err() != nil {
		rerr.Err = fmt.Errorf("timed out after %v: %w", timeout, ctx.Err())
		if last == nil {
			rerr.Status = "the Deployment was never seen"
		}
	}
	if last != nil {
		// A fresh context: the waiting one has ended.
		qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer qcancel()
		rerr.Pods = c.stuckPods(qctx, last)
	}
	return rerr
}

// deploymentStatus is kubectl's DeploymentStatusViewer.
func deploymentStatus(d *appsv1.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the deployment controller to observe the new spec", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return c.Message, false, fmt.Errorf("deployment %s/%s exceeded its progress deadline", d.Namespace, d.Name)
		}
	}
	st := d.Status
	switch {
	case d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas:
		return fmt.Sprintf("%d of %d new replicas updated", st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return "rolled out", true, nil
}

// stuckPods lists the Deployment's pods that are not ready, with the reason. Errors leave
// the list short: it only decorates an error.
func (c *Client) stuckPods(ctx context.Context, d *appsv1.Deployment) []PodIssue {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	list, err := c.Clientset.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil
	}
	var issues []PodIssue
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if is, stuck := podIssue(p); stuck {
			issues = append(issues, is)
		}
	}
	slices.SortFunc(issues, func(a, b PodIssue) int { return strings.Compare(a.Pod, b.Pod) })
	return issues
}

// podIssue says why p is not ready; stuck is false for a ready pod.
func podIssue(p *corev1.Pod) (PodIssue, bool) {
	is := PodIssue{Pod: p.Name}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return is, false
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			is.Reason = "Pending: " + orDefault(c.Reason, "not scheduled")
			is.Message = c.Message
			return is, true
		}
	}
	statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "PodInitializing":
			is.Reason = cs.State.Waiting.Reason
			is.Message = fmt.Sprintf("container %s: %s", cs.Name, cs.State.Waiting.Message)
			if t := cs.LastTerminationState.Terminated; t != nil {
				is.Message += fmt.Sprintf(" (last exit code %d, %s)", t.ExitCode, orDefault(t.Reason, "Error"))
			}
			return is, true
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			is.Reason = orDefault(cs.State.Terminated.Reason, "Error")
			is.Message = fmt.Sprintf("container %s exited with code %d", cs.Name, cs.State.Terminated.ExitCode)
			return is, true
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil && !cs.Ready {
			is.Reason = "NotReady"
			is.Message = fmt.Sprintf("container %s runs but is not ready (its readiness probe fails?)", cs.Name)
			return is, true
		}
	}
	is.Reason = string(p.Status.Phase)
	if is.Reason == "" {
		is.Reason = "Pending"
	}
	for _, cs := range statuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			is.Message = fmt.Sprintf("container %s: %s", cs.Name, cs.State.Waiting.Reason)
		}
	}
	return is, true
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
