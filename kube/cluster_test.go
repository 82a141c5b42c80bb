package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/windmilleng/pets/internal/testcluster"
)

// Tests against the project's real cluster (make cluster-up). They skip without it, and
// fail under CI=true.

const (
	appImage   = "pets.local/busybox-app:1"
	notarImage = "pets.local/notar-http:1"
)

// clusterClient connects to the test cluster, through the same loading and context check
// pets itself uses.
func clusterClient(t testing.TB) *Client {
	t.Helper()
	path := testcluster.Kubeconfig(t)
	cfg, err := LoadConfig(LoadOptions{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckContext(cfg.Context, cfg.Server, nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readyProbe makes Ready mean that the busybox app's httpd answers (pod networking is
// loopback-only, so an exec probe, not an HTTP one). It is a container's field.
const readyProbe = `
        readinessProbe:
          exec: {command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]}
          periodSeconds: 1`

// appManifest is a one-replica Deployment named name of image, labelled app=name. The
// busybox image gets readyProbe, and a second container running as uid 1000.
func appManifest(name, image string) string {
	probe, extra := "", ""
	if image == appImage {
		probe = readyProbe
		extra = `
      - name: user
        image: ` + appImage + `
        imagePullPolicy: Never
        command: ["sleep", "3600"]
        securityContext: {runAsUser: 1000, runAsGroup: 1000}`
	}
	return fmt.Sprintf(`# a comment before the first document
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: %[2]s
        imagePullPolicy: Never
        ports: [{containerPort: 8080}]%[3]s%[4]s
---
`, name, image, probe, extra)
}

// deploy applies manifest in ns and waits for the rollout.
func deploy(t testing.TB, c *Client, ns, manifest string) []Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	objs, err := c.Apply(ctx, []byte(manifest), ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRollout(ctx, objs, 60*time.Second, nil); err != nil {
		t.Fatal(err)
	}
	return objs
}

func onePod(t testing.TB, c *Client, sel PodSelector) Pod {
	t.Helper()
	pods, err := c.ReadyPods(context.Background(), sel)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 {
		t.Fatalf("ReadyPods(%s) = %v, want one pod", sel, pods)
	}
	return pods[0]
}

// execOut runs cmd and returns its stdout.
func execOut(t testing.TB, c *Client, pod Pod, cmd ...string) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Exec(ctx, pod, cmd, Streams{Stdout: &out}); err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	return out.String()
}

// syncInto runs one sync: the tar of files under root, plus deletes, into dir of pod.
func syncInto(ctx context.Context, c *Client, pod Pod, root, dir string, files, deletes []string) error {
	argv, err := SyncCommand(dir, deletes)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTar(pw, root, files)) }()
	err = c.Exec(ctx, pod, argv, Streams{Stdin: pr})
	pr.CloseWithError(errors.New("exec ended")) // unblocks the writer if exec ended early
	return err
}

func TestClusterContextIsLocal(t *testing.T) {
	c := clusterClient(t)
	if c.Config.Context != testcluster.Context || c.Config.Server != "https://127.0.0.1:6443" || c.Config.Namespace != "default" {
		t.Errorf("config = context %q server %q namespace %q", c.Config.Context, c.Config.Server, c.Config.Namespace)
	}
	if !IsLocalContext(c.Config.Context, c.Config.Server) {
		t.Errorf("%s is not local", c.Config.Context)
	}
}

func TestApplyExecSync(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	objs := deploy(t, c, ns, appManifest("web", appImage))
	if len(objs) != 1 || objs[0].String() != "Deployment "+ns+"/web" || objs[0].Generation != 1 {
		t.Fatalf("applied %+v", objs)
	}
	// Applying the same manifest again changes nothing (server-side apply, same manager).
	again, err := c.Apply(ctx, []byte(appManifest("web", appImage)), ns)
	if err != nil || len(again) != 1 || again[0].Generation != 1 {
		t.Errorf("re-apply: %+v, %v; want generation 1", again, err)
	}

	t.Run("apply a List, conflicts forced", func(t *testing.T) {
		cms := c.Clientset.CoreV1().ConfigMaps(ns)
		list := "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg}, data: {k: one}}\n"
		objs, err := c.Apply(ctx, []byte(list), ns)
		if err != nil || len(objs) != 1 || objs[0].String() != "ConfigMap "+ns+"/cfg" {
			t.Fatalf("Apply = %v, %v", objs, err)
		}
		// Someone else (kubectl edit, say) changes the field pets owns...
		cm, err := cms.Get(ctx, "cfg", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data["k"] = "edited"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "someone-else"}); err != nil {
			t.Fatal(err)
		}
		// ... and pets' next apply takes it back instead of failing with a conflict.
		if _, err := c.Apply(ctx, []byte(strings.Replace(list, "k: one", "k: two", 1)), ns); err != nil {
			t.Fatal(err)
		}
		if cm, err := cms.Get(ctx, "cfg", metav1.GetOptions{}); err != nil || cm.Data["k"] != "two" {
			t.Errorf("after the forced apply: %v, %v", cm.Data, err)
		}
	})

	sel := PodSelector{Namespace: ns, Selector: "app=web"}
	pod := onePod(t, c, sel)
	if pod.Container != "app" || !pod.Ready || !pod.Running || pod.UID == "" || !strings.HasPrefix(pod.ContainerID, "containerd://") {
		t.Errorf("pod = %+v", pod)
	}
	if _, err := c.Pods(ctx, PodSelector{Namespace: ns, Selector: "app=web", Container: "nope"}); !errors.Is(err, ErrNoContainer) || !strings.Contains(err.Error(), "they have: app, user") {
		t.Errorf("Pods with a missing container: %v", err)
	}

	t.Run("tar through exec, read back", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "sub/hello.txt"), "hello from the test\n", 0o640)
		writeFile(t, filepath.Join(root, "run.sh"), "#!/bin/sh\necho ran\n", 0o755)
		if runtime.GOOS != "windows" {
			must(t, os.Symlink("sub/hello.txt", filepath.Join(root, "link")))
		}
		if err := syncInto(ctx, c, pod, root, "/www/synced", []string{"sub/hello.txt", "run.sh", "link"}, nil); err != nil {
			t.Fatal(Advise(err))
		}
		if got := execOut(t, c, pod, "cat", "/www/synced/sub/hello.txt"); got != "hello from the test\n" {
			t.Errorf("content = %q", got)
		}
		if got := execOut(t, c, pod, "stat", "-c", "%a %u", "/www/synced/sub/hello.txt", "/www/synced/run.sh"); got != "640 0\n755 0\n" {
			t.Errorf("modes and owners = %q, want 640 0 / 755 0", got)
		}
		if got := execOut(t, c, pod, "readlink", "/www/synced/link"); got != "sub/hello.txt\n" {
			t.Errorf("link = %q", got)
		}
		if got := execOut(t, c, pod, "/www/synced/run.sh"); got != "ran\n" {
			t.Errorf("run.sh = %q", got)
		}

		// A deletion, with nothing to extract: the file goes, the rest stays.
		if err := syncInto(ctx, c, pod, root, "/www/synced", nil, []string{"sub/hello.txt"}); err != nil {
			t.Fatal(Advise(err))
		}
		err := c.Exec(ctx, pod, []string{"test", "-e", "/www/synced/sub/hello.txt"}, Streams{})
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 1 {
			t.Errorf("deleted file still there? test -e: %v", err)
		}
		if got := execOut(t, c, pod, "cat", "/www/synced/run.sh"); got != "#!/bin/sh\necho ran\n" {
			t.Errorf("run.sh after the deletion = %q", got)
		}
	})

	t.Run("exit code and stderr", func(t *testing.T) {
		var stderr bytes.Buffer
		err := c.Exec(ctx, pod, []string{"sh", "-c", "echo out; echo oops >&2; exit 3"}, Streams{Stderr: &stderr})
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 3 || exit.Stderr != "oops\n" || exit.Pod.Name != pod.Name {
			t.Fatalf("err = %#v, want exit code 3 with stderr", err)
		}
		if stderr.String() != "oops\n" {
			t.Errorf("stderr streamed %q", stderr.String())
		}
		if want := "exec sh -c 'echo out; echo oops >&2; exit 3' in pod " + ns + "/" + pod.Name + " container app: exit code 3: oops"; err.Error() != want {
			t.Errorf("message %q\nwant    %q", err, want)
		}
	})

	t.Run("streamed stdin and stdout", func(t *testing.T) {
		in := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		var out bytes.Buffer
		if err := c.Exec(ctx, pod, []string{"cat"}, Streams{Stdin: bytes.NewReader(in), Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Errorf("cat returned %d bytes, want %d identical", out.Len(), len(in))
		}
	})

	t.Run("advice", func(t *testing.T) {
		user := pod
		user.Container = "user" // uid 1000: cannot write /www (root's, 0755)
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "f.txt"), "x\n", 0o644)
		for _, tc := range []struct {
			desc    string
			run     func() error
			problem Problem
			hint    string
		}{
			{"missing command", func() error { return c.Exec(ctx, pod, []string{"nosuchcmd"}, Streams{}) }, ProblemMissingCommand, `no "nosuchcmd" on its PATH`},
			{"missing command via sh", func() error { return c.Exec(ctx, pod, []string{"sh", "-c", "nosuchcmd"}, Streams{}) }, ProblemMissingCommand, `no "nosuchcmd" on its PATH`},
			{"not executable via sh (126)", func() error { return c.Exec(ctx, pod, []string{"sh", "-c", "/www/index.html"}, Streams{}) }, ProblemNotExecutable, "exit 126"},
			{"not executable", func() error { return c.Exec(ctx, pod, []string{"/www/index.html"}, Streams{}) }, ProblemNotExecutable, "cannot be executed"},
			{"killed (137)", func() error { return c.Exec(ctx, pod, []string{"sh", "-c", "kill -9 $$"}, Streams{}) }, ProblemKilled, "out of memory"},
			{"permission denied", func() error { return syncInto(ctx, c, user, root, "/www", []string{"f.txt"}, nil) }, ProblemPermission, "may not write"},
			{"permission denied on mkdir", func() error { return syncInto(ctx, c, user, root, "/www/new", []string{"f.txt"}, nil) }, ProblemPermission, "may not write"},
			{"no such pod", func() error {
				return c.Exec(ctx, Pod{Namespace: ns, Name: "nope", Container: "app"}, []string{"true"}, Streams{})
			}, ProblemPodGone, "no longer exists"},
			{"no such container", func() error {
				p := pod
				p.Container = "nope"
				return c.Exec(ctx, p, []string{"true"}, Streams{})
			}, ProblemNoContainer, "no container of that name"},
		} {
			err := tc.run()
			if err == nil {
				t.Errorf("%s: no error", tc.desc)
				continue
			}
			var adv *AdviceError
			if !errors.As(Advise(err), &adv) || adv.Problem != tc.problem || !strings.Contains(adv.Hint, tc.hint) {
				t.Errorf("%s: Advise(%v) = %v, want problem %s with hint %q", tc.desc, err, Advise(err), tc.problem, tc.hint)
				continue
			}
			if !errors.Is(adv, err) {
				t.Errorf("%s: advice does not wrap the error", tc.desc)
			}
			t.Logf("%s: %v", tc.desc, adv)
		}
	})
}

