package watcher

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/windmilleng/pets/watcher/watchertest"
)

var (
	measureBurst   = flag.Bool("watcher.measure-burst", false, "measure batching and save latency per configuration (see doc.go)")
	measureTrials  = flag.Int("watcher.measure-trials", 10, "trials per case, load and configuration in -watcher.measure-burst")
	measureConfigs = flag.String("watcher.measure-configs", "40/40,8/8,8/50,8/50+git",
		"configurations of -watcher.measure-burst: quiet/burst in ms; +git: wait for git; +hN, +sN: the heat's half-life and gitStateGrace in ms; +late: read batches only after the command (how the 40 ms default was measured)")
	measureCases = flag.String("watcher.measure-cases", "checkout,rebase,pull,stash,gofmt,sed,save",
		"cases of -watcher.measure-burst (checkout, rebase, pull, stash, gofmt, sed, save)")
	measureLoads = flag.String("watcher.measure-loads", "idle,busy", "loads of -watcher.measure-burst: idle, busy (two CPU-bound processes at nice 0)")
)

// measureConfig is one way of batching under measurement.
type measureConfig struct {
	name                 string
	quiet, burst         time.Duration
	halfLife, stateGrace time.Duration // 0: the defaults
	git                  bool
	late                 bool // read batches only after the command returned
}

func parseConfigs(t *testing.T, s string) []measureConfig {
	t.Helper()
	var out []measureConfig
	for _, f := range strings.Split(s, ",") {
		c := measureConfig{name: f}
		spec, mods, _ := strings.Cut(f, "+")
		for _, m := range strings.Split(mods, "+") {
			switch m {
			case "":
			case "git":
				c.git = true
			case "late":
				c.late = true
			default:
				if v, err := strconv.Atoi(m[1:]); err == nil && (m[0] == 'h' || m[0] == 's') {
					if m[0] == 'h' {
						c.halfLife = time.Duration(v) * time.Millisecond
					} else {
						c.stateGrace = time.Duration(v) * time.Millisecond
					}
					continue
				}
				t.Fatalf("config %q: unknown %q", f, m)
			}
		}
		q, b, _ := strings.Cut(spec, "/")
		qi, err1 := strconv.Atoi(q)
		bi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			t.Fatalf("config %q: want quiet/burst in ms", f)
		}
		c.quiet, c.burst = time.Duration(qi)*time.Millisecond, time.Duration(bi)*time.Millisecond
		out = append(out, c)
	}
	return out
}

func (c measureConfig) options(root string) Options {
	return Options{Roots: []string{root}, Quiet: c.quiet, Burst: c.burst, noGit: !c.git,
		halfLife: c.halfLife, stateGrace: c.stateGrace}
}

