package main

// Figures of build steps (register(build=...)): how long a restart leaves
// nothing answering, with the build before the stop and with the 2018
// go run; and how long an edit of a Kubernetes tier's Go code takes to serve
// from the pod through build, sync and an in-place restart.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/kube"
)

// downtimeEdits is how many edits each downtime figure is the median of:
// each one waits for a build or a go run.
const downtimeEdits = 7

// downtime: examples/announcement's backend (a copy, on a free port) under
// pets up --watch, edited downtimeEdits times; a client dials it in a tight
// loop, and a sample is the longest time from a refused dial to the next
// accepted one during the round. Once as the example is (build=, then
// exec ./bin/backend), once with the 2018 start("go run ...") instead. The
// floor is a fork+exec of the built backend until it accepts, in this run.
func (b *bench) downtime() error {
	src, err := filepath.Abs("examples/announcement")
	if err != nil {
		return err
	}
	petsfile, err := os.ReadFile(filepath.Join(src, "Petsfile"))
	if err != nil {
		return err
	}
	main, err := os.ReadFile(filepath.Join(src, "cmd", "backend", "main.go"))
	if err != nil {
		return err
	}
	if !strings.Contains(string(petsfile), `build="go build -o bin/backend ./cmd/backend"`) {
		return fmt.Errorf("examples/announcement/Petsfile no longer builds bin/backend: update the bench")
	}
	floor, err := b.startFloor(main)
	if err != nil {
		return err
	}
	for _, v := range []struct {
		figure, petsfile string
	}{
		{"downtime per restart, announcement backend, build= then exec ./bin/backend (refused to accepting)", string(petsfile)},
		{"downtime per restart, announcement backend, 2018 start(\"go run ./cmd/backend/main.go\")", `
def backend_local():
  server = start("go run ./cmd/backend/main.go")
  return service(server, "localhost", 8080)

register("backend", "local", backend_local)
`},
	} {
		port, err := freePort()
		if err != nil {
			return err
		}
		dir, err := os.MkdirTemp(b.tmp, "downtime-")
		if err != nil {
			return err
		}
		onPort := func(s string) string { return strings.ReplaceAll(s, "8080", strconv.Itoa(port)) }
		for name, body := range map[string]string{
			"Petsfile":            onPort(v.petsfile),
			"go.mod":              "module example.com/announcement\n\ngo 1.21\n",
			"cmd/backend/main.go": onPort(string(main)),
		} {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				return err
			}
		}
		w, err := b.startWatch(dir, filepath.Join(dir, "home"), "backend")
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		i := 0
		s, err := sample(downtimeEdits, func() (time.Duration, error) {
			i++
			from := w.count()
			d := dialer{addr: addr}
			d.start()
			edit := strings.Replace(onPort(string(main)), "hello from the backend", fmt.Sprintf("hello from the backend, edit %d", i), 1)
			if err := os.WriteFile(filepath.Join(dir, "cmd", "backend", "main.go"), []byte(edit), 0o644); err != nil {
				d.stop()
				return 0, err
			}
			_, _, err := w.wait(regexp.MustCompile(`in all\)$`), from, 2*time.Minute)
			longest, answered := d.stop()
			if err != nil {
				return 0, err
			}
			if !answered {
				return 0, fmt.Errorf("the backend never accepted a connection during the round")
			}
			return longest, nil
		})
		w.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", v.figure, err)
		}
		b.add(v.figure, s, "fork+exec of the built backend", floor.median())
	}
	return nil
}

// startFloor times the announcement backend (main is its source), built for
// a free port, from fork+exec to accepting connections.
func (b *bench) startFloor(main []byte) (samples, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	src := filepath.Join(b.tmp, "backend-floor.go")
	if err := os.WriteFile(src, []byte(strings.ReplaceAll(string(main), "8080", strconv.Itoa(port))), 0o644); err != nil {
		return nil, err
	}
	exe := filepath.Join(b.tmp, "backend-floor")
	build := exec.Command("go", "build", "-o", exe, src)
	build.Dir = b.tmp // outside any module: the file alone
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return sample(b.n, func() (time.Duration, error) {
		t0 := time.Now()
		cmd := exec.Command(exe)
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil {
				c.Close()
				return time.Since(t0), nil
			}
			if time.Since(t0) > 10*time.Second {
				return 0, fmt.Errorf("the backend did not accept within 10s: %v", err)
			}
		}
	})
}

