package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startupPhases are the marks pets leaves under PETS_STARTUP_TRACE, in order.
var startupPhases = []struct{ mark, what string }{
	{"main", "exec, Go runtime and package inits (to main)"},
	{"petsfile", "Petsfile evaluated"},
	{"state", "state opened, orphans checked, up lock taken"},
	{"watches", "its files watched (what it starts from is indexed after the start)"},
	{"starting", "service starting"},
	{"ready", "service ready (its port answers, its process)"},
	{"watching", "watching its files"},
}

// startup measures `pets up --watch` of one local service from launch,
// phase by phase (PETS_STARTUP_TRACE), its peak RSS, the package inits
// alone, and pets list; pets-kube (client-go linked in) beside it.
func (b *bench) startup(fork time.Duration) error {
	dir, err := os.MkdirTemp(b.tmp, "startup-")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	pf := filepath.Join(dir, "Petsfile")
	body := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d))\n", b.server, port, port)
	if err := os.WriteFile(pf, []byte(body), 0o644); err != nil {
		return err
	}
	kube := filepath.Join(filepath.Dir(b.pets), "pets-kube")
	type run struct {
		phases map[string]time.Duration
		hwm    int
	}
	launch := func(bin string) (run, error) {
		trace := filepath.Join(dir, "trace")
		os.Remove(trace)
		cmd := exec.Command(bin, "up", "--watch", "-f", pf)
		cmd.Dir, cmd.Stdout = dir, io.Discard
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return run{}, err
		}
		t0 := time.Now()
		cmd.Env = append(os.Environ(), "PETS_HOME="+filepath.Join(dir, "home"), fmt.Sprintf("PETS_STARTUP_TRACE=%s:%d", trace, t0.UnixNano()))
		if err := cmd.Start(); err != nil {
			return run{}, err
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			_, _ = io.Copy(io.Discard, stderr)
			_ = cmd.Wait()
		}()
		var out []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.HasPrefix(sc.Text(), "Watching ") {
			out = append(out, sc.Text())
		}
		hwm, err := statusKB(cmd.Process.Pid, "VmHWM")
		if err != nil {
			return run{}, fmt.Errorf("%s up --watch: %v\n%s", bin, err, strings.Join(out, "\n"))
		}
		r := run{phases: map[string]time.Duration{}, hwm: hwm}
		tb, err := os.ReadFile(trace)
		if err != nil {
			return run{}, err
		}
		for _, l := range strings.Split(strings.TrimSpace(string(tb)), "\n") {
			name, v, _ := strings.Cut(l, " ")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return run{}, fmt.Errorf("trace line %q", l)
			}
			r.phases[name] = time.Duration(f * float64(time.Millisecond))
		}
		return r, nil
	}
	var pets, withKube []run
	for i := 0; i < b.n; i++ { // interleaved: the same load on both
		r, err := launch(b.pets)
		if err != nil {
			return err
		}
		pets = append(pets, r)
		if i%3 == 0 {
			if r, err = launch(kube); err != nil {
				return err
			}
			withKube = append(withKube, r)
		}
	}
	phase := func(runs []run, mark string) samples {
		var s samples
		for _, r := range runs {
			s = append(s, r.phases[mark])
		}
		s.sort()
		return s
	}
	hwm := func(runs []run) float64 {
		var kb []int
		for _, r := range runs {
			kb = append(kb, r.hwm)
		}
		sort.Ints(kb)
		return float64(kb[len(kb)/2]) / 1024
	}
	inits := func(bin string) (time.Duration, error) {
		cmd := exec.Command(bin, "version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var e bytes.Buffer
		cmd.Stderr = &e
		if err := cmd.Run(); err != nil {
			return 0, err
		}
		var sum float64
		for _, l := range strings.Split(e.String(), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[0] == "init" {
				v, _ := strconv.ParseFloat(f[4], 64)
				sum += v
			}
		}
		return time.Duration(sum * float64(time.Millisecond)), nil
	}
	initPets, err := inits(b.pets)
	if err != nil {
		return err
	}
	initKube, err := inits(kube)
	if err != nil {
		return err
	}
	ready, readyKube := phase(pets, "ready"), phase(withKube, "ready")
	b.add("pets up --watch, 1 service: launch to service ready", ready, "fork+exec", fork)
	b.add("  the same as pets-kube (client-go linked in)", readyKube, "pets", ready.median())
	prev := time.Duration(0)
	for _, p := range startupPhases {
		s := phase(pets, p.mark)
		b.note("    "+p.what, fmt.Sprintf("at %s (+%s)", ms(s.median()), ms(s.median()-prev)))
		prev = s.median()
	}
	b.note("    of which package inits (GODEBUG=inittrace=1; pets-kube)", fmt.Sprintf("%s (%s)", ms(initPets), ms(initKube)))
	b.note("  peak RSS of pets up --watch (VmHWM at watching; pets-kube)", fmt.Sprintf("%.1f MB (%.1f MB)", hwm(pets), hwm(withKube)))

	// pets list: the service up, no pets watching it, and watched.
	home := filepath.Join(dir, "home")
	if err := b.petsCmd(home, "up", "-f", pf); err != nil {
		return err
	}
	list := func(bin string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			cmd := exec.Command(bin, "list")
			cmd.Dir, cmd.Env = dir, append(os.Environ(), "PETS_HOME="+home)
			t0 := time.Now()
			out, err := cmd.Output()
			d := time.Since(t0)
			if err != nil || !strings.Contains(string(out), "s-local") {
				return 0, fmt.Errorf("pets list: %v\n%s", err, out)
			}
			return d, nil
		}
	}
	l, err := sample(b.n, list(b.pets))
	if err == nil {
		var lk samples
		if lk, err = sample(b.n/3+1, list(kube)); err == nil {
			b.add("pets list, 1 service up", l, "fork+exec", fork)
			b.add("  the same as pets-kube", lk, "pets", l.median())
		}
	}
	if derr := b.petsCmd(home, "down", "--grace", "1s"); err == nil {
		err = derr
	}
	return err
}
