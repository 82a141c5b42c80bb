package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// parallel: many services, side by side where the graph allows (issue
// "many services"). pets up of 50 independent services that each sleep
// 200 ms and then listen, and an edit to a service that 30 others (100 ms
// each) depend on, from the write to the round's last line; each beside
// the sequential sum of the services' own start times (sleep + fork+exec),
// and the first also with --serial.
func (b *bench) parallel(fork time.Duration) error {
	const (
		independent = 50
		dependents  = 30
	)
	write := func(name string, n int, sleep string, deps bool) (string, error) {
		dir, err := os.MkdirTemp(b.tmp, name+"-")
		if err != nil {
			return "", err
		}
		var pf strings.Builder
		for i := 0; i < n; i++ {
			port, err := freePort()
			if err != nil {
				return "", err
			}
			params, dep := "", ""
			if deps && i > 0 {
				params, dep = "root", `, deps=["s0"]`
			}
			watch := ""
			if i == 0 {
				watch = `, watch=["src/**"]`
			}
			fmt.Fprintf(&pf, "def s%d_local(%s):\n  return service(start(\"sleep %s; exec %s --port %d\"), \"127.0.0.1\", %d)\nregister(\"s%d\", \"local\", s%d_local%s%s)\n",
				i, params, sleep, b.server, port, port, i, i, dep, watch)
		}
		if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "src", "x"), []byte("0"), 0o644); err != nil {
			return "", err
		}
		return dir, os.WriteFile(filepath.Join(dir, "Petsfile"), []byte(pf.String()), 0o644)
	}

	dir, err := write("independent", independent, "0.2", false)
	if err != nil {
		return err
	}
	sum := time.Duration(independent) * (200*time.Millisecond + fork)
	for _, serial := range []bool{false, true} {
		home := filepath.Join(dir, "home")
		n := 5
		figure := fmt.Sprintf("pets up, %d independent services (sleep 200 ms, then listen)", independent)
		args := []string{"up", "-f", filepath.Join(dir, "Petsfile")}
		if serial {
			n, figure, args = 1, figure+", --serial", append(args, "--serial")
		}
		s, err := sample(n, func() (time.Duration, error) {
			t0 := time.Now()
			if err := b.petsCmd(home, args...); err != nil {
				return 0, err
			}
			d := time.Since(t0)
			return d, b.petsCmd(home, "down", "--grace", "1s")
		})
		if err != nil {
			return err
		}
		b.add(figure, s, "sequential sum", sum)
	}

	if dir, err = write("dependents", dependents+1, "0.1", true); err != nil {
		return err
	}
	w, err := b.startWatch(dir, filepath.Join(dir, "home"))
	if err != nil {
		return err
	}
	defer w.stop()
	i := 0
	s, err := sample(5, func() (time.Duration, error) {
		i++
		from := w.count()
		t0 := time.Now()
		if err := os.WriteFile(filepath.Join(dir, "src", "x"), []byte(fmt.Sprint(i)), 0o644); err != nil {
			return 0, err
		}
		_, t, err := w.wait(regexp.MustCompile(`in all\)$`), from, time.Minute)
		return t.Sub(t0), err
	})
	if err != nil {
		return err
	}
	b.add(fmt.Sprintf("edit to a service with %d dependents (100 ms each), to the round's end", dependents), s,
		"sequential sum", time.Duration(dependents+1)*(100*time.Millisecond+fork))
	return nil
}
