// Command bench prints pets' speed figures as a table, each beside the floor
// measured in the same run on the same machine. Run it with `make bench`.
//
// Floors: raw inotify event latency (fsnotify, write to event), and a plain
// fork+exec of the same server until its port accepts connections.
// Edit-to-restart is measured from the write to the new server answering
// with a new pid; through a chain, to the last dependent answering anew.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fsnotify/fsnotify"

	"github.com/windmilleng/pets/internal/freeport"
	"github.com/windmilleng/pets/kube"
	"github.com/windmilleng/pets/watcher"
)

func main() {
	n := flag.Int("n", 30, "samples per latency figure")
	pets := flag.String("pets", "bin/pets", "the pets binary to measure")
	big := flag.Int("tree", 100_000, "files in the large tree (plus half as many in an ignored directory)")
	only := flag.String("only", "", "measure only this figure (restart: edit to restart, one service and a 3-service chain; sync; downtime: per restart, with and without a build; build: edit to new code serving in a pod; parallel: 50 independent services and 30 dependents; burst: a 2,000-file git checkout; startup: pets up --watch phase by phase, its RSS, pets list; tree: the large tree and pets list on it; or peers: pets beside entr, reflex and air, installed for the run) beside its floor")
	against := flag.String("against", "", "another pets binary (built from another commit: make bench-ab) to measure -only's figures against, in interleaved runs")
	pairs := flag.Int("pairs", 4, "with -against: how many pairs of runs")
	clusterUp := flag.String("cluster-up", "", "a shell command that brings the test cluster up, run after the local figures and before those that need it (scripts/bench.sh passes make cluster-up), so that the local figures are measured without a cluster's daemons running beside them")
	flag.Parse()
	// client-go's own log lines (a websocket's "Unknown stream id") are
	// not figures: dropped, as pets drops them.
	kube.RouteClientGoLogs(slog.New(slog.DiscardHandler))
	b := &bench{n: *n, treeFiles: *big, only: *only, clusterUp: *clusterUp, other: *against, pairs: *pairs}
	if err := b.run(*pets); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	only      string
	n         int
	treeFiles int
	tmp       string
	server    string
	pets      string
	rows      []row
	clusterUp string // see -cluster-up
	other     string // see -against
	announced *announcer
	pairs     int
}

type row struct {
	figure, value, floor, ratio string
}

func (b *bench) add(figure string, s samples, floorName string, floor time.Duration) {
	value := fmt.Sprintf("median %s, p90 %s", ms(s.median()), ms(s.p90()))
	b.rows = append(b.rows, row{figure, value, fmt.Sprintf("%s: %s", floorName, ms(floor)),
		fmt.Sprintf("%.2fx (+%s)", float64(s.median())/float64(floor), ms(s.median()-floor))})
}

func (b *bench) note(figure, value string) { b.rows = append(b.rows, row{figure, value, "", ""}) }

func (b *bench) run(pets string) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "pets-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	if b.announced, err = listenAnnounce(b.tmp); err != nil {
		return err
	}
	defer b.announced.close()
	b.server = filepath.Join(b.tmp, "petserver")
	if out, err := exec.Command("go", "build", "-o", b.server, "./examples/petserver").CombinedOutput(); err != nil {
		return fmt.Errorf("build petserver: %v\n%s", err, out)
	}
	if b.pets, err = filepath.Abs(pets); err != nil {
		return err
	}
	if b.other != "" {
		if b.only == "" {
			return fmt.Errorf("-against needs -only: which figures to compare")
		}
		return b.against(b.other, b.pairs)
	}
	if b.only != "" {
		measure, ok := b.alone()[b.only]
		if !ok {
			return fmt.Errorf("-only %s: no such figure (see -help)", b.only)
		}
		if err := measure(); err != nil {
			return err
		}
		return b.print()
	}
	fmt.Fprintf(os.Stderr, "measuring floors...\n")
	inotify, err := b.inotifyFloor()
	if err != nil {
		return err
	}
	fork, err := b.forkFloor()
	if err != nil {
		return err
	}
	b.add("floor: inotify event latency (write to event)", inotify, "-", inotify.median())
	b.add("floor: fork+exec of the server to answering", fork, "-", fork.median())

	fmt.Fprintf(os.Stderr, "measuring pets up...\n")
	up, err := b.upLatency()
	if err != nil {
		return err
	}
	b.add("pets up, 1 service (command to ready, incl. pets start-up)", up, "fork+exec", fork.median())
	fmt.Fprintf(os.Stderr, "measuring start-up...\n")
	if err := b.startup(fork.median()); err != nil {
		return err
	}

	if err := b.restarts(inotify, fork); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "measuring many services (50 independent; 30 dependents)...\n")
	if err := b.parallel(fork.median()); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "measuring a 2,000-file git checkout...\n")
	if err := b.burst(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "measuring downtime per restart (announcement backend, with and without its build)...\n")
	if err := b.downtime(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "measuring a %d-file tree...\n", b.treeFiles)
	if err := b.largeTree(); err != nil {
		return err
	}
	b.uiLag()

	// The figures that need the test cluster come last: its daemons are not
	// running while the local ones are measured, as for someone who does not
	// use Kubernetes.
	b.bringClusterUp()
	fmt.Fprintf(os.Stderr, "measuring sync into a pod (if the test cluster is up)...\n")
	if err := b.syncBoth(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "measuring edit-to-new-code-serving-in-pod (build, sync, restart; if the test cluster is up)...\n")
	if err := b.buildInPod(); err != nil {
		return err
	}
	return b.print()
}

