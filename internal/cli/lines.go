package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
)

// printer is the terminal's view of the events: the lines pets prints on
// stderr for them. It only formats; what happened was decided elsewhere.
type printer struct {
	w   io.Writer
	dry bool // pets up --dry-run: nothing really starts
	// keepGoing (pets up --watch): a service that fails to start is said
	// at once (without it, the failure ends the command, which says it).
	keepGoing bool
	// stopHow ends the banner: what Ctrl-C does.
	stopHow string
	// wd shortens paths (relative to it where that is shorter).
	wd string

	mu     sync.Mutex    // Emit is called from several goroutines
	reload *events.Event // the round of the reload being applied, until reload.applied
}

var _ events.Sink = (*printer)(nil)

func newPrinter(w io.Writer) *printer {
	wd, _ := os.Getwd()
	return &printer{w: w, wd: wd}
}

// Emit prints the lines for e, if it has any.
func (p *printer) Emit(e events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines(e) {
		fmt.Fprintln(p.w, l)
	}
}

// lines are what e prints. Lines of progress start with the event's time.
func (p *printer) lines(e events.Event) []string {
	ts := "[" + e.Time.Format("15:04:05.000") + "] "
	switch e.Type {
	case events.ServiceReady:
		if e.Round == 0 && !p.dry {
			return []string{fmt.Sprintf("The service %s is now running (ready in %s)", e.Service, took(e.TookMs))}
		}
	case events.ServiceStarting:
		if e.Round == 0 && strings.HasSuffix(e.Reason, "while no pets was watching") {
			return []string{fmt.Sprintf("Restarting %s: %s", e.Service, e.Reason)}
		}
	case events.ServiceFailed:
		if e.Round == 0 && p.keepGoing {
			return []string{fmt.Sprintf("pets: %s failed: %s", e.Service, e.Error)}
		}
	case events.ServiceStopped:
		switch {
		case e.Reason == "rollback":
			return []string{"Stopped " + e.Service + " (it was started by this command, which failed)"}
		case strings.HasPrefix(e.Reason, "stopped outside this pets"):
			return []string{fmt.Sprintf("pets: %s was %s", e.Service, e.Reason)}
		}
	case events.ServiceReused:
		if e.Reason != "" {
			return []string{fmt.Sprintf("pets: %s was %s", e.Service, e.Reason)}
		}
		return []string{"The service " + e.Service + " is already running"}
	case events.ServiceCrashed:
		how := ""
		if e.Exit != "" {
			how = " (" + e.Exit + ")"
		}
		next := e.Reason
		if next == "" {
			next = "it restarts on the next change to its files"
		}
		return []string{fmt.Sprintf("pets: %s is not running any more%s (see pets logs %s); %s", e.Service, how, e.Service, next)}
	case events.SyncDone:
		switch e.Reason {
		case "a new pod":
			return []string{fmt.Sprintf("%s%s: new pod: synced %s in %s", ts, e.Service, syncWhat(e.Sync), took(e.TookMs))}
		case "at deploy", "at attach":
			return []string{fmt.Sprintf("%s%s: synced %s %s in %s", ts, e.Service, syncWhat(e.Sync), e.Reason, took(e.TookMs))}
		}
	case events.SyncFailed:
		if e.Round == 0 || strings.Contains(e.Reason, "at deploy") {
			return []string{fmt.Sprintf("pets: %s: %s: %s", e.Service, e.Reason, e.Error)}
		}
	case events.RoundPlanned:
		if e.Reason != "reload" {
			return []string{fmt.Sprintf("%s%s: %s", ts, roundName(e), startLine(e.Steps))}
		}
	case events.RoundFinished:
		if e.Reason == "reload" {
			p.reload = &e
			return nil
		}
		return append([]string{ts + p.roundLine(e)}, failures(e)...)
	case events.RoundInterrupted:
		return []string{fmt.Sprintf("pets: letting the restart in progress finish (for up to %s; Ctrl-C again to quit now)", took(e.GraceMs))}
	case events.ReloadApplied:
		round := p.reload
		p.reload = nil
		out := []string{ts + p.reloadLine(e, round)}
		if round != nil {
			out = append(out, failures(*round)...)
		}
		return out
	case events.ReloadRefused:
		return []string{fmt.Sprintf("%s%s changed but does not evaluate; still running the previous configuration:\n%s", ts, strings.Join(p.short(e.Files), ", "), e.Error)}
	case events.WatchStarted:
		roots := strings.Join(e.Roots, ", ")
		if roots == "" {
			roots = "no directories (only the Petsfile)"
		}
		return []string{fmt.Sprintf("Watching %s for %s. %s", roots, strings.Join(e.Services, ", "), p.stopHow)}
	case events.WatchError:
		return []string{"pets: " + e.Error}
	}
	return nil
}

// failures are the lines after a round for each service that failed.
func failures(e events.Event) []string {
	var out []string
	for _, s := range e.Steps {
		switch {
		case s.Result == events.ResultFailed && s.BuildFailed && s.Kind != events.StepStart:
			out = append(out, fmt.Sprintf("pets: %s: build failed, still running the previous version; it builds again on the next change to its files:\n%s", s.Service, s.Error))
		case s.Result == events.ResultFailed:
			out = append(out, fmt.Sprintf("pets: %s failed; it restarts on the next change to its files:\n%s", s.Service, s.Error))
		}
	}
	return out
}

// startLine says what a round is about to do to the services whose own
// files (or a request) caused it: "syncing backend-k8s, restarting db-local".
func startLine(steps []events.Step) string {
	var sync, restart []string
	for _, s := range steps {
		switch s.Kind {
		case events.StepSync:
			sync = append(sync, s.Service)
		case events.StepStart, events.StepRestart:
			restart = append(restart, s.Service)
		}
	}
	var parts []string
	if len(sync) > 0 {
		parts = append(parts, "syncing "+strings.Join(sync, ", "))
	}
	if len(restart) > 0 {
		parts = append(parts, "restarting "+strings.Join(restart, ", "))
	}
	return strings.Join(parts, ", ")
}

