package kube

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

func TestDeploymentStatus(t *testing.T) {
	three := int32(3)
	dep := func(gen, observed int64, st appsv1.DeploymentStatus) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: &three},
			Status:     func() appsv1.DeploymentStatus { st.ObservedGeneration = observed; return st }(),
		}
	}
	for _, tc := range []struct {
		d      *appsv1.Deployment
		done   bool
		status string
		err    bool
	}{
		{dep(2, 1, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), false, "waiting for the deployment controller", false},
		{dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 3}), false, "1 of 3 new replicas updated", false},
		{dep(2, 2, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}), false, "1 old replicas pending termination", false},
		{dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}), false, "2 of 3 updated replicas available", false},
		{dep(2, 2, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}), true, "rolled out", false},
		{dep(2, 2, appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet web-1 has timed out progressing."}}}), false, "timed out progressing", true},
	} {
		status, done, err := deploymentStatus(tc.d)
		if done != tc.done || !strings.Contains(status, tc.status) || (err != nil) != tc.err {
			t.Errorf("deploymentStatus(%+v) = %q, %v, %v; want %q, %v, err %v", tc.d.Status, status, done, err, tc.status, tc.done, tc.err)
		}
	}
}

func TestPodIssue(t *testing.T) {
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1"},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:                 "app",
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
			}},
		},
	}
	is, stuck := podIssue(crash)
	if !stuck || is.Reason != "CrashLoopBackOff" || is.Message != "container app: back-off 10s restarting failed container (last exit code 137, OOMKilled)" {
		t.Errorf("crash loop: %+v, %v", is, stuck)
	}
	creating := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-2"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		}}},
	}
	if is, stuck := podIssue(creating); !stuck || is.Reason != "Pending" || is.Message != "container app: ContainerCreating" {
		t.Errorf("creating: %+v, %v", is, stuck)
	}
	ready := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	if _, stuck := podIssue(ready); stuck {
		t.Error("a ready pod is stuck")
	}
	err := &RolloutError{Namespace: "ns", Name: "web", Status: "0 of 1 updated replicas available",
		Err: errors.New("timed out after 1m0s"), Pods: []PodIssue{is}}
	want := "rollout of Deployment ns/web did not finish: timed out after 1m0s (0 of 1 updated replicas available)\n" +
		"  pod web-1: CrashLoopBackOff: container app: back-off 10s restarting failed container (last exit code 137, OOMKilled)"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 10; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(ds)
	want := Timings{N: 10, Min: time.Millisecond, Median: 5500 * time.Microsecond, P90: 9 * time.Millisecond, Max: 10 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if ds[0] != 10*time.Millisecond {
		t.Error("Summarize sorted its argument")
	}
}

func TestRouteClientGoLogs(t *testing.T) {
	var buf bytes.Buffer
	RouteClientGoLogs(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(klog.ClearLogger)
	klog.ErrorS(errors.New("boom"), "Failed to watch")
	klog.Flush()
	if !strings.Contains(buf.String(), "Failed to watch") || !strings.Contains(buf.String(), "boom") {
		t.Errorf("klog output not routed: %q", buf.String())
	}
}