func TestExecNoTarImage(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deploy(t, c, ns, appManifest("notar", notarImage))
	pod := onePod(t, c, PodSelector{Namespace: ns, Selector: "app=notar"})

	err := c.Exec(ctx, pod, []string{"tar", "-x", "-f", "-", "-C", "/www"}, Streams{Stdin: strings.NewReader("")})
	var adv *AdviceError
	if !errors.As(Advise(err), &adv) || adv.Problem != ProblemMissingTar || adv.Missing != "tar" {
		t.Fatalf("exec tar: Advise(%v) = %v, want %s", err, Advise(err), ProblemMissingTar)
	}
	for _, s := range []string{"has no tar", "Add tar to the image", "full restart"} {
		if !strings.Contains(adv.Error(), s) {
			t.Errorf("advice %q lacks %q", adv, s)
		}
	}
	t.Logf("advice: %v", adv)

	// A whole sync needs a shell first.
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "f.txt"), "x\n", 0o644)
	err = syncInto(ctx, c, pod, root, "/www", []string{"f.txt"}, nil)
	if !errors.As(Advise(err), &adv) || adv.Problem != ProblemMissingShell || adv.Missing != "sh" {
		t.Fatalf("sync: Advise(%v) = %v, want %s", err, Advise(err), ProblemMissingShell)
	}
	t.Logf("advice: %v", adv)
}

