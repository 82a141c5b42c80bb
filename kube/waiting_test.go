package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// fakeDeployment is a Deployment kind whose get returns d and whose watch is w:
// waitRollout without a cluster.
func fakeDeployment(d *appsv1.Deployment, w watch.Interface) rolloutKind[*appsv1.Deployment] {
	return rolloutKind[*appsv1.Deployment]{
		kind: "Deployment",
		get: func(context.Context, string, metav1.GetOptions) (*appsv1.Deployment, error) {
			return d.DeepCopy(), nil
		},
		watch:    func(context.Context, metav1.ListOptions) (watch.Interface, error) { return w, nil },
		status:   deploymentStatus,
		selector: func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector },
	}
}

func oneReplica(available int32) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 1, ResourceVersion: "7"},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: available},
	}
}

var notReady = []PodIssue{{Pod: "web-1", Reason: "NotReady", Message: "container app runs but is not ready (its readiness probe fails?)"}}

func stuckStub(context.Context, string, *metav1.LabelSelector) []PodIssue { return notReady }

// A rollout wait says every interval what it waits for and how it stands,
// with what the first pod that is not ready waits for, until it is done.
func TestWaitRolloutReportsWhileItWaits(t *testing.T) {
	fw := watch.NewFake()
	reports := make(chan Waiting, 10)
	var got []Waiting
	w := waiter{start: time.Now(), timeout: time.Minute, every: 10 * time.Millisecond, stuck: stuckStub,
		report: func(r Waiting) { reports <- r }}
	done := make(chan error, 1)
	go func() { done <- waitRollout(context.Background(), w, fakeDeployment(oneReplica(0), fw), "ns", "web") }()
	for len(got) < 3 {
		select {
		case r := <-reports:
			got = append(got, r)
		case err := <-done:
			t.Fatalf("waitRollout returned %v before it was done", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no report within 10s")
		}
	}
	fw.Modify(oneReplica(1)) // rolled out
	if err := <-done; err != nil {
		t.Fatalf("waitRollout = %v, want nil once rolled out", err)
	}
	for i, r := range got {
		if r.What != "the rollout of deployment/web" || r.Timeout != time.Minute ||
			r.Status != "0 of 1 updated replicas available; pod web-1: NotReady (container app runs but is not ready (its readiness probe fails?))" {
			t.Errorf("report %d = %+v", i, r)
		}
		if i > 0 && r.Elapsed <= got[i-1].Elapsed {
			t.Errorf("report %d: elapsed %v after %v", i, r.Elapsed, got[i-1].Elapsed)
		}
	}
	fw.Stop()
}

// A wait that times out says what it waited for: the object, its last
// status and its stuck pods.
func TestWaitRolloutTimeoutSaysWhat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w := waiter{start: time.Now(), timeout: 50 * time.Millisecond, every: time.Hour, stuck: stuckStub, report: func(Waiting) {}}
	err := waitRollout(ctx, w, fakeDeployment(oneReplica(0), watch.NewFake()), "ns", "web")
	var re *RolloutError
	if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waitRollout = %v, want a *RolloutError for the deadline", err)
	}
	for _, want := range []string{"rollout of Deployment ns/web did not finish: timed out after 50ms", "(0 of 1 updated replicas available)", "pod web-1: NotReady"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestWaitingString(t *testing.T) {
	for _, tc := range []struct {
		w    Waiting
		want string
	}{
		{Waiting{What: "the rollout of deployment/backend", Status: "0 of 1 updated replicas available", Elapsed: 10*time.Second + 300*time.Millisecond, Timeout: 5 * time.Minute},
			"waiting for the rollout of deployment/backend: 0 of 1 updated replicas available (10s of 5m0s)"},
		{Waiting{What: "a ready pod of app=web", Elapsed: 25 * time.Millisecond, Timeout: 100 * time.Millisecond},
			"waiting for a ready pod of app=web (25ms of 100ms)"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := Issues(append(notReady, PodIssue{Pod: "web-2", Reason: "Pending"}, PodIssue{Pod: "web-3"})); !strings.HasSuffix(got, "(and 2 more pods)") || !strings.HasPrefix(got, "pod web-1: NotReady (") {
		t.Errorf("Issues = %q", got)
	}
}