// TestMeasureBurst is how DefaultQuiet, DefaultBurst and gitStateGrace were
// chosen. It is a measurement, not a check, and runs only when asked:
//
//	go test -run TestMeasureBurst -v -timeout 0 ./watcher/ -watcher.measure-burst -watcher.measure-trials=50
//
// For each load (idle; busy: two CPU-bound processes at nice 0 keep both
// cores busy) and each case it runs the case's command once per trial and
// configuration, the configurations interleaved, with a new Watcher each
// time whose batches are read as they come, as the rebuild engine reads
// them, and counts the batches that held changes. The cases:
//
//   - checkout: git checkout between two branches that differ in 2,000
//     files (20 directories of 100); the batches together must hold exactly
//     those files;
//   - rebase: git rebase of 5 commits of 100 files each onto a commit that
//     changes one other file;
//   - pull: git pull --ff-only of a 2,000-file change from another clone;
//   - stash: git stash of 500 modified files, then git stash pop;
//   - gofmt: gofmt -w rewriting 500 files (no git);
//   - sed: find -exec sed -i rewriting 500 files, one process per file (no git);
//   - save: a write in place and an atomic save (temp file renamed over the
//     file) in the checkout's tree, and the time from the write to the
//     batch holding it: the latency a configuration adds to a restart.
func TestMeasureBurst(t *testing.T) {
	if !*measureBurst {
		t.Skip("a measurement; run with -watcher.measure-burst")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	configs := parseConfigs(t, *measureConfigs)
	cases := strings.Split(*measureCases, ",")
	n := *measureTrials
	var results []string
	report := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		results = append(results, s)
		t.Log(s)
	}
	defer func() { t.Log("summary:\n" + strings.Join(results, "\n")) }()

	type runner struct {
		name string
		run  func(c measureConfig) int // batches of one trial
		want int                       // the batches a trial should give
	}
	var runners []runner
	var saves []func(c measureConfig, load string)
	for _, cs := range cases {
		switch cs {
		case "checkout":
			root := tempDir(t)
			repo, err := watchertest.MakeGitRepo(root, 2000, 100)
			must(t, err)
			slices.Sort(repo.Changed)
			branch := "a"
			runners = append(runners, runner{name: "checkout 2,000 files", want: 1, run: func(c measureConfig) int {
				branch = map[string]string{"a": "b", "b": "a"}[branch]
				bs := observe(t, c, root, func() error { return repo.Checkout(branch) })
				if got := pathsOf(bs); !slices.Equal(got, repo.Changed) {
					t.Errorf("%s: checkout batches held %d paths, want the %d changed", c.name, len(got), len(repo.Changed))
				}
				return len(bs)
			}})
		case "rebase":
			root := tempDir(t)
			repo, err := watchertest.MakeGitRepo(root, 2000, 100)
			must(t, err)
			git := func(args ...string) string {
				out, err := repo.Git(args...)
				must(t, err)
				return strings.TrimSpace(out)
			}
			git("checkout", "-q", "-b", "r", "a")
			for i := range 5 {
				for _, p := range repo.Changed[i*100 : (i+1)*100] {
					writeFile(t, p, fmt.Sprintf("r%d\n", i))
				}
				git("commit", "-qam", fmt.Sprint("r", i))
			}
			tip := git("rev-parse", "HEAD")
			git("checkout", "-q", "-b", "onto", "a")
			writeFile(t, repo.Changed[len(repo.Changed)-1], "onto\n")
			git("commit", "-qam", "onto")
			runners = append(runners, runner{name: "rebase 5 commits x 100 files", want: 1, run: func(c measureConfig) int {
				git("checkout", "-q", "-B", "r", tip)
				return len(observe(t, c, root, func() error { _, err := repo.Git("rebase", "-q", "onto"); return err }))
			}})
		case "pull":
			origin := tempDir(t)
			if _, err := watchertest.MakeGitRepo(origin, 2000, 100); err != nil {
				t.Fatal(err)
			}
			root := tempDir(t)
			_, err := watchertest.Git(root, "clone", "-q", "-b", "a", origin, root)
			must(t, err)
			clone := &watchertest.GitRepo{Dir: root}
			out, err := clone.Git("rev-parse", "HEAD")
			must(t, err)
			start := strings.TrimSpace(out)
			runners = append(runners, runner{name: "pull --ff-only 2,000 files", want: 1, run: func(c measureConfig) int {
				_, err := clone.Git("reset", "-q", "--hard", start)
				must(t, err)
				return len(observe(t, c, root, func() error { _, err := clone.Git("pull", "-q", "--ff-only", "origin", "b"); return err }))
			}})
		case "stash":
			root := tempDir(t)
			repo, err := watchertest.MakeGitRepo(root, 2000, 100)
			must(t, err)
			runners = append(runners, runner{name: "stash 500 files", want: 1, run: func(c measureConfig) int {
				for _, p := range repo.Changed[:500] {
					writeFile(t, p, "dirty\n")
				}
				return len(observe(t, c, root, func() error { _, err := repo.Git("stash", "-q"); return err }))
			}}, runner{name: "stash pop 500 files", want: 1, run: func(c measureConfig) int {
				_, err := repo.Git("reset", "-q", "--hard")
				must(t, err)
				if out, _ := repo.Git("stash", "list"); out == "" {
					for _, p := range repo.Changed[:500] {
						writeFile(t, p, "dirty\n")
					}
					_, err = repo.Git("stash", "-q")
					must(t, err)
				}
				return len(observe(t, c, root, func() error { _, err := repo.Git("stash", "pop", "-q"); return err }))
			}})
		case "gofmt", "sed":
			gofmt := filepath.Join(runtime.GOROOT(), "bin", "gofmt")
			root := tempDir(t)
			var files []string
			for i := range 500 {
				d := filepath.Join(root, fmt.Sprintf("p%02d", i/25))
				if i%25 == 0 {
					mkdirAll(t, d)
				}
				files = append(files, filepath.Join(d, fmt.Sprintf("f%03d.go", i)))
			}
			reset := func() {
				for _, f := range files {
					writeFile(t, f, "package  p\nfunc  F( ) {  }\n")
				}
			}
			if cs == "gofmt" {
				runners = append(runners, runner{name: "gofmt -w 500 files", want: 1, run: func(c measureConfig) int {
					reset()
					return len(observe(t, c, root, func() error { return run(gofmt, "-w", root) }))
				}})
			} else {
				runners = append(runners, runner{name: "sed -i 500 files, a process each", want: 1, run: func(c measureConfig) int {
					reset()
					return len(observe(t, c, root, func() error {
						return run("find", root, "-name", "*.go", "-exec", "sed", "-i", "s/F/G/", "{}", ";")
					}))
				}})
			}
		case "save":
			root := tempDir(t)
			_, err := watchertest.MakeGitRepo(root, 2000, 100)
			must(t, err)
			target := filepath.Join(root, "d0000", "d0000", "f00000.txt")
			saves = append(saves, func(c measureConfig, load string) {
				var inPlace, atomic []time.Duration
				for len(inPlace) < n {
					k := min(10, n-len(inPlace))
					inPlace = append(inPlace, saveLatency(t, c, root, target, false, k)...)
					atomic = append(atomic, saveLatency(t, c, root, target, true, k)...)
				}
				report("save %-5s %-14s in place: median %5.1f ms p90 %5.1f ms; atomic: median %5.1f ms p90 %5.1f ms",
					load, c.name, ms(median(inPlace)), ms(pct(inPlace, 90)), ms(median(atomic)), ms(pct(atomic, 90)))
			})
		default:
			t.Fatalf("unknown case %q", cs)
		}
	}

	for _, load := range strings.Split(*measureLoads, ",") {
		stop := func() {}
		switch load {
		case "idle":
		case "busy":
			stop = burnCPUProcs(t, 2)
		default:
			t.Fatalf("unknown load %q", load)
		}
		report("load %s: load average at the start %s", load, loadavg())
		for _, r := range runners {
			ones := make([]int, len(configs))
			hist := make([]map[int]int, len(configs))
			for i := range hist {
				hist[i] = map[int]int{}
			}
			for range n {
				for i, c := range configs {
					b := r.run(c)
					hist[i][b]++
					if b == r.want {
						ones[i]++
					}
				}
			}
			for i, c := range configs {
				report("%-34s %-5s %-14s one batch in %2d/%d  (batches: %s)", r.name, load, c.name, ones[i], n, histogram(hist[i]))
			}
		}
		for _, s := range saves {
			for _, c := range configs {
				s(c, load)
			}
		}
		report("load %s: load average at the end %s", load, loadavg())
		stop()
	}
}