// httpGet fetches url on a fresh connection.
func httpGet(ctx context.Context, url string) (string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// nextEvent waits for the next event of w with a deadline.
func nextEvent(t *testing.T, w *PodWatch, d time.Duration) PodEvent {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("pod watch closed")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no pod event within %v", d)
	}
	panic("unreachable")
}

func TestPortForwardFollowsReplacement(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deploy(t, c, ns, appManifest("fwd", appImage))
	sel := PodSelector{Namespace: ns, Selector: "app=fwd"}

	watch, err := c.WatchPods(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	first := nextEvent(t, watch, 10*time.Second)
	if first.Type != PodStarted {
		t.Fatalf("first event %v %v, want started", first.Type, first.Pod)
	}
	if ev := nextEvent(t, watch, 10*time.Second); ev.Type != PodReady || ev.Pod.UID != first.Pod.UID {
		t.Fatalf("second event %v %v, want ready of %s", ev.Type, ev.Pod, first.Pod.UID)
	}

	var log syncBuffer
	fwd, err := c.PortForward(ctx, ForwardOptions{Pods: sel, RemotePort: 8080, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := fwd.Close(); err != nil {
			t.Error(err)
		}
		t.Logf("port-forward log:\n%s", log.String())
	}()
	if !strings.HasPrefix(fwd.Addr(), "127.0.0.1:") {
		t.Fatalf("listening on %s", fwd.Addr())
	}
	target, changed := fwd.Target()
	if target.UID != first.Pod.UID {
		t.Fatalf("target %v, want %v", target, first.Pod)
	}
	base := "http://" + fwd.Addr()
	if got, err := httpGet(ctx, base+"/index.html"); err != nil || got != "hello from "+appImage+"\n" {
		t.Fatalf("GET index.html = %q, %v", got, err)
	}
	// Many connections at once through one pod connection.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := httpGet(ctx, base+"/index.html"); err != nil || got != "hello from "+appImage+"\n" {
				errs <- fmt.Errorf("GET = %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Replace the pod: the watch sees it go and a new one start; the forward follows.
	if err := c.Clientset.CoreV1().Pods(ns).Delete(ctx, first.Pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var gone, started, ready bool
	var replacement Pod
	for !(gone && started && ready) {
		ev := nextEvent(t, watch, 30*time.Second)
		t.Logf("pod event: %v %s uid %s", ev.Type, ev.Pod, ev.Pod.UID)
		switch {
		case ev.Type == PodGone && ev.Pod.UID == first.Pod.UID:
			gone = true
		case ev.Type == PodStarted && ev.Pod.UID != first.Pod.UID:
			started, replacement = true, ev.Pod
		case ev.Type == PodReady && ev.Pod.UID == replacement.UID:
			ready = true
		default:
			t.Errorf("unexpected event %v %v", ev.Type, ev.Pod)
		}
	}
	for target.UID != replacement.UID {
		select {
		case <-changed:
			target, changed = fwd.Target()
		case <-time.After(30 * time.Second):
			t.Fatalf("forward still targets %v, not the replacement %v", target, replacement)
		}
	}
	if got, err := httpGet(ctx, base+"/index.html"); err != nil || got != "hello from "+appImage+"\n" {
		t.Fatalf("GET index.html after the replacement = %q, %v", got, err)
	}
	// The replacement holds only its image: a sync into it, then read back through the forward.
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "new.txt"), "synced into the replacement\n", 0o644)
	if err := syncInto(ctx, c, replacement, root, "/www", []string{"new.txt"}, nil); err != nil {
		t.Fatal(Advise(err))
	}
	if got, err := httpGet(ctx, base+"/new.txt"); err != nil || got != "synced into the replacement\n" {
		t.Fatalf("GET new.txt = %q, %v", got, err)
	}
}

func TestPortForwardCloseStopsEverything(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	deploy(t, c, ns, appManifest("closing", appImage))
	ctx, cancel := context.WithCancel(context.Background())
	fwd, err := c.PortForward(ctx, ForwardOptions{Pods: PodSelector{Namespace: ns, Selector: "app=closing"}, RemotePort: 8080})
	if err != nil {
		t.Fatal(err)
	}
	addr := fwd.Addr()
	if _, err := httpGet(context.Background(), "http://"+addr+"/index.html"); err != nil {
		t.Fatal(err)
	}
	cancel() // the context ends it; Close waits
	if err := fwd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := httpGet(context.Background(), "http://"+addr+"/index.html"); err == nil {
		t.Error("port still forwards after Close")
	}
	if _, ok := <-fwd.watch.Events(); ok {
		t.Error("pod watch still open after Close")
	}

	// No ready pod: PortForward gives up when its context ends.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = c.PortForward(ctx2, ForwardOptions{Pods: PodSelector{Namespace: ns, Selector: "app=none"}, RemotePort: 8080})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no ready pod") {
		t.Errorf("PortForward without pods = %v", err)
	}
}

func TestRolloutStuckNamesReasons(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	manifest := appManifest("noimage", "pets.local/does-not-exist:1") + `
apiVersion: apps/v1
kind: Deployment
metadata: {name: unschedulable}
spec:
  selector: {matchLabels: {app: unschedulable}}
  template:
    metadata: {labels: {app: unschedulable}}
    spec:
      nodeSelector: {pets.dev/no-such-node: "true"}
      containers: [{name: app, image: ` + appImage + `, imagePullPolicy: Never}]
`
	objs, err := c.Apply(ctx, []byte(manifest), ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("applied %v", objs)
	}
	for _, tc := range []struct {
		obj     Object
		reason  string
		message string
	}{
		{objs[0], "ErrImageNeverPull", "pets.local/does-not-exist:1"},
		{objs[1], "Pending: Unschedulable", "didn't match Pod's node affinity/selector"},
	} {
		err := c.WaitRollout(ctx, []Object{tc.obj}, 4*time.Second, nil)
		var re *RolloutError
		if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitRollout(%s) = %v, want a *RolloutError after the deadline", tc.obj, err)
			continue
		}
		if len(re.Pods) != 1 || re.Pods[0].Reason != tc.reason || !strings.Contains(re.Pods[0].Message, tc.message) {
			t.Errorf("WaitRollout(%s) pods = %+v, want reason %q with %q", tc.obj, re.Pods, tc.reason, tc.message)
		}
		t.Logf("%v", err)
	}
}