// bringClusterUp runs -cluster-up's command, if any. A cluster it cannot
// bring up is noted by the figures that need it ("not measured").
func (b *bench) bringClusterUp() {
	if b.clusterUp == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "bringing the test cluster up for the figures that need it...\n")
	cmd := exec.Command("sh", "-c", b.clusterUp)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v (the figures that need the cluster say why they are not measured)\n", b.clusterUp, err)
	}
}

// syncBoth measures edit-to-synced-in-pod, then with restart=True.
func (b *bench) syncBoth() error {
	for _, restart := range []bool{false, true} {
		if err := b.syncLatency(restart); err != nil {
			return err
		}
	}
	return nil
}

// alone are the figures -only measures by themselves, each with the floors
// it is compared to.
func (b *bench) alone() map[string]func() error {
	withFork := func(f func(fork samples) error) func() error {
		return func() error {
			fork, err := b.forkFloor()
			if err != nil {
				return err
			}
			return f(fork)
		}
	}
	return map[string]func() error{
		"peers":    b.peers,
		"tree":     b.largeTree,
		"downtime": b.downtime,
		"build":    func() error { b.bringClusterUp(); return b.buildInPod() },
		"burst":    b.burst,
		"parallel": withFork(func(fork samples) error { return b.parallel(fork.median()) }),
		"startup":  withFork(func(fork samples) error { return b.startup(fork.median()) }),
		"restart": withFork(func(fork samples) error {
			inotify, err := b.inotifyFloor()
			if err != nil {
				return err
			}
			b.add("floor: inotify event latency (write to event)", inotify, "-", inotify.median())
			b.add("floor: fork+exec of the server to answering", fork, "-", fork.median())
			return b.restarts(inotify, fork)
		}),
		"sync": func() error { b.bringClusterUp(); return b.syncBoth() },
	}
}

func (b *bench) print() error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FIGURE\tVALUE\tFLOOR (same run)\tRATIO\n")
	for _, r := range b.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.figure, r.value, r.floor, r.ratio)
	}
	tw.Flush()
	cluster := ""
	if b.clusterUp != "" {
		cluster = "; the test cluster brought up after the local figures"
	}
	fmt.Printf("(%d samples per latency; quiet window %s; %s%s)\n", b.n, watcher.DefaultQuiet, time.Now().Format(time.RFC3339), cluster)
	return nil
}

// inotifyFloor: write a file, wait for fsnotify's event.
func (b *bench) inotifyFloor() (samples, error) {
	dir := filepath.Join(b.tmp, "inotify")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return nil, err
	}
	f := filepath.Join(dir, "f")
	return sample(b.n, func() (time.Duration, error) {
		t0 := time.Now()
		if err := os.WriteFile(f, []byte(t0.String()), 0o644); err != nil {
			return 0, err
		}
		for {
			select {
			case ev := <-w.Events:
				if ev.Name == f && ev.Has(fsnotify.Write) {
					d := time.Since(t0)
					drain(w.Events)
					return d, nil
				}
			case err := <-w.Errors:
				return 0, err
			case <-time.After(5 * time.Second):
				return 0, fmt.Errorf("no inotify event")
			}
		}
	})
}