// observe starts a Watcher on root, runs do, and returns the batches that
// held changes: read as they come (see collect), or, for a config with late,
// only after do returned, up to the one holding a sentinel written after do.
func observe(t *testing.T, c measureConfig, root string, do func() error) []Batch {
	t.Helper()
	w, err := New(c.options(root))
	must(t, err)
	defer w.Close()
	var finish func() []Batch
	if !c.late {
		finish = collect(t, w, root)
	}
	must(t, do())
	if c.late {
		finish = collect(t, w, root)
	}
	return finish()
}

// saveLatency saves file n times (in place, or atomically: a temp file
// renamed over it) and returns how long after each write the batch holding
// the file came.
func saveLatency(t *testing.T, c measureConfig, root, file string, atomic bool, n int) []time.Duration {
	t.Helper()
	w, err := New(c.options(root))
	must(t, err)
	defer w.Close()
	var out []time.Duration
	for i := range n {
		content := []byte(fmt.Sprintf("save %d %v\n", i, atomic))
		start := time.Now()
		if atomic {
			must(t, os.WriteFile(file+".tmp", content, 0o644))
			must(t, os.Rename(file+".tmp", file))
		} else {
			must(t, os.WriteFile(file, content, 0o644))
		}
		deadline := time.After(waitLimit)
	wait:
		for {
			select {
			case b := <-w.Batches():
				if slices.Contains(b.Paths, file) {
					out = append(out, time.Since(start))
					break wait
				}
			case err := <-w.Errors():
				t.Fatalf("watcher: %v", err)
			case <-deadline:
				t.Fatal("no batch for the save")
			}
		}
	}
	return out
}

func pathsOf(bs []Batch) []string {
	var ps []string
	for _, b := range bs {
		ps = append(ps, b.Paths...)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

func histogram(h map[int]int) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(int) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%dx%d", h[k], k))
	}
	return strings.Join(parts, " ")
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, out)
	}
	return nil
}

// burnCPUProcs starts n CPU-bound processes (at nice 0, the default) and
// returns a func that kills them and waits for them.
func burnCPUProcs(t *testing.T, n int) (stop func()) {
	t.Helper()
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		must(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			for _, cmd := range cmds {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func median(ds []time.Duration) time.Duration { return pct(ds, 50) }

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
