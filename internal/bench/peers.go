package main

// Peers in the same run (make bench-peers, or -only peers): pets beside
// entr -r, reflex -s and air (default, and with --build.delay 0), each
// running the same petserver on a port of its own and measured the same way:
//
//   - save to restart: from a write of the watched file (in place, or an
//     atomic rename over it) to a new server answering, found as the
//     restart figures of make bench find it: the server's announcement
//     (PETSERVER_ANNOUNCE), then one request for its pid;
//   - restarts per 2,000-file git checkout: every server start appends its
//     pid to a file (sh -c 'echo $$ >> F; exec petserver ...'), counted
//     until no start came for burstQuiet;
//   - launch to first start: from the tool's fork+exec to the server
//     answering (its announcement, then one request).
//
// The tools take turns: each round runs every tool once (edits, launches,
// one checkout), in an order rotated every round, so that a drift in the
// machine's load falls on all of them alike. pets' own rows are measured in
// these rounds; each peer's ratio is to them.
//
// entr comes from apt (as root, where apt works), reflex and air from go
// install into a temporary GOBIN at a pinned version; a peer that cannot be
// had shows "n/a" and why, and the run goes on. Every process a tool starts
// carries a marker variable in its environment; after the tool is
// interrupted, whatever still carries it is killed (proc.Tree).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/windmilleng/pets/proc"
)

const (
	peerRounds = 3
	// settle: after a restart, the pid must stay the same (and answer) this
	// long before the next edit, so that one edit's rounds end before the
	// next begins; a further restart meanwhile counts as an extra restart.
	settle = 300 * time.Millisecond
	// burstQuiet: a checkout's restarts are over once none came for this
	// long (air's default debounce is 1 s).
	burstQuiet = 2500 * time.Millisecond
	// reflexVersion and airVersion are pinned so that runs compare.
	reflexModule  = "github.com/cespare/reflex"
	reflexVersion = "v0.3.1"
	airVersion    = "v1.67.4"
)

// airModules: air moved from cosmtrek to air-verse; the old path is tried
// if the new one cannot be installed.
var airModules = []string{"github.com/air-verse/air@" + airVersion, "github.com/cosmtrek/air@v1.49.0"}

// tool is one restarter under test.
type tool struct {
	name    string // the command, as shown in the table
	version string
	flags   string // shown after the version
	na      string // why it is not measured ("" if it is)
	// launch returns the command that runs the tool in dir (the project:
	// files under dir/src, the server on port; server is the server's
	// shell line, run as the tool runs commands).
	launch func(s session) (*exec.Cmd, error)

	edits    map[string]samples // by save mode
	extra    map[string]int     // by save mode: restarts beyond the first after a single save
	missed   map[string]int     // by save mode: saves that restarted nothing
	launches samples
	bursts   []int
	killed   int // stops that took a kill after 5 s
}

// session is one run of a tool on a project.
type session struct {
	dir    string   // the project; watched files under dir/src
	files  []string // the watched files, for tools that take a list (entr)
	port   int
	server []string // argv of the server
	starts string   // if set: the file each server start appends its pid to
	home   string   // pets' PETS_HOME
}

// serverLine is the server as one shell line.
func (s session) serverLine() string {
	line := "exec " + strings.Join(s.server, " ")
	if s.starts != "" {
		line = "echo $$ >> " + s.starts + "; " + line
	}
	return line
}

// serverArgv is the server as an argv (tools that exec it themselves).
func (s session) serverArgv() []string {
	if s.starts == "" {
		return s.server
	}
	return []string{"sh", "-c", s.serverLine()}
}

var saveModes = []string{"write in place", "atomic rename"}

