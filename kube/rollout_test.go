package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/windmilleng/pets/internal/testcluster"
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

func TestStatefulSetStatus(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	rolling := func(partition *int32) appsv1.StatefulSetUpdateStrategy {
		return appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}}
	}
	sts := func(gen, observed int64, strategy appsv1.StatefulSetUpdateStrategy, st appsv1.StatefulSetStatus) *appsv1.StatefulSet {
		st.ObservedGeneration = observed
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", Generation: gen},
			Spec:       appsv1.StatefulSetSpec{Replicas: i32(3), UpdateStrategy: strategy},
			Status:     st,
		}
	}
	onDelete := appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	noParams := appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}
	for _, tc := range []struct {
		desc   string
		s      *appsv1.StatefulSet
		done   bool
		status string
	}{
		{"never observed", sts(1, 0, rolling(i32(0)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3}), false, "waiting for the statefulset controller"},
		{"new spec not observed", sts(2, 1, rolling(i32(0)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3}), false, "waiting for the statefulset controller"},
		{"not ready", sts(2, 2, rolling(i32(0)), appsv1.StatefulSetStatus{ReadyReplicas: 2, UpdatedReplicas: 3}), false, "2 of 3 replicas ready"},
		{"ready, not updated", sts(2, 2, rolling(i32(0)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 2}), false, "2 of 3 new replicas updated (partition 0)"},
		{"ready, updated", sts(2, 2, rolling(i32(0)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3}), true, "rolled out"},
		{"partition 2: one updated is enough", sts(2, 2, rolling(i32(2)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}), true, "rolled out"},
		{"partition 1: one of two", sts(2, 2, rolling(i32(1)), appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1}), false, "1 of 2 new replicas updated (partition 1)"},
		{"no rolling parameters: revisions differ", sts(2, 2, noParams, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 1, CurrentRevision: "db-1", UpdateRevision: "db-2"}), false, "others still at db-1"},
		{"no rolling parameters: revisions equal", sts(2, 2, noParams, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "db-2", UpdateRevision: "db-2"}), true, "rolled out"},
		{"OnDelete: not ready", sts(2, 2, onDelete, appsv1.StatefulSetStatus{ReadyReplicas: 2}), false, "2 of 3 replicas ready"},
		{"OnDelete: ready, old revision", sts(2, 2, onDelete, appsv1.StatefulSetStatus{ReadyReplicas: 3, UpdatedReplicas: 0, CurrentRevision: "db-1", UpdateRevision: "db-2"}), true, "OnDelete"},
		{"OnDelete: never observed", sts(1, 0, onDelete, appsv1.StatefulSetStatus{}), false, "waiting for the statefulset controller"},
	} {
		status, done, err := statefulSetStatus(tc.s)
		if done != tc.done || !strings.Contains(status, tc.status) || err != nil {
			t.Errorf("%s: statefulSetStatus = %q, %v, %v; want %q, %v", tc.desc, status, done, err, tc.status, tc.done)
		}
	}
}