// roundName is "round N" for a watching pets' round N, else what ran it
// (pets restart, without a watching pets).
func roundName(e events.Event) string {
	if e.Round == 0 {
		return e.Reason
	}
	return fmt.Sprintf("round %d", e.Round)
}

// roundLine is the one line a round prints: files, services, how long each took.
func (p *printer) roundLine(e events.Event) string {
	var b strings.Builder
	b.WriteString(roundName(e) + ": ")
	n := len(e.Files) + e.MoreFiles
	switch {
	case n == 0 && e.Round == 0: // pets restart, without a watching pets: its name says it
		b.Reset()
		b.WriteString(roundName(e))
	case n == 0 && e.Reason != "files changed":
		b.WriteString(e.Reason)
	case n == 0:
		b.WriteString("files may have changed (events were lost)")
	case n <= 3:
		b.WriteString(strings.Join(p.short(e.Files), ", "))
	default:
		fmt.Fprintf(&b, "%s and %d more files", strings.Join(p.short(e.Files[:2]), ", "), n-2)
	}
	if n > 0 && e.Reason != "files changed" {
		b.WriteString(" (" + e.Reason + ")")
	}
	b.WriteString(" ->")
	first := true
	for _, s := range e.Steps {
		if s.Kind == events.StepStop {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(" " + stepResult(s, "restarted"))
	}
	fmt.Fprintf(&b, " (%s in all)", took(e.TookMs))
	return b.String()
}

// stepResult says how a step ended: "api-local restarted in 12ms".
// restarted is the verb for a service whose own change caused its step.
func stepResult(s events.Step, restarted string) string {
	verb := restarted
	if s.Kind == events.StepBounce {
		verb = "bounced"
	}
	var out string
	switch {
	case s.Result == events.ResultSkipped || s.Result == events.ResultInterrupted && s.Error == "":
		out = fmt.Sprintf("%s skipped (%s)", s.Service, s.Skipped)
	case s.Result == events.ResultInterrupted:
		out = s.Service + " interrupted"
	case s.Result == events.ResultFailed && s.BuildFailed && s.Kind != events.StepStart:
		out = fmt.Sprintf("%s build FAILED after %s, still running the previous version", s.Service, took(s.TookMs))
	case s.Result == events.ResultFailed && s.BuildFailed:
		out = fmt.Sprintf("%s build FAILED after %s", s.Service, took(s.TookMs))
	case s.Result == events.ResultFailed:
		out = fmt.Sprintf("%s FAILED after %s", s.Service, took(s.TookMs))
	case s.Kind == events.StepSync:
		out = fmt.Sprintf("%s synced %s in %s", s.Service, syncWhat(s.Sync), took(s.TookMs))
	default:
		out = fmt.Sprintf("%s %s in %s", s.Service, verb, took(s.TookMs))
	}
	if s.Fallback != "" {
		out += " (instead of a sync: " + s.Fallback + ")"
	}
	return out
}

// reloadLine is the one line a reload prints.
func (p *printer) reloadLine(e events.Event, round *events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Petsfile reloaded in %dms:", int64(e.TookMs))
	r := e.Reload
	if r == nil {
		r = &events.ReloadInfo{}
	}
	for _, part := range []struct {
		what string
		ks   []string
	}{{"added", r.Added}, {"removed", r.Removed}, {"changed", r.Changed}} {
		fmt.Fprintf(&b, " %d %s", len(part.ks), part.what)
		if len(part.ks) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(part.ks, ", "))
		}
		b.WriteString(",")
	}
	fmt.Fprintf(&b, " %d unchanged", len(r.Unchanged))
	if round == nil {
		return b.String()
	}
	var parts []string
	for _, s := range round.Steps {
		if s.Kind == events.StepStop {
			continue
		}
		verb := "restarted"
		if slices.Contains(r.Added, s.Service) {
			verb = "started"
		}
		parts = append(parts, stepResult(s, verb))
	}
	if len(parts) > 0 {
		b.WriteString("; " + strings.Join(parts, ", "))
	}
	if len(round.Files) > 0 {
		fmt.Fprintf(&b, " (with %s)", strings.Join(p.short(round.Files), ", "))
	}
	return b.String()
}

// syncWhat says what a sync did: "2 files (1 deleted) to ns/pod-a, ran
// "make css", restarted the process".
func syncWhat(info *events.SyncInfo) string {
	if info == nil {
		info = &events.SyncInfo{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d deleted) to %s", count(info.Files, "file"), info.Deleted, strings.Join(info.Pods, " "))
	seen := map[string]bool{}
	for _, r := range info.Ran {
		if seen[r] {
			continue
		}
		seen[r] = true
		if r == "restart" {
			b.WriteString(", restarted the process")
		} else {
			fmt.Fprintf(&b, ", ran %q", r)
		}
	}
	return b.String()
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// took formats milliseconds as a duration rounded to the millisecond.
func took(ms float64) time.Duration {
	return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond)
}

// short makes paths relative to the working directory where that is
// shorter, and quotes those that hold control characters (a newline in a
// file name must not split a line).
func (p *printer) short(ps []string) []string {
	out := make([]string, len(ps))
	for i, q := range ps {
		if rel, err := filepath.Rel(p.wd, q); p.wd != "" && err == nil && len(rel) < len(q) {
			q = rel
		}
		if strings.ContainsFunc(q, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			q = strconv.Quote(q)
		}
		out[i] = q
	}
	return out
}
