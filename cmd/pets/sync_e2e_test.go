//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/windmilleng/pets/internal/testcluster"
)

// The announcement's case on the project's real cluster: a backend in
// Kubernetes (kubectl apply + port-forward, as in 2018) with sync rules for
// its static files, and a local frontend depending on it. An edit is synced
// into the pod (no restart), a post-sync command runs, and the frontend is
// bounced after it.
func TestSyncIntoKubernetesThenBounceDependents(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig) // for pets, kubectl and client-go in the child
	bport, fport := freePort(t), freePort(t)
	e.write("backend.yaml", backendManifest)
	e.write("static/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
def backend_local():
  return service(start("exec $PETSERVER --name backend --port %[1]d"), "127.0.0.1", %[1]d)
register("backend", "local", backend_local)

def backend_k8s():
  run("kubectl apply -n %[3]s -f backend.yaml && kubectl rollout status -n %[3]s deployment/backend --timeout=2m")
  s = start("exec kubectl port-forward -n %[3]s deployment/backend %[1]d:8080")
  return service(s, "127.0.0.1", %[1]d)
register("backend", "k8s", backend_k8s, watch=["static/**"],
         sync=[sync_rule("app=backend", {"static": "/www"}, namespace="%[3]s", run=["date > /tmp/synced"])])

def frontend_local(b):
  return service(start("exec $PETSERVER --name frontend --port %[2]d --dep b=" + b["host"]), "127.0.0.1", %[2]d)
register("frontend", "local", frontend_local, deps=["backend"], watch=["frontend/**"])
`, bport, fport, ns))
	e.write("frontend/keep", "")
	w := e.watch("up", "frontend", "--with", "backend=k8s", "--watch")
	if code := httpStatus(t, bport, "/page.html"); code != http.StatusNotFound {
		t.Fatalf("before any sync, the pod already has page.html (%d)", code)
	}
	before := e.pids()

	// Written whole and renamed in, one event: written in place, a stall
	// of more than the watcher's 50 ms half-saved wait between the open
	// and the write (seen once in CI) makes two batches, and two rounds.
	tmp := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(tmp, []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, "static", "page.html")); err != nil {
		t.Fatal(err)
	}
	m := w.waitLine(roundRE)
	if !regexp.MustCompile(`^backend-k8s synced 1 file \(0 deleted\) to ` + ns + `/backend-\S+, ran "date > /tmp/synced" in \S+, frontend-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q; pets said:\n%s", m[0], w.output())
	}
	if got := fetch(t, bport, "/page.html"); got != "v2\n" {
		t.Errorf("after the sync, the pod serves %q", got)
	}
	after := e.pids()
	if after["backend-k8s"] != before["backend-k8s"] {
		t.Error("the backend was restarted instead of synced")
	}
	if after["frontend-local"] == before["frontend-local"] {
		t.Error("the frontend was not bounced after the sync")
	}

	// A deletion is synced too.
	if err := os.Remove(e.dir + "/static/page.html"); err != nil {
		t.Fatal(err)
	}
	m = w.waitLine(roundRE)
	if !strings.Contains(m[3], "backend-k8s synced 0 files (1 deleted)") {
		t.Errorf("round line for a deletion: %q; pets said:\n%s", m[0], w.output())
	}
	if code := httpStatus(t, bport, "/page.html"); code != http.StatusNotFound {
		t.Errorf("after the deletion the pod answers %d", code)
	}
}

func fetch(t *testing.T, port int, path string) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func httpStatus(t *testing.T, port int, path string) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

const backendManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  replicas: 1
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: pets.local/busybox-app:1
        imagePullPolicy: Never