func TestDaemonSetStatus(t *testing.T) {
	ds := func(gen, observed int64, strategy appsv1.DaemonSetUpdateStrategyType, st appsv1.DaemonSetStatus) *appsv1.DaemonSet {
		st.ObservedGeneration = observed
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent", Generation: gen},
			Spec:       appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: strategy}},
			Status:     st,
		}
	}
	rolling, onDelete := appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType
	for _, tc := range []struct {
		desc   string
		d      *appsv1.DaemonSet
		done   bool
		status string
	}{
		{"never observed", ds(1, 0, rolling, appsv1.DaemonSetStatus{}), false, "waiting for the daemonset controller"},
		{"not updated", ds(2, 2, rolling, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 2, NumberAvailable: 3}), false, "2 of 3 new pods updated"},
		{"not available", ds(2, 2, rolling, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}), false, "2 of 3 updated pods available"},
		{"rolled out", ds(2, 2, rolling, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}), true, "rolled out"},
		{"no node to run on", ds(1, 1, rolling, appsv1.DaemonSetStatus{}), true, "rolled out"},
		{"OnDelete: not available", ds(2, 2, onDelete, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberAvailable: 1}), false, "1 of 3 pods available"},
		{"OnDelete: available, not updated", ds(2, 2, onDelete, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, UpdatedNumberScheduled: 0, NumberAvailable: 3}), true, "OnDelete"},
		{"OnDelete: new spec not observed", ds(2, 1, onDelete, appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberAvailable: 3}), false, "waiting for the daemonset controller"},
	} {
		status, done, err := daemonSetStatus(tc.d)
		if done != tc.done || !strings.Contains(status, tc.status) || err != nil {
			t.Errorf("%s: daemonSetStatus = %q, %v, %v; want %q, %v", tc.desc, status, done, err, tc.status, tc.done)
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
	err := &RolloutError{Kind: "Deployment", Namespace: "ns", Name: "web", Status: "0 of 1 updated replicas available",
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

// setsManifest is a headless Service and a StatefulSet "db" (two replicas, RollingUpdate), a
// StatefulSet "ondel" (one replica, OnDelete) and a DaemonSet "agent", all of the busybox app
// with readyProbe and VERSION=version in the environment. Each object's pods are
// labelled app=<its name>.
func setsManifest(version string) string {
	pod := func(name string) string {
		return fmt.Sprintf(`  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: %[2]s
        imagePullPolicy: Never
        env: [{name: VERSION, value: "%[3]s"}]%[4]s
`, name, appImage, version, readyProbe)
	}
	return `apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
` + pod("db") + `---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ondel}
spec:
  serviceName: db
  replicas: 1
  updateStrategy: {type: OnDelete}
` + pod("ondel") + `---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
` + pod("agent")
}

// livePods lists the pods of selector sel in ns that are not being deleted.
func livePods(t *testing.T, c *Client, ns, sel string) []corev1.Pod {
	t.Helper()
	list, err := c.Clientset.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			pods = append(pods, p)
		}
	}
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podVersion(p *corev1.Pod) string {
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == "VERSION" {
			return e.Value
		}
	}
	return ""
}

// checkPods fails unless sel in ns has exactly n live pods, all Ready and at version.
func checkPods(t *testing.T, c *Client, ns, sel string, n int, version string) []corev1.Pod {
	t.Helper()
	pods := livePods(t, c, ns, sel)
	if len(pods) != n {
		t.Errorf("%s: %d pods, want %d", sel, len(pods), n)
	}
	for i := range pods {
		if p := &pods[i]; !podReady(p) || podVersion(p) != version {
			t.Errorf("%s: pod %s ready %v at VERSION %q; want ready at %q", sel, p.Name, podReady(p), podVersion(p), version)
		}
	}
	return pods
}

// TestRolloutStatefulSetDaemonSet: WaitRollout returns once the pods of a StatefulSet and a
// DaemonSet are Ready, on creation and again after a template change; with OnDelete it
// returns once the old pods are ready, without replacing them.
func TestRolloutStatefulSetDaemonSet(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rollout := func(version string) {
		t.Helper()
		objs, err := c.Apply(ctx, []byte(setsManifest(version)), ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 4 {
			t.Fatalf("applied %v", objs)
		}
		if err := c.WaitRollout(ctx, objs, 90*time.Second, nil); err != nil {
			t.Fatalf("WaitRollout at version %s: %v", version, err)
		}
	}
	nodes := func() int {
		t.Helper()
		ds, err := c.Clientset.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Status.DesiredNumberScheduled < 1 {
			t.Fatalf("DaemonSet agent should run on %d nodes", ds.Status.DesiredNumberScheduled)
		}
		return int(ds.Status.DesiredNumberScheduled)
	}

	rollout("1")
	checkPods(t, c, ns, "app=db", 2, "1")
	ondel := checkPods(t, c, ns, "app=ondel", 1, "1")
	checkPods(t, c, ns, "app=agent", nodes(), "1")
	if t.Failed() {
		t.FailNow()
	}

	// A new template: the RollingUpdate StatefulSet and the DaemonSet replace their pods and
	// WaitRollout waits for the replacements; the OnDelete StatefulSet keeps its pod.
	rollout("2")
	checkPods(t, c, ns, "app=db", 2, "2")
	checkPods(t, c, ns, "app=agent", nodes(), "2")
	if again := checkPods(t, c, ns, "app=ondel", 1, "1"); len(again) == 1 && again[0].UID != ondel[0].UID {
		t.Errorf("OnDelete pod replaced: %s, was %s", again[0].UID, ondel[0].UID)
	}
	sts, err := c.Clientset.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range livePods(t, c, ns, "app=db") {
		if h := p.Labels["controller-revision-hash"]; h != sts.Status.UpdateRevision {
			t.Errorf("pod %s at revision %s, want the update revision %s", p.Name, h, sts.Status.UpdateRevision)
		}
	}
}

// TestRolloutStuckStatefulSetDaemonSet: a StatefulSet (RollingUpdate or OnDelete) or a
// DaemonSet whose image cannot run gives a RolloutError naming the kind, the object and its
// pod's reason.
func TestRolloutStuckStatefulSetDaemonSet(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel) // after the parallel subtests
	const image = "pets.local/does-not-exist:1"
	manifest := strings.ReplaceAll(setsManifest("1"), appImage, image)
	objs, err := c.Apply(ctx, []byte(manifest), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Kind == "Service" {
			continue
		}
		t.Run(o.Kind+"/"+o.Name, func(t *testing.T) {
			t.Parallel()
			err := c.WaitRollout(ctx, []Object{o}, 20*time.Second, nil)
			var re *RolloutError
			if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("WaitRollout(%s) = %v, want a *RolloutError after the deadline", o, err)
			}
			t.Logf("%v", err)
			if re.Kind != o.Kind || re.Namespace != ns || re.Name != o.Name || re.Status == "" {
				t.Errorf("error for %s %s/%s with status %q, want %s", re.Kind, re.Namespace, re.Name, re.Status, o)
			}
			if want := "rollout of " + o.String() + " did not finish"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("message %q, want it to start %q", err, want)
			}
			if len(re.Pods) != 1 || !strings.HasPrefix(re.Pods[0].Pod, o.Name+"-") ||
				re.Pods[0].Reason != "ErrImageNeverPull" || !strings.Contains(re.Pods[0].Message, image) {
				t.Fatalf("pods = %+v, want one %s-* with ErrImageNeverPull for %s", re.Pods, o.Name, image)
			}
			if !strings.Contains(err.Error(), "\n  pod "+re.Pods[0].Pod+": ErrImageNeverPull: ") {
				t.Errorf("message %q does not name the pod and its reason", err)
			}
		})
	}
}
