package petsfile

import (
	"fmt"
	"sort"
	"strings"
)

// Graph is a resolved set of services: each name bound to one tier, in
// dependency order (every service after its deps).
type Graph struct {
	Order []Key             // dependencies first
	Deps  map[Key][]Key     // direct dependencies, in deps order
	Tier  map[string]string // name -> chosen tier
}

// Dependents returns the services of g that depend on k, directly or not, in
// dependency order.
func (g *Graph) Dependents(k Key) []Key {
	affected := map[Key]bool{k: true}
	var out []Key
	for _, s := range g.Order {
		for _, d := range g.Deps[s] {
			if affected[d] && !affected[s] {
				affected[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// GraphOf builds a graph of the given services from their direct
// dependencies (say, the recorded ones: pets down needs no Petsfile).
// Dependencies that are not among the services are left out; a cycle is
// broken where it is found. The order is by dependency, ties by name.
func GraphOf(deps map[Key][]Key) *Graph {
	keys := make([]Key, 0, len(deps))
	for k := range deps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	g := &Graph{Deps: map[Key][]Key{}, Tier: map[string]string{}}
	seen := map[Key]bool{}
	var visit func(k Key)
	visit = func(k Key) {
		if seen[k] {
			return
		}
		seen[k] = true
		var ds []Key
		for _, d := range deps[k] {
			if _, ok := deps[d]; ok {
				visit(d)
				ds = append(ds, d)
			}
		}
		g.Deps[k] = ds
		g.Tier[k.Name] = k.Tier
		g.Order = append(g.Order, k)
	}
	for _, k := range keys {
		visit(k)
	}
	return g
}

// UsageError is a problem with what the user asked for: an unknown service
// or tier, a dependency cycle, a malformed --with. It carries a hint, and
// the position in the Petsfile when one line of it is at fault.
type UsageError struct {
	Pos  string // file:line:col, or ""
	Msg  string
	Hint string
}

func (e *UsageError) Error() string {
	msg := e.Msg
	if e.Pos != "" {
		msg = e.Pos + ": " + msg
	}
	if e.Hint == "" {
		return msg
	}
	return msg + "\nhint: " + e.Hint
}

// Resolve picks the services to bring up: the named ones (all names
// registered in tier when names is empty) at tier, and their dependencies,
// which inherit their dependent's tier unless with overrides a name's tier.
func (p *Project) Resolve(names []string, tier string, with map[string]string) (*Graph, error) {
	known := map[string]bool{}
	for _, k := range p.order {
		known[k.Name] = true
	}
	for name, t := range with {
		if !known[name] {
			return nil, p.unknownService(name, "--with")
		}
		if _, ok := p.services[Key{name, t}]; !ok {
			return nil, &UsageError{
				Msg:  fmt.Sprintf("unknown tier %q for %s in --with %s=%s", t, name, name, t),
				Hint: fmt.Sprintf("%s has tiers: %s", name, strings.Join(p.Tiers(name), ", ")),
			}
		}
	}
	if len(names) == 0 {
		seen := map[string]bool{}
		for _, k := range p.order {
			if !seen[k.Name] && (k.Tier == tier || with[k.Name] != "") {
				seen[k.Name] = true
				names = append(names, k.Name)
			}
		}
		if len(names) == 0 {
			return nil, &UsageError{
				Msg:  fmt.Sprintf("no service has tier %q in %s", tier, p.Path),
				Hint: "pick a tier with --tier; registered: " + p.describe(),
			}
		}
	}

	g := &Graph{Deps: map[Key][]Key{}, Tier: map[string]string{}}
	requiredBy := map[string]string{} // name -> who asked for its tier
	const (
		visiting = 1
		done     = 2
	)
	state := map[Key]int{}
	var stack []Key
	// at is the position of the register() call that names name as a
	// dependency ("" for a requested service): where an error about it is.
	var visit func(name, t, why, at string) (Key, error)
	visit = func(name, t, why, at string) (Key, error) {
		if o, ok := with[name]; ok {
			t = o
		}
		if prev, ok := g.Tier[name]; ok && prev != t {
			return Key{}, &UsageError{
				Msg:  fmt.Sprintf("%s is needed at tier %s (%s) and at tier %s (%s)", name, prev, requiredBy[name], t, why),
				Hint: fmt.Sprintf("choose one with --with %s=TIER", name),
			}
		}
		k := Key{name, t}
		svc, ok := p.services[k]
		if !ok {
			if !known[name] {
				err := p.unknownService(name, why)
				err.Pos = at
				return Key{}, err
			}
			return Key{}, &UsageError{
				Pos:  at,
				Msg:  fmt.Sprintf("%s has no tier %q (%s)", name, t, why),
				Hint: fmt.Sprintf("%s has tiers: %s; pick one with --with %s=TIER", name, strings.Join(p.Tiers(name), ", "), name),
			}
		}
		switch state[k] {
		case done:
			return k, nil
		case visiting:
			var cyc []string
			for i := len(stack) - 1; i >= 0; i-- {
				cyc = append([]string{stack[i].String()}, cyc...)
				if stack[i] == k {
					break
				}
			}
			cyc = append(cyc, k.String())
			return Key{}, &UsageError{
				Msg:  "dependency cycle: " + strings.Join(cyc, " -> "),
				Hint: "remove one of these deps; registered at " + p.positions(cyc),
			}
		}
		state[k] = visiting
		g.Tier[name] = t
		requiredBy[name] = why
		stack = append(stack, k)
		var deps []Key
		for _, d := range svc.Deps {
			dk, err := visit(d, t, "a dependency of "+k.String(), svc.Pos)
			if err != nil {
				return Key{}, err
			}
			deps = append(deps, dk)
		}
		stack = stack[:len(stack)-1]
		state[k] = done
		g.Deps[k] = deps
		g.Order = append(g.Order, k)
		return k, nil
	}
	for _, n := range names {
		if _, err := visit(n, tier, "requested", ""); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (p *Project) unknownService(name, why string) *UsageError {
	return &UsageError{
		Msg:  fmt.Sprintf("unknown service %q (%s)", name, why),
		Hint: "registered services: " + p.describe(),
	}
}

// describe lists the registered services as "name (tier, tier)".
func (p *Project) describe() string {
	var names []string
	seen := map[string]bool{}
	for _, k := range p.order {
		if !seen[k.Name] {
			seen[k.Name] = true
			names = append(names, k.Name)
		}
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%s)", n, strings.Join(p.Tiers(n), ", "))
	}
	if len(parts) == 0 {
		return "none (call register() in the Petsfile)"
	}
	return strings.Join(parts, ", ")
}

func (p *Project) positions(displayNames []string) string {
	var out []string
	seen := map[string]bool{}
	for _, d := range displayNames {
		if seen[d] {
			continue
		}
		seen[d] = true
		for _, k := range p.order {
			if k.String() == d {
				out = append(out, d+" "+p.services[k].Pos)
			}
		}
	}
	return strings.Join(out, ", ")
}

// ParseWith parses --with values: "svc=tier", several comma-separated.
func ParseWith(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			name, tier, ok := strings.Cut(item, "=")
			if !ok || name == "" || tier == "" || strings.Contains(tier, "=") {
				return nil, &UsageError{
					Msg:  fmt.Sprintf("malformed --with %q", item),
					Hint: "write --with SERVICE=TIER, e.g. --with backend=k8s (repeat it, or separate pairs with commas)",
				}
			}
			if prev, ok := out[name]; ok && prev != tier {
				return nil, &UsageError{
					Msg:  fmt.Sprintf("--with gives %s two tiers: %s and %s", name, prev, tier),
					Hint: "keep one --with per service",
				}
			}
			out[name] = tier
		}
	}
	return out, nil
}