func (b *bench) peers() error {
	dir := filepath.Join(b.tmp, "peers")
	gobin := filepath.Join(dir, "gobin")
	if err := os.MkdirAll(gobin, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "installing the peers (entr from apt; reflex and air by go install into %s)...\n", gobin)
	tools := []*tool{b.petsTool()}
	tools = append(tools, entrTool(), reflexTool(gobin))
	tools = append(tools, airTools(gobin)...)
	for _, t := range tools {
		t.edits, t.extra, t.missed = map[string]samples{}, map[string]int{}, map[string]int{}
		if t.na != "" {
			fmt.Fprintf(os.Stderr, "  %s %s: n/a: %s\n", t.name, t.flags, t.na)
		}
	}

	fmt.Fprintf(os.Stderr, "measuring the floor (fork+exec of the server)...\n")
	fork, err := b.forkFloor()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "preparing a git repository of 2,000 files on two branches...\n")
	burstDir := filepath.Join(dir, "burst")
	checkout, err := gitBurstRepo(filepath.Join(burstDir, "src"))
	if err != nil {
		return err
	}
	burstFiles, err := listFiles(filepath.Join(burstDir, "src"))
	if err != nil {
		return err
	}

	perRound := (b.n + peerRounds - 1) / peerRounds
	for r := 0; r < peerRounds; r++ {
		for i := range tools {
			t := tools[(i+r)%len(tools)]
			if t.na != "" {
				continue
			}
			fmt.Fprintf(os.Stderr, "round %d/%d: %s...\n", r+1, peerRounds, strings.TrimSpace(t.name+" "+t.flags))
			err := b.peerRound(t, filepath.Join(dir, fmt.Sprintf("%s-%d", slug(t.name+" "+t.flags), r)), perRound, burstDir, burstFiles, checkout)
			if err == nil {
				continue
			}
			if t == tools[0] {
				return fmt.Errorf("pets: %w", err)
			}
			t.na = "failed: " + reason(err.Error())
			fmt.Fprintf(os.Stderr, "  %s %s: %v\n", t.name, t.flags, err)
		}
	}
	b.peerRows(tools, fork)
	return nil
}

// peerRound is one tool's turn in a round: a launch with perRound edits of
// each mode (alternating), two more launches, and a launch on the burst
// repository with one checkout.
func (b *bench) peerRound(t *tool, dir string, perRound int, burstDir string, burstFiles []string, checkout func() error) error {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	file := filepath.Join(src, "main.go")
	if err := os.WriteFile(file, []byte("package main\n"), 0o644); err != nil {
		return err
	}
	for launch := 0; launch < 3; launch++ {
		s, err := b.newSession(dir, []string{file}, "")
		if err != nil {
			return err
		}
		r, d, err := startTool(b.announced, t, s)
		if err != nil {
			return err
		}
		t.launches = append(t.launches, d)
		if launch == 0 {
			err = b.peerEdits(t, r, s, file, perRound)
		}
		t.stopped(r)
		if err != nil {
			return err
		}
	}

	s, err := b.newSession(burstDir, burstFiles, filepath.Join(dir, "starts"))
	if err != nil {
		return err
	}
	r, _, err := startTool(b.announced, t, s)
	if err != nil {
		return err
	}
	n, err := burstRestarts(r, s, checkout)
	t.stopped(r)
	if err != nil {
		return err
	}
	t.bursts = append(t.bursts, n)
	return nil
}

func (b *bench) newSession(dir string, files []string, starts string) (session, error) {
	port, err := freePort()
	if err != nil {
		return session{}, err
	}
	home, err := os.MkdirTemp(b.tmp, "peers-home-")
	if err != nil {
		return session{}, err
	}
	return session{dir: dir, files: files, port: port, starts: starts, home: home,
		server: []string{b.server, "--port", strconv.Itoa(port)}}, nil
}

// peerEdits saves file perRound times in each mode, alternating, and
// samples the time to a new server answering.
func (b *bench) peerEdits(t *tool, r *running, s session, file string, perRound int) error {
	// The server answers before some tools watch: give them time.
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 2*perRound; i++ {
		mode := saveModes[i%2]
		d, extra, err := saveToRestart(b.announced, r, s.port, file, mode, fmt.Sprintf("package main\n\n// %d %d\n", time.Now().UnixNano(), i))
		if errors.Is(err, errMissed) {
			t.missed[mode]++
			continue
		}
		if err != nil {
			return fmt.Errorf("%s, edit %d: %w", mode, i, err)
		}
		t.edits[mode] = append(t.edits[mode], d)
		t.extra[mode] += extra
	}
	return nil
}