// dialer dials addr every 0.2 ms and keeps the longest stretch from a
// refused dial to the next accepted one.
type dialer struct {
	addr string
	done chan struct{}
	wg   sync.WaitGroup

	// Only the dialing goroutine touches these until stop has waited for it.
	longest  time.Duration
	answered bool
}

func (d *dialer) start() {
	d.done = make(chan struct{})
	d.wg.Add(1)
	go func() { // owned by d: stop waits for it
		defer d.wg.Done()
		var down time.Time // when the first refused dial of the current outage began
		for {
			select {
			case <-d.done:
				return
			default:
			}
			t := time.Now()
			c, err := net.DialTimeout("tcp", d.addr, 100*time.Millisecond)
			if err != nil {
				if down.IsZero() {
					down = t
				}
			} else {
				c.Close()
				d.answered = true
				if !down.IsZero() {
					d.longest = max(d.longest, time.Since(down))
					down = time.Time{}
				}
			}
			// Every 0.2 ms: tight, without taking a core from pets and the
			// server (two cores here).
			time.Sleep(200 * time.Microsecond)
		}
	}()
}

func (d *dialer) stop() (longest time.Duration, answered bool) {
	close(d.done)
	d.wg.Wait()
	return d.longest, d.answered
}

// buildInPod: edit-to-new-code-serving-in-pod for a Kubernetes tier built
// on this machine, as in examples/k8s: an image with no application code
// runs pets-restart -- /app/bin/server; an edit of the Go source builds
// bin/server (CGO_ENABLED=0 GOOS=linux), syncs it into the pod and restarts
// the process there. A sample ends when the new version answers through the
// service's port-forward (polled every millisecond once pets says the build is done). The build's share is timed from the round's start
// line to pets' "Pets built" line; the floors are the build command alone
// and a bare exec round trip, in this run.
func (b *bench) buildInPod() error {
	const figure = "edit-to-new-code-serving-in-pod (build=, sync bin/, restart under pets-restart; write to the new version answering)"
	c, kubeconfig, ok := b.cluster(figure)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("pets-bench-build-%d", time.Now().UnixNano()%1e6)
	if _, err := c.Apply(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"), ""); err != nil {
		b.note(figure, "not measured: the test cluster does not answer ("+err.Error()+"); run make cluster-up")
		return nil
	}
	defer func() {
		_ = exec.Command("kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--wait=false").Run()
	}()
	dir, err := os.MkdirTemp(b.tmp, "build-in-pod-")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	server := func(version int) string {
		return fmt.Sprintf(`package main

import (
	"fmt"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "version %d") })
	http.ListenAndServe(":8080", nil)
}
`, version)
	}
	const buildCmd = "CGO_ENABLED=0 GOOS=linux go build -o bin/server ./server"
	for name, body := range map[string]string{
		"go.mod":         "module example.com/server\n\ngo 1.21\n",
		"server/main.go": server(0),
		".gitignore":     "bin/\n",
		"k8s/server.yaml": `apiVersion: apps/v1
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
`,
		"Petsfile": fmt.Sprintf(`
def server_k8s():
  k8s_apply("k8s", namespace="%[1]s")
  return service(k8s_port_forward("app=server", %[2]d, 8080, namespace="%[1]s"), "127.0.0.1", %[2]d, http="/")

register("server", "k8s", server_k8s, watch=["server/**"], build=%[3]q, build_outputs=["bin/**"],
         sync=[sync_rule("app=server", {"bin": "/app/bin"}, namespace="%[1]s", restart=True)])
`, ns, port, buildCmd),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	version := 0
	edit := func() error {
		version++
		return os.WriteFile(filepath.Join(dir, "server", "main.go"), []byte(server(version)), 0o644)
	}
	// The build command alone (a floor), in a copy of the project outside pets' watch, on
	// an edited source each time: once before each sample, so that both see the same load.
	alone := filepath.Join(b.tmp, "build-alone")
	if err := os.MkdirAll(filepath.Join(alone, "server"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(alone, "go.mod"), []byte("module example.com/server\n\ngo 1.21\n"), 0o644); err != nil {
		return err
	}
	var builds samples
	buildAlone := func() error {
		if err := os.WriteFile(filepath.Join(alone, "server", "main.go"), []byte(server(100000+version)), 0o644); err != nil {
			return err
		}
		cmd := exec.Command("sh", "-c", buildCmd)
		cmd.Dir = alone
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", buildCmd, err, out)
		}
		builds = append(builds, time.Since(t0))
		return nil
	}
	if err := buildAlone(); err != nil { // warm the cache for the first deploy
		return err
	}
	builds = builds[:0]
	os.Setenv("KUBECONFIG", kubeconfig)
	w, err := b.startWatch(dir, filepath.Join(dir, "home"), "--tier", "k8s")
	if err != nil {
		return err
	}
	defer w.stop()
	pods, err := c.ReadyPods(ctx, kube.PodSelector{Namespace: ns, Selector: "app=server"})
	if err != nil || len(pods) != 1 {
		return fmt.Errorf("the server's pod: %v %v", pods, err)
	}
	exec1, err := c.MeasureExec(ctx, pods[0], b.n)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() string {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	roundStart := regexp.MustCompile(`\] round \d+: syncing server-k8s`)
	built := regexp.MustCompile(`^Pets built server-k8s`)
	var buildShare, rest samples
	total, err := sample(min(b.n, 15), func() (time.Duration, error) {
		if err := buildAlone(); err != nil {
			return 0, err
		}
		from := w.count()
		t0 := time.Now()
		if err := edit(); err != nil {
			return 0, err
		}
		want := fmt.Sprintf("version %d", version)
		// Nothing new can answer before the build is done: poll from then on, so that
		// the polling (through the API server and the kubelet) does not slow the build.
		if _, _, err := w.wait(built, from, time.Minute); err != nil {
			return 0, err
		}
		for get() != want {
			time.Sleep(time.Millisecond)
			if time.Since(t0) > time.Minute {
				w.mu.Lock()
				lines := w.lines[max(0, len(w.lines)-8):]
				w.mu.Unlock()
				return 0, fmt.Errorf("%q not served within a minute; pets said:\n%s", want, strings.Join(lines, "\n"))
			}
		}
		d := time.Since(t0)
		_, _, err := w.wait(regexp.MustCompile(`in all\)$`), from, time.Minute)
		if err != nil {
			return 0, err
		}
		i, start, err := w.wait(roundStart, from, time.Second)
		if err != nil {
			return 0, err
		}
		_, end, err := w.wait(built, i, time.Second)
		if err != nil {
			return 0, err
		}
		buildShare = append(buildShare, end.Sub(start))
		rest = append(rest, d-end.Sub(start))
		return d, nil
	})
	if err != nil {
		return err
	}
	for _, s := range []samples{builds, buildShare, rest} {
		s.sort()
	}
	b.add(figure, total, "build alone + exec round trip", builds.median()+exec1.Median)
	b.add("  of which the build (round start to \"Pets built\")", buildShare, "the build command alone", builds.median())
	b.add("  besides the build (sync, restart, answer through the forward)", rest, "bare exec round trip", exec1.Median)
	return nil
}

// cluster connects to the project's test cluster, or notes that figure was
// not measured.
func (b *bench) cluster(figure string) (*kube.Client, string, bool) {
	kubeconfig := os.Getenv("PETS_CLUSTER_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = "/var/tmp/pets-cluster/kubeconfig"
	}
	cfg, err := kube.LoadConfig(kube.LoadOptions{Kubeconfig: kubeconfig})
	if err != nil {
		b.note(figure, "not measured: no test cluster ("+err.Error()+"); run make cluster-up")
		return nil, "", false
	}
	c, err := kube.New(cfg)
	if err != nil {
		b.note(figure, "not measured: "+err.Error())
		return nil, "", false
	}
	return c, kubeconfig, true
}