// TestExecRoundTrip measures a bare exec of `true` through the API server: the floor of any
// sync. It runs before the parallel tests, alone.
func TestExecRoundTrip(t *testing.T) {
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	deploy(t, c, ns, appManifest("rtt", appImage))
	pod := onePod(t, c, PodSelector{Namespace: ns, Selector: "app=rtt"})
	d, err := c.MeasureExec(context.Background(), pod, 30)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exec round trip (`true`, WebSocket, through the API server): median %v of 30", d.Median.Round(100*time.Microsecond))
	t.Logf("min %v, p90 %v, max %v", d.Min.Round(100*time.Microsecond), d.P90.Round(100*time.Microsecond), d.Max.Round(100*time.Microsecond))
}

// TestExecOneWriterForBothStreams: a command writing to stdout and stderr
// at once, with one plain buffer for both (as sync does): no race (under
// -race), and every line arrives.
func TestExecOneWriterForBothStreams(t *testing.T) {
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	deploy(t, c, ns, appManifest("both", appImage))
	pod := onePod(t, c, PodSelector{Namespace: ns, Selector: "app=both"})
	var out bytes.Buffer
	script := `i=0; while [ $i -lt 500 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done`
	if err := c.Exec(context.Background(), pod, []string{"sh", "-c", script}, Streams{Stdout: &out, Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	if n, e := strings.Count(out.String(), "out "), strings.Count(out.String(), "err "); n != 500 || e != 500 {
		t.Errorf("%d stdout and %d stderr lines, want 500 each", n, e)
	}
}

func BenchmarkExecRoundTrip(b *testing.B) {
	c := clusterClient(b)
	ns := testcluster.Namespace(b)
	deploy(b, c, ns, appManifest("bench", appImage))
	pod := onePod(b, c, PodSelector{Namespace: ns, Selector: "app=bench"})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Exec(ctx, pod, []string{"true"}, Streams{}); err != nil {
			b.Fatal(err)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// TestPodWatchSeesContainerRestart: a container that restarts in the same pod loses what was
// synced into it; the watch reports it as started again, with a new ContainerID.
func TestPodWatchSeesContainerRestart(t *testing.T) {
	t.Parallel()
	c := clusterClient(t)
	ns := testcluster.Namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// With a shared process namespace, httpd is not PID 1 and can be killed from inside.
	manifest := strings.Replace(appManifest("restart", appImage), "      terminationGracePeriodSeconds: 1\n",
		"      terminationGracePeriodSeconds: 1\n      shareProcessNamespace: true\n", 1)
	deploy(t, c, ns, manifest)
	sel := PodSelector{Namespace: ns, Selector: "app=restart"}
	watch, err := c.WatchPods(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	first := nextEvent(t, watch, 10*time.Second)
	if first.Type != PodStarted {
		t.Fatalf("first event %v", first.Type)
	}
	if ev := nextEvent(t, watch, 10*time.Second); ev.Type != PodReady {
		t.Fatalf("second event %v", ev.Type)
	}
	if err := c.Exec(ctx, first.Pod, []string{"sh", "-c", "kill -9 $(pidof httpd)"}, Streams{}); err != nil {
		// The exec may lose its stream as the container dies.
		t.Logf("exec kill: %v", err)
	}
	restarted := nextEvent(t, watch, 60*time.Second)
	if restarted.Type != PodStarted || restarted.Pod.UID != first.Pod.UID || restarted.Pod.ContainerID == first.Pod.ContainerID || restarted.Pod.ContainerID == "" {
		t.Fatalf("after the restart: %v %+v, want started, same UID, new ContainerID (was %s)", restarted.Type, restarted.Pod, first.Pod.ContainerID)
	}
	if ev := nextEvent(t, watch, 30*time.Second); ev.Type != PodReady || ev.Pod.ContainerID != restarted.Pod.ContainerID {
		t.Fatalf("then: %v %+v, want ready", ev.Type, ev.Pod)
	}
}