`

// Native builtins: k8s_apply (server-side apply + rollout) and
// k8s_port_forward (a tracked server that outlives pets up and is stopped by
// pets down); a post-sync command runs in the container.
func TestNativeApplyAndPortForward(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	port := freePort(t)
	e.write("k8s/backend.yaml", backendManifest)
	e.write("static/keep", "")
	e.write("static/draft.bak", "ignored: never sent\n")
	e.write("Petsfile", k8sBackend(ns, port, `ignore=["static/*.bak"],`, `run=[sync_run("cat /www/page.html > /tmp/ran", trigger=["static/page.html"])]`))
	r := e.mustPets("up", "--tier", "k8s")
	if !strings.Contains(r.stderr, "Pets applied Deployment "+ns+"/backend to context pets-test") {
		t.Errorf("no apply line:\n%s", r.stderr)
	}
	if !regexp.MustCompile(`backend-k8s: synced 1 file \(0 deleted\) to ` + ns + `/backend-\S+ at deploy in `).MatchString(r.stderr) {
		t.Errorf("no sync at deploy:\n%s", r.stderr)
	}
	// pets has exited; the forward is a tracked server of the service.
	if got := fetch(t, port, "/"); !strings.Contains(got, "hello from pets.local/busybox-app:1") {
		t.Errorf("through the forward: %q", got)
	}
	if l := e.list(); l["backend-k8s"].Status != "ready" {
		t.Errorf("list: %+v", l)
	}

	w := e.watch("watch")
	e.write("static/page.html", "synced\n")
	m := w.waitLine(roundRE)
	if !strings.HasPrefix(m[3], "backend-k8s synced 1 file (0 deleted) to "+ns+"/backend-") {
		t.Errorf("round: %q", m[0])
	}
	if got := fetch(t, port, "/page.html"); got != "synced\n" {
		t.Errorf("synced page through the forward: %q", got)
	}
	if out := inPod(t, ns, "cat", "/tmp/ran"); out != "synced\n" {
		t.Errorf("the post-sync command's output in the pod: %q", out)
	}
	w.stop()
	e.mustPets("down")
	if s := e.strays(); len(s) != 0 {
		t.Errorf("left behind: %v", s)
	}
}

// A context that does not look local is refused before any connection, and
// the message says what to add to the Petsfile.
func TestNonLocalContextIsRefused(t *testing.T) {
	e := newEnv(t)
	e.write("kubeconfig", `apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {server: "https://203.0.113.10:6443"}
users:
- name: me
  user: {token: "x"}
contexts:
- name: prod-cluster
  context: {cluster: prod, user: me}
current-context: prod-cluster
`)
	t.Setenv("KUBECONFIG", e.dir+"/kubeconfig")
	e.write("Petsfile", `
def backend_k8s():
  k8s_apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
