package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/windmilleng/pets/proc"
	"github.com/windmilleng/pets/watcher"
)

// restarts measures the restart figures (-only restart, and make bench):
// edit to the new server answering, for one service (a write in place and
// an atomic rename) and through a 3-service chain, beside the floors of
// the same run. The chain's bound is the quiet window plus the three
// services' own stop and start times plus 10 ms; what a service's own stop
// and start take is read two ways, both printed: pets' single-service
// restart less the quiet window (what one service costs pets), and, the
// strictest, the bare server's SIGTERM to exit plus its fork+exec to
// answering.
func (b *bench) restarts(inotify, fork samples) error {
	floor := inotify.median() + fork.median()
	var single samples
	for _, mode := range []string{"write in place", "atomic rename"} {
		fmt.Fprintf(os.Stderr, "measuring edit-to-restart (%s)...\n", mode)
		s, err := b.editToRestart(mode, 1)
		if err != nil {
			return err
		}
		b.add("edit-to-restart, 1 service, "+mode, s, "inotify+fork", floor)
		if single == nil {
			single = s
		}
	}
	fmt.Fprintf(os.Stderr, "measuring a 3-service chain, and the bare server's stop and start between its samples...\n")
	// The strict bound's floors are measured between the chain's samples,
	// under the same conditions: the machine's pace drifts over a run (a
	// fork+exec floor of 2.9 ms in one run, 3.9 in the next, a minute
	// apart), and three times a floor's drift was more than the chain's.
	var stop, forkBetween samples
	chain, _, err := b.editToRestartEnv("write in place", 3, nil, func() error {
		f, err := b.forkOnce()
		if err != nil {
			return err
		}
		st, err := b.stopOnce()
		forkBetween, stop = append(forkBetween, f), append(stop, st)
		return err
	})
	if err != nil {
		return err
	}
	stop.sort()
	forkBetween.sort()
	b.add("edit-to-restart through a 3-service chain (to the last dependent)", chain, "3 x fork + inotify", inotify.median()+3*fork.median())
	b.add("floor, between the chain's samples: fork+exec of the server to answering", forkBetween, "-", forkBetween.median())
	b.add("floor, between the chain's samples: SIGTERM of the server to its exit", stop, "-", stop.median())
	window := watcher.DefaultQuiet
	own := single.median() - window
	bound := window + 3*own + 10*time.Millisecond
	b.add("  the chain against its bound: window + 3 x one service's restart by pets + 10 ms", chain,
		fmt.Sprintf("%s + 3 x %s + 10 ms", ms(window), ms(own)), bound)
	bare := window + 3*(stop.median()+forkBetween.median()) + 10*time.Millisecond
	b.add("  the chain against the strict bound: window + 3 x (bare stop + fork+exec) + 10 ms", chain,
		fmt.Sprintf("%s + 3 x (%s + %s) + 10 ms", ms(window), ms(stop.median()), ms(forkBetween.median())), bare)
	return b.hopParts()
}

// stopOnce is one sample of the stop floor: SIGTERM to the server (started
// as forkFloor starts it, and answering) until it has exited and been
// reaped.
func (b *bench) stopOnce() (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	p, err := proc.Start(proc.Spec{Line: fmt.Sprintf("exec %s --port %d", b.server, port), Dir: b.tmp})
	if err != nil {
		return 0, err
	}
	if err := proc.WaitTCP(context.Background(), fmt.Sprintf("127.0.0.1:%d", port), p.Done()); err != nil {
		_, _ = p.Stop(context.Background(), time.Second)
		return 0, err
	}
	t0 := time.Now()
	if _, err := p.Stop(context.Background(), time.Second); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// hopParts measures where each hop of the chain goes: a second run of it
// with PETS_DEBUG=1, whose supervise lines time each restart's parts (the
// figure above is measured without them: the logging costs a little).
func (b *bench) hopParts() error {
	_, lines, err := b.editToRestartEnv("write in place", 3, []string{"PETS_DEBUG=1"}, nil)
	if err != nil {
		return err
	}
	parts := debugParts(lines)
	for i := 0; i < 3; i++ {
		svc := fmt.Sprintf("s%d-local", i)
		p := parts[svc]
		if len(p["up.total"]) == 0 {
			b.note(fmt.Sprintf("  hop %d (%s)", i+1, svc), "n/a: no PETS_DEBUG lines for it")
			continue
		}
		total, stop, gone := p["up.total"].median(), p["up.stop"].median(), p["stopped.processes"].median()
		release, ready := p["started.waiter"].median(), p["ready.wait"].median()
		b.note(fmt.Sprintf("  hop %d, %s (medians of PETS_DEBUG's lines, a second run)", i+1, svc),
			fmt.Sprintf("restart %s: stop %s (its processes gone at %s), release to its pid %s, exec to ready %s, the rest %s",
				ms(total), ms(stop), ms(gone), ms(release), ms(ready), ms(total-stop-release-ready)))
	}
	return nil
}

// debugLine is one of supervise's PETS_DEBUG lines: `msg="supervise:
// KIND" service=NAME key=DURATION ...` (log/slog's text format).
var debugLine = regexp.MustCompile(`msg="supervise: (\w+)" service=(\S+)(.*)`)

// debugField is a key=DURATION field of one (a key may be quoted).
var debugField = regexp.MustCompile(`("[^"]+"|[\w+]+)=(\d[\w.µ]*)`)

// debugParts collects, per service, each KIND.key duration of lines.
func debugParts(lines []string) map[string]map[string]samples {
	out := map[string]map[string]samples{}
	for _, l := range lines {
		m := debugLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, f := range debugField.FindAllStringSubmatch(m[3], -1) {
			d, err := time.ParseDuration(f[2])
			if err != nil {
				continue
			}
			if out[m[2]] == nil {
				out[m[2]] = map[string]samples{}
			}
			k := m[1] + "." + strings.Trim(f[1], `"`)
			out[m[2]][k] = append(out[m[2]][k], d)
		}
	}
	for _, p := range out {
		for _, s := range p {
			s.sort()
		}
	}
	return out
}