// errMissed: a save restarted nothing within missAfter, the old server
// answering all along.
var errMissed = errors.New("no restart")

// missAfter is how long a save may take to restart before it counts as
// missed (air's default debounce is 1 s, reflex's 300 ms).
const missAfter = 5 * time.Second

// saveToRestart saves body to file (mode: saveModes) and returns the time to
// a new server answering, found as the restart figures find it (its
// announcement, then one request), and how many more servers announced
// themselves on the port before none had for settle; errMissed if nothing
// restarted.
func saveToRestart(a *announcer, r *running, port int, file, mode, body string) (time.Duration, int, error) {
	before, err := pidOf(port)
	if err != nil {
		return 0, 0, err
	}
	a.drain()
	t0 := time.Now()
	switch mode {
	case "write in place":
		err = os.WriteFile(file, []byte(body), 0o644)
	case "atomic rename":
		tmp := file + ".tmp~"
		if err = os.WriteFile(tmp, []byte(body), 0o644); err == nil {
			err = os.Rename(tmp, file)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	_, err = a.serverUnless(port, before, missAfter, r.done)
	if errors.Is(err, errNoServer) {
		if p, perr := pidOf(port); perr == nil && p == before {
			return 0, 0, errMissed // the old server answering all along
		}
		_, err = a.serverUnless(port, before, 15*time.Second-missAfter, r.done)
	}
	switch {
	case errors.Is(err, errGone):
		return 0, 0, fmt.Errorf("the tool exited after a save (%s)%s", mode, r.exited())
	case err != nil:
		return 0, 0, fmt.Errorf("no new server answering 15s after a save (%s): %w%s", mode, err, r.exited())
	}
	d := time.Since(t0)
	extra := a.more(port, settle)
	if _, err := pidOf(port); err != nil {
		return 0, 0, fmt.Errorf("no server answering after a save's restarts (%s): %w%s", mode, err, r.exited())
	}
	return d, extra, nil
}

// burstRestarts runs checkout under the tool and counts the server starts
// until none came for burstQuiet (or the tool found nothing to restart
// for 10 s).
func burstRestarts(r *running, s session, checkout func() error) (int, error) {
	time.Sleep(time.Second) // 2,000 files to watch: let every tool get there
	count := func() int {
		b, _ := os.ReadFile(s.starts)
		return bytes.Count(b, []byte("\n"))
	}
	before := count()
	if err := checkout(); err != nil {
		return 0, err
	}
	last, n, t0 := time.Now(), before, time.Now()
	for {
		time.Sleep(10 * time.Millisecond)
		if c := count(); c != n {
			n, last = c, time.Now()
		}
		if n > before && time.Since(last) > burstQuiet || n == before && time.Since(t0) > 10*time.Second {
			break
		}
	}
	if _, err := pidOf(s.port); err != nil {
		return 0, fmt.Errorf("no server answering after the checkout: %v%s", err, r.exited())
	}
	return n - before, nil
}

// running is a tool started by startTool.
type running struct {
	cmd    *exec.Cmd
	marker string        // NAME=value in the environment of the tool and whatever it starts
	done   chan struct{} // closed once the tool is reaped
	log    string        // the tool's output, for errors
}

// startTool launches t on s and returns once the server answers (its
// announcement, then one request), with the time from the launch.
func startTool(a *announcer, t *tool, s session) (*running, time.Duration, error) {
	cmd, err := t.launch(s)
	if err != nil {
		return nil, 0, err
	}
	out, err := os.Create(filepath.Join(s.home, "tool.log"))
	if err != nil {
		return nil, 0, err
	}
	defer out.Close() // the tool has its own copy
	r := &running{cmd: cmd, done: make(chan struct{}), log: out.Name(),
		marker: fmt.Sprintf("PETS_BENCH_PEER=%d-%d", os.Getpid(), time.Now().UnixNano())}
	cmd.Dir = s.dir
	cmd.Env = append(cmd.Env, r.marker)
	// Files, not pipes: Wait then waits for the tool alone, not for a
	// server that still holds its output.
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	err = cmd.Start()
	if in, ok := cmd.Stdin.(*os.File); ok {
		in.Close()
	}
	if err != nil {
		return nil, 0, fmt.Errorf("start %s: %w", t.name, err)
	}
	go func() { _ = cmd.Wait(); close(r.done) }() // owned by r: kill waits for it
	_, err = a.serverUnless(s.port, 0, 30*time.Second, r.done)
	switch {
	case errors.Is(err, errGone):
		r.kill()
		return nil, 0, fmt.Errorf("%s exited before the server answered%s", t.name, r.exited())
	case err != nil:
		err = fmt.Errorf("the server did not answer within 30s of launching %s: %w%s", t.name, err, r.exited())
		r.stop()
		return nil, 0, err
	}
	return r, time.Since(t0), nil
}

// stop interrupts the tool, waits up to 5 s for it, then kills whatever
// it started that is still there. It says whether the tool itself had to
// be killed.
func (r *running) stop() (killed bool) {
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		killed = true
	}
	r.kill()
	return killed
}

// stopped stops r and counts the stops that took a kill.
func (t *tool) stopped(r *running) {
	if r.stop() {
		t.killed++
	}
}

// kill kills the tool and every process that carries its marker, and waits
// for the tool.
func (r *running) kill() {
	_ = r.cmd.Process.Kill()
	<-r.done
	for i := 0; i < 50; i++ {
		pids, err := proc.Tree(r.marker, nil)
		if err != nil || len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			if p, err := os.FindProcess(pid); err == nil && pid != os.Getpid() {
				_ = p.Kill()
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited says how the tool ended, if it has, with the end of its output.
func (r *running) exited() string {
	select {
	case <-r.done:
		out, _ := os.ReadFile(r.log)
		return fmt.Sprintf(" (%s exited: %v; it said: %s)", filepath.Base(r.cmd.Path), r.cmd.ProcessState, reason(string(out)))
	default:
		return ""
	}
}

func (b *bench) petsTool() *tool {
	return &tool{name: "pets", version: "(this tree)", launch: func(s session) (*exec.Cmd, error) {
		pf := fmt.Sprintf("register('s', 'local', lambda: service(start(%q), '127.0.0.1', %d), watch=['src/**'])\n", s.serverLine(), s.port)
		file := filepath.Join(s.dir, "Petsfile")
		if err := os.WriteFile(file, []byte(pf), 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command(b.pets, "up", "--watch", "-f", file)
		cmd.Env = append(os.Environ(), "PETS_HOME="+s.home)
		return cmd, nil
	}}
}

func entrTool() *tool {
	t := &tool{name: "entr", flags: "-r"}
	t.version, t.na = installEntr()
	t.launch = func(s session) (*exec.Cmd, error) {
		list := filepath.Join(s.home, "entr-files")
		if err := os.WriteFile(list, []byte(strings.Join(s.files, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		in, err := os.Open(list) // closed by startTool once entr has it
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("entr", append([]string{"-rn"}, s.serverArgv()...)...)
		cmd.Stdin = in
		cmd.Env = os.Environ()
		return cmd, nil
	}
	return t
}

func reflexTool(gobin string) *tool {
	t := &tool{name: "reflex", version: reflexVersion, flags: "-s"}
	bin, err := goInstall(gobin, "reflex", reflexModule+"@"+reflexVersion)
	if err != nil {
		t.na = err.Error()
	}
	t.launch = func(s session) (*exec.Cmd, error) {
		cmd := exec.Command(bin, append([]string{"-d", "none", "-s", "-r", `^src/.*\.go$`, "--"}, s.serverArgv()...)...)
		cmd.Env = os.Environ()
		return cmd, nil
	}
	return t
}

// airTools: air with its defaults (1 s debounce) and with --build.delay 0.
// The build step is `true`: the server is prebuilt, as for every tool.
func airTools(gobin string) []*tool {
	var bin, version string
	var errs []string
	for _, m := range airModules {
		var err error
		if bin, err = goInstall(gobin, "air", m); err == nil {
			_, version, _ = strings.Cut(m, "@")
			errs = nil
			break
		}
		errs = append(errs, err.Error())
	}
	var tools []*tool
	for _, extra := range [][]string{nil, {"--build.delay", "0"}} {
		flags := "(default)"
		if extra != nil {
			flags = strings.Join(extra, " ")
		}
		t := &tool{name: "air", version: version, flags: flags, na: strings.Join(errs, "; ")}
		t.launch = func(s session) (*exec.Cmd, error) {
			conf := filepath.Join(s.home, "air.toml")
			toml := fmt.Sprintf(`root = %q
tmp_dir = %q

[build]
cmd = "true"
full_bin = %q
include_dir = ["src"]
include_ext = ["go"]

[log]
main_only = true

[misc]
clean_on_exit = false
`, s.dir, ".air-tmp", s.serverLine())
			if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
				return nil, err
			}
			cmd := exec.Command(bin, append([]string{"-c", conf}, extra...)...)
			cmd.Env = os.Environ()
			return cmd, nil
		}
		tools = append(tools, t)
	}
	return tools
}

// installEntr returns entr's version, installing it with apt-get if it is
// missing (as root), or why it cannot be had.
func installEntr() (version, na string) {
	installed := func() string {
		out, err := exec.Command("dpkg-query", "-W", "-f", "${Status} ${Version}", "entr").Output()
		if f := strings.Fields(string(out)); err == nil && len(f) == 4 && f[2] == "installed" {
			if _, err := exec.LookPath("entr"); err == nil {
				return f[3]
			}
		}
		return ""
	}
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		if _, err := exec.LookPath("entr"); err == nil {
			return "on PATH", ""
		}
		return "", "not installed, and no apt here to install it"
	}
	if v := installed(); v != "" {
		return v, ""
	}
	if os.Geteuid() != 0 {
		return "", "not installed, and apt-get install needs root"
	}
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", "entr")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get install entr: %v: %s", err, reason(string(out)))
		}
		return nil
	}
	err := install()
	if err != nil { // perhaps stale package lists
		if out, uerr := exec.Command("apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=120").CombinedOutput(); uerr != nil {
			return "", fmt.Sprintf("apt-get update: %v: %s", uerr, reason(string(out)))
		}
		err = install()
	}
	if err != nil {
		return "", err.Error()
	}
	if v := installed(); v != "" {
		return v, ""
	}
	return "", "apt-get installed entr, but it is not on PATH"
}

// goInstall installs module@version into gobin (outside this module, which
// stays as it is) and returns the binary's path.
func goInstall(gobin, name, modVersion string) (string, error) {
	run := func(extraEnv ...string) error {
		cmd := exec.Command("go", "install", modVersion)
		cmd.Dir = gobin
		cmd.Env = append(os.Environ(), append([]string{"GOBIN=" + gobin, "GOFLAGS=-mod=mod", "GOWORK=off"}, extraEnv...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go install %s: %v: %s", modVersion, err, reason(string(out)))
		}
		return nil
	}
	err := run()
	if err != nil && strings.Contains(err.Error(), "verifying") {
		err = run("GOSUMDB=off") // the checksum database cannot be reached
	}
	if err != nil {
		return "", err
	}
	bin := filepath.Join(gobin, name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("go install %s: no %s in GOBIN", modVersion, name)
	}
	// Copied afresh, as make build copies pets': the linker's output execs
	// slower while its pages are in the page cache (see build in the
	// Makefile).
	b, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(bin+".new", b, 0o755)
	}
	if err == nil {
		err = os.Rename(bin+".new", bin)
	}
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", bin, err)
	}
	return bin, nil
}

// reason is the last non-empty line of a command's output, cut to one
// short line for the table.
func reason(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return "(no output)"
	}
	if len(last) > 120 {
		last = last[:117] + "..."
	}
	return last
}

// slug turns a tool's name into a directory name.
func slug(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, name)
}