register("backend", "k8s", backend_k8s)
`)
	r := e.pets("up", "--tier", "k8s")
	if r.code == 0 {
		t.Fatal("up against a non-local context succeeded")
	}
	for _, want := range []string{"prod-cluster", `allow_k8s_contexts(["prod-cluster"])`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r.stderr)
		}
	}
}

// examples/k8s as its README says, on the test cluster (in a copy, since
// the test edits it): the backend is built here and its pod, whose image
// holds none of its code, gets bin/ (the process starts under pets-restart)
// and static/ at deploy; an edit is synced and the frontend bounced, and a
// replacement pod gets the binary and the edit at once while the
// port-forward follows it.
func TestKubernetesExample(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	for _, p := range []int{8080, 8081} {
		if fetchable(p) {
			t.Fatalf("port %d is in use by another program; the example needs it", p)
		}
	}
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	root := t.TempDir()
	for _, ex := range []string{"k8s", "announcement"} {
		if err := os.CopyFS(filepath.Join(root, ex), os.DirFS(filepath.Join("../../examples", ex))); err != nil {
			t.Fatal(err)
		}
	}
	e.dir = filepath.Join(root, "k8s")
	t.Cleanup(func() {
		_ = exec.Command("kubectl", "delete", "-f", filepath.Join(e.dir, "backend.yaml"), "--wait=false").Run()
	})
	// Warm the build cache (a cold build of the standard library for
	// CGO_ENABLED=0 can take a minute on two cores), elsewhere than bin/.
	warm := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "backend"), "./cmd/backend/main.go")
	warm.Dir, warm.Env = e.dir, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := warm.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	w := e.watch("up", "frontend", "--with", "backend=k8s", "--watch")
	if !regexp.MustCompile(`backend-k8s: synced 2 files \(0 deleted\) to default/backend-\S+, restarted the process at deploy in `).MatchString(w.output()) {
		t.Errorf("no sync of bin/backend and static/index.html at deploy:\n%s", w.output())
	}
	says := func(port int) string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := says(8081); !strings.Contains(got, "the backend at localhost:8080 says: hello from the backend's static files") {
		t.Errorf("frontend before any edit (the pod should serve static/): %q", got)
	}

	e.write("static/index.html", "edited\n")
	m := w.waitLine(roundRE)
	if !regexp.MustCompile(`^backend-k8s synced 1 file \(0 deleted\) to default/backend-\S+ in \S+, frontend-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	if got := says(8081); !strings.Contains(got, "says: edited") {
		t.Errorf("frontend after the edit: %q", got)
	}

	// The pod is deleted: its replacement gets the edit before anything
	// else changes, and the port-forward follows it.
	if out, err := exec.Command("kubectl", "delete", "pod", "-l", "app=backend", "--wait=false").CombinedOutput(); err != nil {
		t.Fatalf("kubectl delete pod: %v\n%s", err, out)
	}
	w.waitLine(`backend-k8s: new pod: synced 1 file \(0 deleted\) to default/backend-\S+ in`)
	waitFor(t, "the replacement pod to serve the edit through the port-forward", func() bool { return says(8080) == "edited\n" })
	if code := w.stop(); code != 0 {
		t.Errorf("pets up --watch exited %d after Ctrl-C:\n%s", code, w.output())
	}
}

func fetchable(port int) bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// An image without tar or a shell: the sync fails with advice, and the
// service is restarted instead, saying why in the round's line.
func TestSyncFallsBackToARestartWithoutTar(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	port := freePort(t)
	e.write("k8s/backend.yaml", strings.Replace(backendManifest, "pets.local/busybox-app:1", "pets.local/notar-http:1", 1))
	e.write("static/keep", "")
	e.write("Petsfile", k8sBackend(ns, port, "", ""))
	w := e.watch("up", "--tier", "k8s", "--watch")
	before := e.pids()["backend-k8s"]
	e.write("static/page.html", "x\n")
	m := w.waitLine(roundRE)
	if !regexp.MustCompile(`^backend-k8s restarted in \S+ \(instead of a sync: sync failed: .*(tar|shell)`).MatchString(m[3]) {
		t.Errorf("round: %q", m[0])
	}
	if after := e.pids()["backend-k8s"]; after == before {
		t.Error("the backend was not restarted")
	}
}

// restart=True: the server runs under pets-restart, and every sync (the one
// at deploy, then each edit) restarts it inside the same container.
func TestSyncRestartsTheProcessUnderTheWrapper(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	port := freePort(t)
	e.write("k8s/backend.yaml", backendManifest+`        command: ["pets-restart", "--", "sh", "-c", "date +%s%N >> /tmp/starts; exec httpd -f -p 8080 -h /www"]
`)
	e.write("static/index.html", "v1\n")
	e.write("Petsfile", k8sBackend(ns, port, "", "restart=True"))
	w := e.watch("up", "--tier", "k8s", "--watch")
	starts := func() string {
		return strings.TrimSpace(inPod(t, ns, "sh", "-c", "wc -l < /tmp/starts"))
	}
	if got := starts(); got != "2" {
		t.Errorf("server starts after the deploy and its sync = %s, want 2", got)
	}
	if got := fetch(t, port, "/"); got != "v1\n" {
		t.Errorf("after deploy: %q", got)
	}
	e.write("static/index.html", "v2\n")
	m := w.waitLine(roundRE)
	if !strings.HasPrefix(m[3], "backend-k8s synced 1 file (0 deleted) to "+ns+"/backend-") || !strings.Contains(m[3], ", restarted the process in ") {
		t.Errorf("round: %q", m[0])
	}
	if got := starts(); got != "3" {
		t.Errorf("server starts after an edit = %s, want 3", got)
	}
	if got := fetch(t, port, "/"); got != "v2\n" {
		t.Errorf("after the edit: %q", got)
	}
}

