package petsfile

import (
	"context"
	"fmt"
	"strings"
)

// Fingerprints describes what each service of g would do, without doing it:
// its provider is called with a host that records the commands it would run
// (and where), the address it would wait for, and its deps' recorded values.
// Together with the service's deps, watch and ignore rules, two equal
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
		fmt.Fprintf(&h.b, "deps=%v watch=%v ignore=%v sync=%+v dir=%s", g.Deps[k], svc.Watch, svc.Ignore, syncWithoutPos(svc.Sync), svc.Dir)
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
	r.add(fmt.Sprintf("start %q in %s", c.Line, c.Dir))
	return Process{PID: -r.n}, nil
}

func (r *recorder) Run(_ context.Context, c Command) error {
	r.add(fmt.Sprintf("run %q in %s", c.Line, c.Dir))
	return nil
}

func (r *recorder) Ready(_ context.Context, _ Key, p Process, rd Readiness) error {
	r.add(fmt.Sprintf("ready server %d at %s:%d within %s", -p.PID, rd.Hostname, rd.Port, rd.Timeout))
	return nil
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
