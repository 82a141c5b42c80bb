//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/windmilleng/pets/internal/testcluster"
)

// k8sBuildServer is a Go HTTP server on :8080 that says its version (from its
// source) and its pid.
func k8sBuildServer(version string) string {
	return fmt.Sprintf(`package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

const version = %q

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "server %%s (pid %%d)\n", version, os.Getpid())
	})
	log.Printf("server %%s listening on :8080", version)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
`, version)
}

// k8sBuildManifest runs, in the test cluster's app image (busybox and
// /bin/pets-restart, no application code), pets-restart -- /app/bin/server:
// nothing is at /app/bin until pets syncs it. The readiness probe holds the
// rollout for 6s, so that k8s_apply's wait says what it waits for.
const k8sBuildManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: server}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: pets.local/busybox-app:1
        imagePullPolicy: Never
        command: ["pets-restart", "--", "/app/bin/server"]
        readinessProbe:
          exec: {command: ["true"]}
          initialDelaySeconds: 6
          periodSeconds: 1
`

// The whole loop of a Kubernetes tier whose code is built on this machine,
// from an image that holds none of it: the first deploy builds the server,
// applies the Deployment (whose rollout wait says what it waits for), and
// the pod gets bin/server as soon as it is ready (the seed), which starts it
// under pets-restart; the service becomes ready through the port-forward and
// the local dependent starts. An edit to the Go source builds, syncs
// bin/server into the same pod (never a redeploy), restarts the process and
// bounces the dependent; the new version answers. A compile error keeps the
// previous version answering.
func TestK8sBuildSyncRestartFromAnEmptyImage(t *testing.T) {
	kubeconfig := testcluster.Kubeconfig(t)
	ns := testcluster.Namespace(t)
	e := newEnv(t)
	t.Setenv("KUBECONFIG", kubeconfig)
	sport, wport := freePort(t), freePort(t)
	e.write("go.mod", "module example.com/k8sbuild\n\ngo 1.21\n")
	e.write("server/main.go", k8sBuildServer("v1"))
	e.write(".gitignore", "bin/\n") // the build's output: never a trigger, but the seed sends it
	e.write("k8s/server.yaml", k8sBuildManifest)
	e.write("web/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
def server_k8s():
  k8s_apply("k8s", namespace="%[1]s")
  return service(k8s_port_forward("app=server", %[2]d, 8080, namespace="%[1]s"), "127.0.0.1", %[2]d, http="/")

register("server", "k8s", server_k8s, watch=["server/**"],
         build="CGO_ENABLED=0 GOOS=linux go build -o bin/server ./server", build_outputs=["bin/**"],
         sync=[sync_rule("app=server", {"bin": "/app/bin"}, namespace="%[1]s", restart=True)])

def web_local(s):
  return service(start("exec $PETSERVER --name web --port %[3]d --dep s=" + s["host"]), "127.0.0.1", %[3]d)

register("web", "local", web_local, deps=["server"], watch=["web/**"])
`, ns, sport, wport))
	// Warm the build cache (a cold build of the standard library for
	// CGO_ENABLED=0 can take a minute on two cores), elsewhere than bin/.
	warm := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "server"), "./server")
	warm.Dir, warm.Env = e.dir, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := warm.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	w := e.watch("up", "web", "--with", "server=k8s", "--watch")
	out := w.output()
	for _, re := range []string{
		// k8s_apply's rollout wait says what it waits for (the probe holds it 6s).
		`(?m)^pets: server-k8s: waiting for the rollout of deployment/server: .+ \([5-9]s of 5m0s\)$`,
		// The seed brings the binary, and pets-restart starts it.
		`(?m)server-k8s: synced 1 file \(0 deleted\) to ` + ns + `/server-\S+, restarted the process at deploy in `,
		`(?m)^The service server-k8s is now running`,
		`(?m)^The service web-local is now running`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("first deploy: no line matching %s:\n%s", re, out)
		}
	}
	v1 := fetch(t, sport, "/")
	if !strings.HasPrefix(v1, "server v1 (pid ") {
		t.Fatalf("through the port-forward after deploy: %q", v1)
	}
	if got := fetch(t, wport, "/"); !strings.Contains(got, "s -> ["+strings.TrimSpace(v1)+"]") {
		t.Errorf("the dependent after deploy: %q (want it to pass on %q)", got, v1)
	}
	uid := podUIDs(t, ns, "app=server")
	before := e.pids()

	// An edit to the source: build, sync bin/server, restart the process, bounce web.
	e.write("server/main.go", k8sBuildServer("v2"))
	m := w.waitLine(roundRE)
	if !strings.HasSuffix(m[2], filepath.Join("server", "main.go")) ||
		!regexp.MustCompile(`^server-k8s synced 1 file \(0 deleted\) to `+ns+`/server-\S+, restarted the process in \S+, web-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	v2 := fetch(t, sport, "/")
	if !strings.HasPrefix(v2, "server v2 (pid ") || v2 == strings.Replace(v1, "v1", "v2", 1) {
		t.Errorf("after the edit, through the port-forward: %q (before: %q); want v2 from a new process", v2, v1)
	}
	if got := fetch(t, wport, "/"); !strings.Contains(got, "s -> ["+strings.TrimSpace(v2)+"]") {
		t.Errorf("the dependent after the edit: %q", got)
	}
	if now := podUIDs(t, ns, "app=server"); now != uid {
		t.Errorf("the pod was replaced (uid %s -> %s): the edit redeployed instead of syncing", uid, now)
	}
	after := e.pids()
	if after["server-k8s"] != before["server-k8s"] {
		t.Errorf("server-k8s was restarted (its port-forward pid %d -> %d) instead of synced", before["server-k8s"], after["server-k8s"])
	}
	if after["web-local"] == before["web-local"] {
		t.Error("web-local was not bounced")
	}

	// A compile error: the previous version keeps answering.
	e.write("server/main.go", strings.Replace(k8sBuildServer("v3"), "func main() {", "func main() { undefined()", 1))
	m = w.waitLine(roundRE)
	if !strings.Contains(m[3], "server-k8s build FAILED after ") || !strings.Contains(m[3], "still running the previous version") {
		t.Errorf("round line for a compile error: %q", m[0])
	}
	w.waitLine(`^pets: server-k8s: build failed, still running the previous version`)
	if got := fetch(t, sport, "/"); got != v2 {
		t.Errorf("after a failed build the pod answers %q, want the previous %q", got, v2)
	}
	if got := fetch(t, wport, "/"); !strings.Contains(got, "s -> ["+strings.TrimSpace(v2)+"]") {
		t.Errorf("the dependent after a failed build: %q", got)
	}
	if now := podUIDs(t, ns, "app=server"); now != uid {
		t.Errorf("the pod was replaced after a failed build (uid %s -> %s)", uid, now)
	}

	// Fixed: the next edit builds and serves again.
	e.write("server/main.go", k8sBuildServer("v4"))
	m = w.waitLine(roundRE)
	if !strings.HasPrefix(m[3], "server-k8s synced 1 file (0 deleted) to "+ns+"/server-") {
		t.Errorf("round line after the fix: %q", m[0])
	}
	if got := fetch(t, sport, "/"); !strings.HasPrefix(got, "server v4 (pid ") {
		t.Errorf("after the fix: %q", got)
	}
	if code := w.stop(); code != 0 {
		t.Errorf("pets up --watch exited %d after Ctrl-C:\n%s", code, w.output())
	}
	t.Logf("pets said:\n%s", w.output())
}

// podUIDs returns the UIDs of the pods of sel in ns, space-separated.
func podUIDs(t *testing.T, ns, sel string) string {
	t.Helper()
	out, err := exec.Command("kubectl", "get", "pods", "-n", ns, "-l", sel, "-o", "jsonpath={.items[*].metadata.uid}").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get pods: %v\n%s", err, out)
	}
	if len(strings.Fields(string(out))) != 1 {
		t.Fatalf("pods of %s in %s: %q, want one", sel, ns, out)
	}
	return strings.TrimSpace(string(out))
}