// k8sBackend is a Petsfile with a backend in tier k8s: k8s/ applied in ns,
// a k8s_port_forward of port to its 8080, and a sync rule of static/ into
// /www. registerArgs are more register() arguments ("ignore=[...],"), ruleArgs
// more sync_rule() ones ("restart=True").
func k8sBackend(ns string, port int, registerArgs, ruleArgs string) string {
	if ruleArgs != "" {
		ruleArgs = ", " + ruleArgs
	}
	return fmt.Sprintf(`
def backend_k8s():
  k8s_apply("k8s", namespace="%[1]s")
  return service(k8s_port_forward("app=backend", %[2]d, 8080, namespace="%[1]s"), "127.0.0.1", %[2]d)
register("backend", "k8s", backend_k8s, watch=["static/**"], %[3]s
         sync=[sync_rule("app=backend", {"static": "/www"}, namespace="%[1]s"%[4]s)])
`, ns, port, registerArgs, ruleArgs)
}

// Is my edit live in the pods? A replaced pod that has not had the files is
// STALE: with a pets watching, pets wait blocks until it has them; without
// one, pets list says STALE and pets wait fails at once, saying what to do.
func TestReplacedPodIsStaleUntilItHasTheFiles(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	port := freePort(t)
	e.write("k8s/backend.yaml", backendManifest)
	e.write("static/page.html", "v1\n")
	e.write("Petsfile", k8sBackend(ns, port, "", ""))
	e.mustPets("up", "--tier", "k8s")
	if it := e.freshness()["backend-k8s"]; it.Freshness != "fresh" {
		t.Fatalf("after pets up: %+v", it)
	}
	deletePod := func() {
		t.Helper()
		if out, err := exec.Command("kubectl", "delete", "pod", "-n", ns, "-l", "app=backend", "--wait=false").CombinedOutput(); err != nil {
			t.Fatalf("kubectl delete pod: %v\n%s", err, out)
		}
	}

	// No pets watches: nothing gives the new pod the files.
	deletePod()
	waitFor(t, "pets list to say the replacement pod lacks the files", func() bool {
		it := e.freshness()["backend-k8s"]
		return it.Freshness == "stale" && strings.Contains(it.Reason, "has not had its files")
	})
	if r := e.pets("wait", "backend"); r.code == 0 || !strings.Contains(r.stderr, "no pets watches it to give them") {
		t.Errorf("pets wait without a watcher: exit %d\n%s", r.code, r.stderr)
	}

	// pets watch gives it the files at attach; then wait succeeds.
	w := e.watch("watch")
	e.mustPets("wait", "backend", "--timeout", "2m")
	if got := fetch(t, port, "/page.html"); got != "v1\n" {
		t.Errorf("after pets wait, the pod serves %q", got)
	}
	// With the watcher: a pod replaced after an edit; pets wait returns
	// only once the replacement serves the edit.
	e.write("static/page.html", "v2\n")
	e.mustPets("wait", "backend", "--timeout", "2m")
	deletePod()
	e.mustPets("wait", "backend", "--timeout", "2m")
	waitFor(t, "the forward to reach the replacement", func() bool { return fetchable(port) })
	if got := fetch(t, port, "/page.html"); got != "v2\n" {
		t.Errorf("pets wait returned while the pod serves %q (want the edit, v2)", got)
	}
	w.stop()
}

// inPod runs argv in deploy/backend of ns and returns its output: stdout
// alone, as kubectl's own messages (a websocket's "Unknown stream id",
// say) go to stderr.
func inPod(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"exec", "-n", ns, "deploy/backend", "--"}, argv...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl exec %v: %v\n%s", argv, err, stderr.String())
	}
	return string(out)
}