func drain(c chan fsnotify.Event) {
	for {
		select {
		case <-c:
		case <-time.After(20 * time.Millisecond):
			return
		}
	}
}

// forkFloor: fork+exec the server itself (no shell: the waiter execs a
// plain "exec PROGRAM ARGS" line directly) until it answers, found as the
// restart figures find a new server: its announcement, then one request.
func (b *bench) forkFloor() (samples, error) { return sample(b.n, b.forkOnce) }

// forkOnce is one sample of forkFloor.
func (b *bench) forkOnce() (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	cmd := exec.Command(b.server, "--port", strconv.Itoa(port))
	cmd.Dir = b.tmp
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if _, err := b.announced.server(port, 0, 10*time.Second); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func (b *bench) upLatency() (samples, error) {
	home := filepath.Join(b.tmp, "home-up")
	return sample(b.n, func() (time.Duration, error) {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		pf := filepath.Join(b.tmp, "Petsfile")
		body := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d))\n", b.server, port, port)
		if err := os.WriteFile(pf, []byte(body), 0o644); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := b.petsCmd(home, "up", "-f", pf); err != nil {
			return 0, err
		}
		d := time.Since(t0)
		return d, b.petsCmd(home, "down", "--grace", "1s")
	})
}

func (b *bench) petsCmd(home string, args ...string) error {
	cmd := exec.Command(b.pets, args...)
	cmd.Env = append(os.Environ(), "PETS_HOME="+home)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pets %v: %v\n%s", args, err, errb.String())
	}
	return nil
}

// watchRun is a `pets up --watch` in the background with its stderr lines.
type watchRun struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	times []time.Time
	done  chan struct{}
}

func (b *bench) startWatch(dir, home string, args ...string) (*watchRun, error) {
	return b.startWatchEnv(dir, home, nil, args...)
}

// startWatchEnv is startWatch with env added to pets' environment.
func (b *bench) startWatchEnv(dir, home string, env []string, args ...string) (*watchRun, error) {
	w := &watchRun{cmd: exec.Command(b.pets, append([]string{"up", "--watch"}, args...)...), done: make(chan struct{})}
	w.cmd.Dir = dir
	w.cmd.Env = append(append(os.Environ(), "PETS_HOME="+home), env...)
	w.cmd.Stdout = io.Discard
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.mu.Lock()
			w.lines = append(w.lines, sc.Text())
			w.times = append(w.times, time.Now())
			w.mu.Unlock()
		}
	}()
	if _, _, err := w.wait(regexp.MustCompile(`^Watching `), 0, 5*time.Minute); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// wait returns the index and time of the first line at or after from matching re.
func (w *watchRun) wait(re *regexp.Regexp, from int, timeout time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		for i := from; i < len(w.lines); i++ {
			if re.MatchString(w.lines[i]) {
				t := w.times[i]
				w.mu.Unlock()
				return i, t, nil
			}
		}
		out := strings.Join(w.lines, "\n")
		w.mu.Unlock()
		select {
		case <-w.done:
			return 0, time.Time{}, fmt.Errorf("pets exited:\n%s", out)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, time.Time{}, fmt.Errorf("no line matching %s:\n%s", re, out)
		}
	}
}

func (w *watchRun) count() int { w.mu.Lock(); defer w.mu.Unlock(); return len(w.lines) }

func (w *watchRun) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	<-w.done
	_ = w.cmd.Wait()
}

// editToRestart measures write -> the last of a chain of n services answering
// with a new pid.
func (b *bench) editToRestart(mode string, n int) (samples, error) {
	s, _, err := b.editToRestartEnv(mode, n, nil, nil)
	return s, err
}

