// Command bench prints pets' speed figures as a table, each beside the floor
// measured in the same run on the same machine. Run it with `make bench`.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/windmilleng/pets/proc"
)

func main() {
	n := flag.Int("n", 30, "samples per figure")
	pets := flag.String("pets", "bin/pets", "the pets binary to measure")
	flag.Parse()
	if err := run(*pets, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	name        string
	median, p90 time.Duration
	floorName   string
	floor       time.Duration
}

func run(pets string, n int) error {
	tmp, err := os.MkdirTemp("", "pets-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	server := filepath.Join(tmp, "petserver")
	if out, err := exec.Command("go", "build", "-o", server, "./examples/petserver").CombinedOutput(); err != nil {
		return fmt.Errorf("build petserver: %v\n%s", err, out)
	}
	pets, err = filepath.Abs(pets)
	if err != nil {
		return err
	}
	var rows []row

	// Floor: fork+exec the server and wait until its port accepts.
	floor, err := sample(n, func() (time.Duration, error) {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		p, err := proc.Start(proc.Spec{Line: fmt.Sprintf("exec %s --port %d", server, port), Dir: tmp})
		if err != nil {
			return 0, err
		}
		defer func() { _, _ = proc.Stop(context.Background(), p.Identity, time.Second) }()
		if err := proc.WaitTCP(context.Background(), fmt.Sprintf("127.0.0.1:%d", port), p.Done()); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	})
	if err != nil {
		return err
	}

	// pets up of one service: from the command to its exit (server ready).
	home := filepath.Join(tmp, "home")
	up, err := sample(n, func() (time.Duration, error) {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		pf := filepath.Join(tmp, "Petsfile")
		body := fmt.Sprintf("register('s', 'local', lambda: service(start('exec %s --port %d'), '127.0.0.1', %d))\n", server, port, port)
		if err := os.WriteFile(pf, []byte(body), 0o644); err != nil {
			return 0, err
		}
		t0 := time.Now()
		if err := petsCmd(pets, home, "up", "-f", pf); err != nil {
			return 0, err
		}
		d := time.Since(t0)
		return d, petsCmd(pets, home, "down", "--grace", "1s")
	})
	if err != nil {
		return err
	}
	rows = append(rows, row{"pets up, 1 service (command to ready, incl. pets start-up)", up.median(), up.p90(), "fork+exec of the same server to ready", floor.median()})

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "figure\tmedian\tp90\tfloor\tfloor median\tratio\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fx\t\n", r.name, ms(r.median), ms(r.p90), r.floorName, ms(r.floor), float64(r.median)/float64(r.floor))
	}
	tw.Flush()
	fmt.Printf("(%d samples each; %s)\n", n, time.Now().Format(time.RFC3339))
	return nil
}

func petsCmd(pets, home string, args ...string) error {
	cmd := exec.Command(pets, args...)
	cmd.Env = append(os.Environ(), "PETS_HOME="+home)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pets %v: %v\n%s", args, err, errb.String())
	}
	return nil
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
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s, nil
}

func (s samples) median() time.Duration { return s[len(s)/2] }
func (s samples) p90() time.Duration    { return s[len(s)*9/10] }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
