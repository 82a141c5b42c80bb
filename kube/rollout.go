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

// RolloutError is a Deployment, StatefulSet or DaemonSet that did not finish rolling out in
// time, with what its pods are waiting for.
type RolloutError struct {
	Kind            string // Deployment, StatefulSet or DaemonSet
	Namespace, Name string
	Status          string     // the last rollout status, as kubectl rollout status words it
	Pods            []PodIssue // pods of the object's selector that are not ready, and why
	Err             error      // the deadline, or the progress deadline a Deployment reported
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
	fmt.Fprintf(&b, "rollout of %s did not finish: %v", strings.TrimSpace(e.Kind+" "+e.Namespace+"/"+e.Name), e.Err)
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

// WaitRollout waits until every Deployment, StatefulSet and DaemonSet among objs has rolled
// out, as `kubectl rollout status` decides it. Other kinds are skipped. For each, the
// controller must first have observed the object's generation; then
//
//   - a Deployment has all replicas updated, no old replica left, and the updated ones
//     available (a reported progress deadline is an error at once);
//   - a StatefulSet has spec.replicas ready and, with the RollingUpdate strategy, the replicas
//     at or above its partition updated (all of them at partition 0); without rollingUpdate
//     parameters, its current revision is its update revision;
//   - a DaemonSet runs an updated pod on every node that should run one, all available.
//
// With the OnDelete strategy a StatefulSet or DaemonSet replaces a pod only when someone
// deletes it, so `kubectl rollout status` refuses to wait. WaitRollout instead waits until
// every replica is ready (StatefulSet) or every scheduled pod available (DaemonSet), whatever
// template it runs: pods from before the change keep the old spec until they are deleted.
//
// When timeout passes (or ctx ends) first, the error is a [*RolloutError] naming each stuck
// pod of the object's selector and its reason (ImagePullBackOff, CrashLoopBackOff, Pending
// with the scheduler's message, ...).
//
// report (may be nil) is told every [ReportEvery] while the wait goes on what it waits for
// ("the rollout of deployment/backend"), the rollout status and what the first pod that is
// not ready waits for; the timeout is the whole wait's, over all of objs.
func (c *Client) WaitRollout(ctx context.Context, objs []Object, timeout time.Duration, report func(Waiting)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := waiter{start: time.Now(), timeout: timeout, every: ReportEvery, report: report, stuck: c.stuckPods}
	apps := c.Clientset.AppsV1()
	for _, o := range objs {
		ns := c.namespace(o.Namespace)
		var err error
		switch o.Kind {
		case "Deployment":
			api := apps.Deployments(ns)
			err = waitRollout(ctx, w, rolloutKind[*appsv1.Deployment]{
				kind: o.Kind, get: api.Get, watch: api.Watch, status: deploymentStatus,
				selector: func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector },
			}, ns, o.Name)
		case "StatefulSet":
			api := apps.StatefulSets(ns)
			err = waitRollout(ctx, w, rolloutKind[*appsv1.StatefulSet]{
				kind: o.Kind, get: api.Get, watch: api.Watch, status: statefulSetStatus,
				selector: func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector },
			}, ns, o.Name)
		case "DaemonSet":
			api := apps.DaemonSets(ns)
			err = waitRollout(ctx, w, rolloutKind[*appsv1.DaemonSet]{
				kind: o.Kind, get: api.Get, watch: api.Watch, status: daemonSetStatus,
				selector: func(d *appsv1.DaemonSet) *metav1.LabelSelector { return d.Spec.Selector },
			}, ns, o.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// waiter is how a rollout wait reports and explains itself: when the whole wait began and
// its timeout, how often it reports and to whom (nil: not at all), and how it finds out
// what the pods of a selector wait for.
type waiter struct {
	start   time.Time
	timeout time.Duration
	every   time.Duration
	report  func(Waiting)
	stuck   func(ctx context.Context, ns string, sel *metav1.LabelSelector) []PodIssue
}

// rolloutKind is what waitRollout needs of one kind of workload: its typed client calls,
// kubectl's status viewer for it, and its pod selector.
type rolloutKind[T metav1.Object] struct {
	kind     string // Deployment, StatefulSet or DaemonSet
	get      func(context.Context, string, metav1.GetOptions) (T, error)
	watch    func(context.Context, metav1.ListOptions) (watch.Interface, error)
	status   func(T) (status string, done bool, err error)
	selector func(T) *metav1.LabelSelector
}

// waitRollout waits until k.status says the object ns/name has rolled out, reporting every
// w.every what it waits for.
func waitRollout[T metav1.Object](ctx context.Context, w waiter, k rolloutKind[T], ns, name string) error {
	var (
		last   T
		seen   bool
		status string
	)
	// check reports whether o has rolled out; a progress deadline is an error.
	check := func(o T) (bool, error) {
		last, seen = o, true
		var done bool
		var err error
		status, done, err = k.status(o)
		return done, err
	}
	var tick <-chan time.Time
	if w.report != nil {
		t := time.NewTicker(w.every)
		defer t.Stop()
		tick = t.C
	}
	what := "the rollout of " + strings.ToLower(k.kind) + "/" + name
	say := func() {
		elapsed := time.Since(w.start)
		st := status
		if !seen {
			st = "the " + k.kind + " was not seen yet"
		} else if w.stuck != nil {
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if is := Issues(w.stuck(qctx, ns, k.selector(last))); is != "" {
				st += "; " + is
			}
			cancel()
		}
		w.report(Waiting{What: what, Status: st, Elapsed: elapsed, Timeout: w.timeout})
	}
	err := func() error {
		// Get, then watch from its resourceVersion; again whenever the watch ends (the API
		// server closes watches after a while). No informer: its reflector would log to
		// stderr when the deadline cuts a watch.
		for {
			o, err := k.get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if done, err := check(o); done || err != nil {
				return err
			}
			wi, err := k.watch(ctx, metav1.ListOptions{
				FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
				ResourceVersion: o.GetResourceVersion(),
			})
			if err != nil {
				return err
			}
			done, err := func() (bool, error) {
				defer wi.Stop()
				for {
					select {
					case <-ctx.Done():
						return false, ctx.Err()
					case <-tick:
						say()
					case ev, ok := <-wi.ResultChan():
						if !ok {
							return false, nil // the watch ended: get again
						}
						if ev.Type == watch.Deleted {
							return false, fmt.Errorf("%s %s/%s was deleted", strings.ToLower(k.kind), ns, name)
						}
						o, ok := ev.Object.(T)
						if !ok {
							continue // a watch error (e.g. resourceVersion too old): get again
						}
						if done, err := check(o); done || err != nil {
							return done, err
						}
					}
				}
			}()
			if done || err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}()
	if err == nil {
		return nil
	}
	rerr := &RolloutError{Kind: k.kind, Namespace: ns, Name: name, Status: status, Err: err}
	if ctx.Err() != nil {
		rerr.Err = fmt.Errorf("timed out after %v: %w", w.timeout, ctx.Err())
		if !seen {
			rerr.Status = "the " + k.kind + " was never seen"
		}
	}
	if seen && w.stuck != nil {
		// A fresh context: the waiting one has ended.
		qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer qcancel()
		rerr.Pods = w.stuck(qctx, ns, k.selector(last))
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

// statefulSetStatus is kubectl's StatefulSetStatusViewer, except that with the OnDelete
// strategy (where kubectl gives up) all replicas ready is done.
func statefulSetStatus(s *appsv1.StatefulSet) (string, bool, error) {
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "waiting for the statefulset controller to observe the new spec", false, nil
	}
	spec, st := s.Spec, s.Status
	if spec.Replicas != nil && st.ReadyReplicas < *spec.Replicas {
		return fmt.Sprintf("%d of %d replicas ready", st.ReadyReplicas, *spec.Replicas), false, nil
	}
	if spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return "all replicas ready (OnDelete: pods keep their spec until deleted)", true, nil
	}
	if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
		if spec.Replicas != nil && ru.Partition != nil && st.UpdatedReplicas < *spec.Replicas-*ru.Partition {
			return fmt.Sprintf("%d of %d new replicas updated (partition %d)", st.UpdatedReplicas, *spec.Replicas-*ru.Partition, *ru.Partition), false, nil
		}
		return "rolled out", true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("%d replicas at the update revision %s, others still at %s", st.UpdatedReplicas, st.UpdateRevision, st.CurrentRevision), false, nil
	}
	return "rolled out", true, nil
}

// daemonSetStatus is kubectl's DaemonSetStatusViewer, except that with the OnDelete
// strategy (where kubectl gives up) every scheduled pod available is done.
func daemonSetStatus(d *appsv1.DaemonSet) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the daemonset controller to observe the new spec", false, nil
	}
	st := d.Status
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		if st.NumberAvailable < st.DesiredNumberScheduled {
			return fmt.Sprintf("%d of %d pods available", st.NumberAvailable, st.DesiredNumberScheduled), false, nil
		}
		return "all pods available (OnDelete: pods keep their spec until deleted)", true, nil
	}
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d new pods updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d updated pods available", st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return "rolled out", true, nil
}

// stuckPods lists the pods of sel in ns that are not ready, with the reason. Errors leave
// the list short: it only decorates an error.
func (c *Client) stuckPods(ctx context.Context, ns string, sel *metav1.LabelSelector) []PodIssue {
	if sel == nil {
		return nil // would select every pod of the namespace
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil
	}
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
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