// editToRestartEnv is editToRestart with env added to pets' environment,
// and between (may be nil) called after each sample's round; it returns
// pets' stderr too.
func (b *bench) editToRestartEnv(mode string, n int, env []string, between func() error) (samples, []string, error) {
	dir, err := os.MkdirTemp(b.tmp, "edit-")
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		return nil, nil, err
	}
	var pf strings.Builder
	var ports []int
	for i := 0; i < n; i++ {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		ports = append(ports, port)
		deps, params, dep := "", "", ""
		if i > 0 {
			deps, params, dep = fmt.Sprintf(`"s%d"`, i-1), "d", ` --dep d=" + d["host"] + "`
		}
		watch := ""
		if i == 0 {
			watch = `, watch=["src/**"]`
		}
		fmt.Fprintf(&pf, "def s%d_local(%s):\n  return service(start(\"exec %s --port %d%s\"), \"127.0.0.1\", %d)\nregister(\"s%d\", \"local\", s%d_local, deps=[%s]%s)\n",
			i, params, b.server, port, dep, port, i, i, deps, watch)
	}
	if err := os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf.String()), 0o644); err != nil {
		return nil, nil, err
	}
	file := filepath.Join(dir, "src", "main.go")
	if err := os.WriteFile(file, []byte("0"), 0o644); err != nil {
		return nil, nil, err
	}
	w, err := b.startWatchEnv(dir, filepath.Join(dir, "home"), env)
	if err != nil {
		return nil, nil, err
	}
	defer w.stop()
	last := ports[n-1]
	i := 0
	s, err := sample(b.n, func() (time.Duration, error) {
		i++
		before, err := pidOf(last)
		if err != nil {
			return 0, err
		}
		from := w.count()
		t0 := time.Now()
		switch mode {
		case "write in place":
			err = os.WriteFile(file, []byte(strconv.Itoa(i)), 0o644)
		case "atomic rename":
			tmp := file + ".tmp~"
			if err = os.WriteFile(tmp, []byte(strconv.Itoa(i)), 0o644); err == nil {
				err = os.Rename(tmp, file)
			}
		}
		if err != nil {
			return 0, err
		}
		if _, err := b.announced.server(last, before, 30*time.Second); err != nil {
			return 0, err
		}
		d := time.Since(t0)
		// Let the round finish before the next edit.
		if _, _, err = w.wait(regexp.MustCompile(`in all\)$`), from, 30*time.Second); err == nil && between != nil {
			err = between()
		}
		return d, err
	})
	w.mu.Lock()
	lines := slices.Clone(w.lines)
	w.mu.Unlock()
	return s, lines, err
}

var httpc = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

var pidRE = regexp.MustCompile(`\(pid (\d+)\)`)

// pidOf asks a petserver for its pid.
func pidOf(port int) (int, error) {
	resp, err := httpc.Get(fmt.Sprintf("http://127.0.0.1:%d/pid", port))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := pidRE.FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("no pid in %q", body)
	}
	return strconv.Atoi(string(m[1]))
}

// burst: a git checkout that changes 2,000 files under a watched service.
func (b *bench) burst() error {
	dir, err := os.MkdirTemp(b.tmp, "burst-")
	if err != nil {
		return err
	}
	checkout, err := gitBurstRepo(filepath.Join(dir, "src")) // on branch other
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	pf := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d), watch=['src/**'])\n", b.server, port, port)
	if err := os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf), 0o644); err != nil {
		return err
	}
	w, err := b.startWatch(dir, filepath.Join(dir, "home"))
	if err != nil {
		return err
	}
	defer w.stop()
	var restarts []int
	var settle []time.Duration
	for range 5 { // main, other, main, other, main
		from := w.count()
		t0 := time.Now()
		if err := checkout(); err != nil {
			return err
		}
		// Settled: a round has ended and no round starts for 2s after it.
		idx, end, err := w.wait(regexp.MustCompile(`in all\)$`), from, time.Minute)
		if err != nil {
			return err
		}
		for {
			next, t, err := w.wait(regexp.MustCompile(`in all\)$`), idx+1, 2*time.Second)
			if err != nil {
				break
			}
			idx, end = next, t
		}
		n := 0
		w.mu.Lock()
		for _, l := range w.lines[from:] {
			if strings.Contains(l, "s-local restarted") {
				n++
			}
		}
		w.mu.Unlock()
		restarts = append(restarts, n)
		settle = append(settle, end.Sub(t0))
	}
	sort.Slice(settle, func(i, j int) bool { return settle[i] < settle[j] })
	b.note("2,000-file git checkout (5 checkouts): restarts of the owning service", fmt.Sprint(restarts))
	b.note("2,000-file git checkout: checkout start to last restart done", fmt.Sprintf("median %s, max %s", ms(settle[len(settle)/2]), ms(settle[len(settle)-1])))
	return nil
}