// gitBurstRepo makes a git repository of 2,000 files under src with two
// branches that differ in every file, and returns a checkout of the other
// branch.
func gitBurstRepo(src string) (checkout func() error, err error) {
	git := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-c", "user.email=b@b", "-c", "user.name=b", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v\n%s", args, err, out)
		}
		return nil
	}
	write := func(v string) error {
		for i := 0; i < 2000; i++ {
			p := filepath.Join(src, fmt.Sprintf("pkg%02d", i%50), fmt.Sprintf("f%04d.go", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(v+strconv.Itoa(i)), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	for _, step := range []func() error{
		func() error { return git("init", "-q", "-b", "main") },
		func() error { return write("a") },
		func() error { return git("add", "-A") },
		func() error { return git("commit", "-qm", "a") },
		func() error { return git("checkout", "-qb", "other") },
		func() error { return write("b") },
		func() error { return git("commit", "-qam", "b") },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	branch := "other"
	return func() error {
		branch = map[string]string{"main": "other", "other": "main"}[branch]
		return git("checkout", "-q", branch)
	}, nil
}

// listFiles lists the regular files under dir, .git excepted.
func listFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

// peerRows adds the table's rows: pets' beside the fork+exec floor, each
// peer's beside pets'.
func (b *bench) peerRows(tools []*tool, fork samples) {
	pets := tools[0]
	b.add("floor: fork+exec of the server to answering", fork, "-", fork.median())
	for _, t := range tools {
		label := strings.Join(strings.Fields(t.name+" "+t.version+" "+t.flags), " ")
		if t.na != "" {
			if len(t.launches) > 0 {
				t.na += " (its earlier rounds are left out)"
			}
			b.note(label, "n/a: "+t.na)
			continue
		}
		vs := func(figure string, s samples, ref samples) {
			if t == pets {
				b.add(figure, sortedCopy(s), "fork+exec", fork.median())
				return
			}
			b.versus(figure, s, ref)
		}
		for _, mode := range saveModes {
			figure := fmt.Sprintf("%s: save to new server answering, %s", label, mode)
			if len(t.edits[mode]) == 0 || len(pets.edits[mode]) == 0 {
				b.note(figure, "no save restarted the server")
			} else {
				vs(figure, t.edits[mode], pets.edits[mode])
			}
			b.rows[len(b.rows)-1].value += fmt.Sprintf(" (%d saves: %d missed, %d extra restarts)",
				len(t.edits[mode])+t.missed[mode], t.missed[mode], t.extra[mode])
		}
		burst := row{figure: label + ": restarts per 2,000-file git checkout", value: joinInts(t.bursts)}
		if t != pets {
			burst.floor = "pets: " + joinInts(pets.bursts)
			burst.ratio = fmt.Sprintf("%.2fx", float64(sum(t.bursts))/float64(max(1, sum(pets.bursts))))
		}
		b.rows = append(b.rows, burst)
		vs(label+": launch to first start (server answering)", t.launches, pets.launches)
		if t.killed > 0 {
			b.note("  "+label+": had to be killed", fmt.Sprintf("%d time(s): not gone 5 s after an interrupt", t.killed))
		}
	}
	b.note(fmt.Sprintf("(peers: %d interleaved rounds; %s settle between saves;", peerRounds, ms(settle)),
		fmt.Sprintf("missed: the old server still answering %s after the save; a checkout's restarts are over after %s without one)", ms(missAfter), ms(burstQuiet)))
}

// versus adds a row of s beside pets' ref, measured in the same run.
func (b *bench) versus(figure string, s, ref samples) {
	s, ref = sortedCopy(s), sortedCopy(ref)
	d := s.median() - ref.median()
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	b.rows = append(b.rows, row{figure, fmt.Sprintf("median %s, p90 %s", ms(s.median()), ms(s.p90())),
		"pets: " + ms(ref.median()), fmt.Sprintf("%.2fx (%s%s)", float64(s.median())/float64(ref.median()), sign, ms(d))})
}

func sortedCopy(s samples) samples {
	c := append(samples(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func sum(v []int) int {
	t := 0
	for _, n := range v {
		t += n
	}
	return t
}
