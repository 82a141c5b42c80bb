package petsfile

import (
	"context"
	"fmt"
	"strings"
)

// Fingerprints describes what each service of g would do, without doing it:
// its provider is called with a host that records the commands it would run
// (where, and with what env=), what it would wait for, and its deps'
// recorded values. Together with the service's deps, watch, ignore and sync
// rules, build step, restart policy and env files (their paths only: the
// engine restarts a service when the content of one changes), two equal
// fingerprints mean "nothing to restart": an edit that only touched comments,
// whitespace or other services leaves a service's fingerprint alone.
func (p *Project) Fingerprints(ctx context.Context, g *Graph) map[Key]string {
	out := map[Key]string{}
	values := map[Key]Value{}
	for _, k := range g.Order {
		svc, ok := p.services[k]
		if !ok {
			continue
		}
		h := &recorder{}
		deps := make([]Value, len(g.Deps[k]))
		for i, d := range g.Deps[k] {
			deps[i] = values[d]
		}
		v, err := p.provide(ctx, k, deps, h, true)
		if err != nil {
			h.add("provider error: " + err.Error())
		}
		values[k] = v
		if v.PID != 0 && v.Port == 0 {
			h.add(fmt.Sprintf("value: server %d without an address", -v.PID))
		}
		fmt.Fprintf(&h.b, "deps=%v watch=%v ignore=%v sync=%+v dir=%s", g.Deps[k], svc.Watch, svc.Ignore, syncWithoutPos(svc.Sync), svc.Dir)
		// What older Petsfiles could not say is written only when said, so
		// that their fingerprints stay as they were.
		if svc.Build != "" || len(svc.BuildOutputs) > 0 {
			fmt.Fprintf(&h.b, " build=%q build_outputs=%q", svc.Build, svc.BuildOutputs)
		}
		if svc.RestartPolicy != "" && svc.RestartPolicy != RestartOnFailure {
			fmt.Fprintf(&h.b, " restart_policy=%s", svc.RestartPolicy)
		}
		if len(svc.EnvFiles) > 0 {
			fmt.Fprintf(&h.b, " env_files=%q", svc.EnvFiles)
		}
		out[k] = h.b.String()
	}
	return out
}

// recorder is a Host that runs nothing and writes down what it was asked.
type recorder struct {
	b strings.Builder
	n int
}

var _ Host = (*recorder)(nil)

func (r *recorder) add(s string) { r.b.WriteString(s + "\n") }

func (r *recorder) Start(_ context.Context, c Command) (Process, error) {
	r.n++
	r.add(fmt.Sprintf("start %q in %s%s", c.Line, c.Dir, envText(c.Env)))
	return Process{PID: -r.n}, nil
}

func (r *recorder) Run(_ context.Context, c Command) error {
	r.add(fmt.Sprintf("run %q in %s%s", c.Line, c.Dir, envText(c.Env)))
	return nil
}

func (r *recorder) Ready(_ context.Context, _ Key, p Process, rd Readiness) error {
	s := fmt.Sprintf("ready server %d at %s:%d within %s", -p.PID, rd.Hostname, rd.Port, rd.Timeout)
	switch {
	case rd.HTTP != "":
		s += fmt.Sprintf(" http=%q", rd.HTTP)
	case rd.Command != nil:
		s += fmt.Sprintf(" cmd=%q in %s%s", rd.Command.Line, rd.Command.Dir, envText(rd.Command.Env))
	case rd.Log != "":
		s += fmt.Sprintf(" log=%q", rd.Log)
	}
	r.add(s)
	return nil
}

// envText is a command's env for a fingerprint: "" when it has none, so
// that fingerprints of commands without env= stay as they were.
func envText(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return fmt.Sprintf(" env=%q", env)
}

// syncWithoutPos drops positions, which move with every edit above them.
func syncWithoutPos(rules []SyncRule) []SyncRule {
	out := make([]SyncRule, len(rules))
	for i, r := range rules {
		r.Pos = ""
		out[i] = r
	}
	return out
}