// largeTree: time until watching, peak RSS and idle CPU of pets on a tree of
// b.treeFiles files plus an ignored directory of half as many.
func (b *bench) largeTree() error {
	dir, err := os.MkdirTemp(b.tmp, "tree-")
	if err != nil {
		return err
	}
	perDir := 10
	mk := func(root string, files int) error {
		for i := 0; i < files; i++ {
			d := filepath.Join(root, fmt.Sprintf("d%03d", i/perDir/100), fmt.Sprintf("e%02d", (i/perDir)%100))
			if i%perDir == 0 {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), nil, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if err := mk(filepath.Join(dir, "src"), b.treeFiles); err != nil {
		return err
	}
	if err := mk(filepath.Join(dir, "src", "node_modules"), b.treeFiles/2); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "src", ".gitignore"), []byte("node_modules/\n"), 0o644); err != nil {
		return err
	}
	// The tree's 150,000 new inodes go to disk now, not while pets is
	// measured on it (a user's tree is not written the moment before).
	_ = exec.Command("sync").Run()
	dirs := 0
	_ = filepath.WalkDir(filepath.Join(dir, "src"), func(p string, d os.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			if d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			dirs++
		}
		return nil
	})

	// In process: watcher.New on the tree.
	var newTimes samples
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		w, err := watcher.New(watcher.Options{Roots: []string{filepath.Join(dir, "src")}})
		if err != nil {
			return err
		}
		newTimes = append(newTimes, time.Since(t0))
		w.Close()
	}
	sort.Slice(newTimes, func(i, j int) bool { return newTimes[i] < newTimes[j] })

	// The pets process itself.
	port, err := freePort()
	if err != nil {
		return err
	}
	pf := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d), watch=['src/**'])\n", b.server, port, port)
	if err := os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf), 0o644); err != nil {
		return err
	}
	home := filepath.Join(dir, "home")
	list := func() (time.Duration, error) {
		t0 := time.Now()
		cmd := exec.Command(b.pets, "list", "-o", "json")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "PETS_HOME="+home)
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("pets list: %v", err)
		}
		if !strings.Contains(string(out), `"freshness": "fresh"`) {
			return 0, fmt.Errorf("pets list did not say fresh:\n%s", out)
		}
		return time.Since(t0), nil
	}
	// Three launches, each from no state; the last one stays up for the
	// idle figures. The first pets list after the "Watching" line is
	// answered once what the service started from is indexed (that walk
	// comes after the start).
	var toReady, toWatching, toIndexed samples
	var w *watchRun
	for range 3 {
		if w != nil {
			w.stop()
		}
		if err := os.RemoveAll(filepath.Join(dir, "home")); err != nil {
			return err
		}
		t0 := time.Now()
		if w, err = b.startWatch(dir, filepath.Join(dir, "home")); err != nil {
			return err
		}
		_, ready, _ := w.wait(regexp.MustCompile(`s-local is now running`), 0, time.Second)
		_, watching, _ := w.wait(regexp.MustCompile(`^Watching `), 0, time.Second)
		toReady, toWatching = append(toReady, ready.Sub(t0)), append(toWatching, watching.Sub(t0))
		if _, err := list(); err != nil {
			w.stop()
			return err
		}
		toIndexed = append(toIndexed, time.Since(t0))
	}
	for _, s := range []samples{toReady, toWatching, toIndexed} {
		s.sort()
	}
	pid := w.cmd.Process.Pid
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	time.Sleep(10 * time.Second) // the idle period being measured
	cpu1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	hwm, err := statusKB(pid, "VmHWM")
	if err != nil {
		return err
	}
	rss, _ := statusKB(pid, "VmRSS")
	anon, _ := statusKB(pid, "RssAnon") // private memory: the heap and stacks, not the binary's pages
	// pets list asks the watching pets (a barrier through its watcher)...
	watched, err := sample(5, list)
	if err != nil {
		w.stop()
		return err
	}
	w.stop()
	// ... or, with no pets watching, walks the tree and compares.
	if err := b.petsCmd(home, "up", "-f", filepath.Join(dir, "Petsfile")); err != nil {
		return err
	}
	walked, err := sample(5, list)
	if derr := b.petsCmd(home, "down", "--grace", "1s"); err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	b.note(fmt.Sprintf("%d-file tree (%d dirs) + %d ignored files: watcher.New", b.treeFiles, dirs, b.treeFiles/2),
		fmt.Sprintf("median %s of 3", ms(newTimes[1])))
	b.note("  pets up --watch: launch to service ready (the watches placed first: a walk that reads only directories holding directories)", fmt.Sprintf("median %s of 3", ms(toReady[1])))
	floor := newTimes[1]
	b.rows = append(b.rows, row{"  pets up --watch: launch to watching", fmt.Sprintf("median %s of 3", ms(toWatching[1])), "watcher.New: " + ms(floor),
		fmt.Sprintf("%.2fx (+%s)", float64(toWatching[1])/float64(floor), ms(toWatching[1]-floor))})
	b.note("  pets up --watch: launch to the first pets list answered (what it started from indexed, a walk after the start)", fmt.Sprintf("median %s of 3", ms(toIndexed[1])))
	b.note("  pets up --watch: peak RSS (VmHWM) / RSS idle (of it private, RssAnon)", fmt.Sprintf("%.1f MB / %.1f MB (%.1f MB)", float64(hwm)/1024, float64(rss)/1024, float64(anon)/1024))
	b.note("  pets up --watch: CPU used over 10 s idle", fmt.Sprintf("%s (%.2f%% of a core)", ms(cpu1-cpu0), 100*float64(cpu1-cpu0)/float64(10*time.Second)))
	b.note("  pets list, a pets watching (asks it)", fmt.Sprintf("median %s of 5", ms(watched.median())))
	b.note("  pets list, no pets watching (walks the tree)", fmt.Sprintf("median %s of 5", ms(walked.median())))
	return nil
}

// cpuTime is utime+stime of pid.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

func statusKB(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no %s", field)
	}
	return strconv.Atoi(string(m[1]))
}

type samples []time.Duration

func sample(n int, f func() (time.Duration, error)) (samples, error) {
	var s samples
	for i := 0; i < n; i++ {
		d, err := f()
		if err != nil {
			return nil, err
		}
		s = append(s, d)
	}
	s.sort()
	return s, nil
}

// sort puts s in order, as median and p90 need it.
func (s samples) sort() { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

func (s samples) median() time.Duration { return s[len(s)/2] }
func (s samples) p90() time.Duration    { return s[len(s)*9/10] }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// freePort is a port on 127.0.0.1 that nothing listens on, never the same
// twice (freeport.Get).
func freePort() (int, error) { return freeport.Get() }

// syncLatency: write -> the new content readable in the container, through
// pets up --watch with a sync rule, beside a bare exec round trip in the
// same pod. With restart, the rule says restart=True and the server runs
// under pets-restart: a sample ends when the new content is served by a
// server started after the write. Needs the project's test cluster (make
// cluster-up).
func (b *bench) syncLatency(restart bool) error {
	figure, command, restartArg := "edit-to-synced-in-pod (write to the container serving the new content)", "", ""
	if restart {
		figure = "edit-to-restarted-in-pod (restart=True: write to a new server process serving it)"
		command = `        command: ["pets-restart", "--", "sh", "-c", "echo $$$$ > /www/started; exec httpd -f -p 8080 -h /www"]` + "\n"
		restartArg = ", restart=True"
	}
	kubeconfig := os.Getenv("PETS_CLUSTER_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = "/var/tmp/pets-cluster/kubeconfig"
	}
	cfg, err := kube.LoadConfig(kube.LoadOptions{Kubeconfig: kubeconfig})
	if err != nil {
		b.note(figure, "not measured: no test cluster ("+err.Error()+"); run make cluster-up")
		return nil
	}
	c, err := kube.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("pets-bench-%d", time.Now().UnixNano()%1e6)
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: app
        image: pets.local/busybox-app:1
        imagePullPolicy: Never
%[2]s`, ns, command)
	objs, err := c.Apply(ctx, []byte(manifest), ns)
	if err != nil {
		b.note(figure, "not measured: the test cluster does not answer ("+err.Error()+"); run make cluster-up")
		return nil
	}
	defer func() {
		_ = exec.Command("kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", ns, "--wait=false").Run()
	}()
	if err := c.WaitRollout(ctx, objs, 2*time.Minute, nil); err != nil {
		return err
	}
	var pod kube.Pod
	for {
		pods, err := c.ReadyPods(ctx, kube.PodSelector{Namespace: ns, Selector: "app=web"})
		if err == nil && len(pods) == 1 {
			pod = pods[0]
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	floor, err := c.MeasureExec(ctx, pod, b.n)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(b.tmp, "sync-")
	if err != nil {
		return err
	}
	static := filepath.Join(dir, "static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		return err
	}
	pf := fmt.Sprintf("register('web', 'k8s', lambda: None, watch=['static/**'], sync=[sync_rule('app=web', {'static': '/www'}, namespace='%s'%s)])\n", ns, restartArg)
	if err := os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf), 0o644); err != nil {
		return err
	}
	os.Setenv("KUBECONFIG", kubeconfig)
	w, err := b.startWatch(dir, filepath.Join(dir, "home"), "--tier", "k8s")
	if err != nil {
		return err
	}
	defer w.stop()
	// Read the file back as the container serves it (busybox httpd on /www),
	// through a port-forward: polling by exec would add a whole exec round
	// trip (~50 ms) to every sample.
	fwd, err := c.PortForward(ctx, kube.ForwardOptions{Pods: kube.PodSelector{Namespace: ns, Selector: "app=web"}, RemotePort: 8080})
	if err != nil {
		return err
	}
	defer fwd.Close()
	// A fresh connection per poll with a short timeout: a stalled request
	// must not count as sync latency.
	keepAlive := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	file := filepath.Join(static, "v.txt")
	get := func(name string) (string, error) {
		resp, err := keepAlive.Get("http://" + fwd.Addr() + "/" + name)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, err = io.Copy(&out, resp.Body)
		return out.String(), err
	}
	i := 0
	s, err := sample(b.n, func() (time.Duration, error) {
		i++
		want := strconv.Itoa(i)
		from := w.count()
		var started string
		if restart {
			if started, err = get("started"); err != nil {
				return 0, err
			}
		}
		t0 := time.Now()
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			return 0, err
		}
		// Poll from the end of pets' round on, as buildInPod polls from the
		// build's end: a request through the port-forward every moment
		// before it (the API server, the kubelet, the container) slowed the
		// sync it measures by 30 to 80 ms. pets' line only says when to
		// start looking: the figure ends when the container serves the new
		// content, so a line that came late could only make it longer.
		if _, _, err := w.wait(regexp.MustCompile(`in all\)$`), from, 30*time.Second); err != nil {
			return 0, err
		}
		for first := true; ; first = false {
			if !first {
				time.Sleep(time.Millisecond)
			}
			got, err := get("v.txt")
			if err == nil && got == want && restart {
				var now string
				if now, err = get("started"); err == nil && now == started {
					got = "" // the old server: not restarted yet
				}
			}
			if err == nil && got == want {
				return time.Since(t0), nil
			}
			if time.Since(t0) > 30*time.Second {
				w.mu.Lock()
				lines := w.lines[max(0, len(w.lines)-5):]
				w.mu.Unlock()
				return 0, fmt.Errorf("not synced within 30s (served %q, %v); pets said:\n%s", got, err, strings.Join(lines, "\n"))
			}
		}
	})
	if err != nil {
		return err
	}
	b.add(figure, s, "bare exec round trip", floor.Median)
	return nil
}

// uiLag: the status page's event lag (from pets stamping an event to the
// page, open in headless Chromium, receiving it) while a service prints
// 10,000 log lines a second and the page shows that log, beside the same
// without the flood; and pets' peak RSS meanwhile. Each sample is one event
// of the rounds that b.n edits cause.
func (b *bench) uiLag() {
	const figure = "status page: event lag, emitted to received by the page, while a service logs 10,000 lines/s"
	fmt.Fprintf(os.Stderr, "measuring the status page's event lag...\n")
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		b.note(figure, "not measured: no chromium (apt-get install chromium)")
		return
	}
	flood := filepath.Join(b.tmp, "flood", "flood")
	src := `package main

import ("bufio"; "fmt"; "os"; "strconv"; "time")

func main() { // os.Args[1] lines a second, forever
	rate, _ := strconv.Atoi(os.Args[1])
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	t0, n := time.Now(), 0
	for range time.Tick(10 * time.Millisecond) {
		for due := int(time.Since(t0).Seconds() * float64(rate)); n < due; n++ {
			fmt.Fprintf(w, "flood %09d the quick brown fox jumps over the lazy dog\n", n)
		}
		w.Flush()
	}
}
`
	if err := os.MkdirAll(filepath.Dir(flood), 0o755); err == nil {
		err = os.WriteFile(flood+".go", []byte(src), 0o644)
	}
	if out, err := exec.Command("go", "build", "-o", flood, flood+".go").CombinedOutput(); err != nil {
		b.note(figure, fmt.Sprintf("not measured: build the flood: %v\n%s", err, out))
		return
	}
	lag := func(rate int) (samples, int, error) {
		dir, err := os.MkdirTemp(b.tmp, "ui-")
		if err != nil {
			return nil, 0, err
		}
		port, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		pf := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d), watch=['s/**'])\n", b.server, port, port)
		if rate > 0 {
			pf = fmt.Sprintf("register('flood', 'local', lambda: start('exec %s %d'), watch=['flood/**'])\n", flood, rate) + pf
		}
		if err := os.MkdirAll(filepath.Join(dir, "s"), 0o755); err != nil {
			return nil, 0, err
		}
		if err := os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf), 0o644); err != nil {
			return nil, 0, err
		}
		uiPort, err := freePort()
		if err != nil {
			return nil, 0, err
		}
		home := filepath.Join(dir, "home")
		w, err := b.startWatch(dir, home, "--ui-port", strconv.Itoa(uiPort))
		if err != nil {
			return nil, 0, err
		}
		defer w.stop()
		ui := exec.Command(b.pets, "ui")
		ui.Dir, ui.Env = dir, append(os.Environ(), "PETS_HOME="+home)
		addr, err := ui.Output()
		if err != nil {
			return nil, 0, fmt.Errorf("pets ui: %v", err)
		}
		// A fresh profile, which chromedp removes (and any process of the
		// browser still using it) once the browser is stopped.
		actx, acancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium),
			chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
			chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1280, 1000))
		defer acancel()
		ctx, cancel := chromedp.NewContext(actx)
		defer func() {
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			_ = chromedp.Cancel(cctx)
			ccancel()
			cancel()
		}()
		live := `document.getElementById('conn').dataset.state === 'live'`
		if err := chromedp.Do(ctx, chromedp.Navigate(strings.TrimSpace(string(addr)))); err != nil {
			return nil, 0, err
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](live, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			return nil, 0, fmt.Errorf("the page: %v", err)
		}
		time.Sleep(2 * time.Second) // the flood on the page
		re := regexp.MustCompile(`round \d+: s/x -> s-local restarted`)
		from := w.count()
		for i := 0; i < b.n; i++ {
			if err := os.WriteFile(filepath.Join(dir, "s", "x"), []byte(strconv.Itoa(i)), 0o644); err != nil {
				return nil, 0, err
			}
			idx, _, err := w.wait(re, from, time.Minute)
			if err != nil {
				return nil, 0, err
			}
			from = idx + 1
			time.Sleep(100 * time.Millisecond) // the round's last events reach the page
		}
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.petsUI.lag.map(l => l.ms)`))
		if err != nil {
			return nil, 0, err
		}
		hwm, _ := statusKB(w.cmd.Process.Pid, "VmHWM")
		var s samples
		for _, m := range ms {
			s = append(s, time.Duration(m*float64(time.Millisecond)))
		}
		if len(s) == 0 {
			return nil, 0, fmt.Errorf("the page had no event")
		}
		s.sort()
		return s, hwm, nil
	}
	quiet, _, err := lag(0)
	if err != nil {
		b.note(figure, "not measured: "+err.Error())
		return
	}
	flooded, hwm, err := lag(10_000)
	if err != nil {
		b.note(figure, "not measured: "+err.Error())
		return
	}
	b.add(figure+fmt.Sprintf(" (%d events)", len(flooded)), flooded, "same, no flood", quiet.median())
	b.note("  pets' peak RSS (VmHWM) meanwhile, the page open", fmt.Sprintf("%.1f MB", float64(hwm)/1024))
}
