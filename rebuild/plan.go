package rebuild

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
)

// Step is one thing a round does to one service, and why.
type Step struct {
	Kind   events.StepKind
	Key    petsfile.Key
	Reason string
	// Paths are the changed files behind a sync or restart (nil for the
	// others, and when they are unknown).
	Paths []string
	// Sync says, for a sync step, which of Paths each sync rule sends.
	Sync []RuleFiles
	// Fallback says why a service with sync rules restarts instead of
	// syncing ("a change outside its sync rules"); the executor also
	// falls back to a restart when a sync fails.
	Fallback string
	// Build says the service's build step runs first, while what runs
	// keeps running; if it fails, nothing else happens to the service.
	// A sync step with Build syncs the build's outputs too.
	Build bool
	// After are the indexes (in Plan.Steps) of the steps that must finish
	// first; Needs those of them that must also succeed (else this step
	// is skipped).
	After []int
	Needs []int
	// Running says, for a restart, bounce or sync, that the service was
	// recorded when the round began: if, once the step holds the service's
	// lock, it no longer is (pets down stopped it meanwhile), the step is
	// skipped rather than start it again (see Recorder).
	Running bool
}

// RuleFiles are the changed files one sync rule covers.
type RuleFiles struct {
	Rule  petsfile.SyncRule
	Paths []string
}

// Plan is a round decided: its steps in an order that respects every edge
// (each step comes after all of its After), so carrying them out one by one
// in this order is always correct; an executor may also run steps whose
// After have finished side by side. Holds are steps put off until a time
// (a crashed service's backoff): the caller asks again then.
type Plan struct {
	Steps []Step
	Holds []Hold
	Paths []string // every changed file behind the round, sorted
	At    time.Time
}

// Hold is a step put off: Key restarts at Until, not before.
type Hold struct {
	Key    petsfile.Key
	Until  time.Time
	Reason string
}

// Crash is a crash of a service that restarts by itself (restart policy
// on-failure): when, which crash in a row it is (0: the first), and how its
// process ended.
type Crash struct {
	At      time.Time
	Attempt int
	Exit    string
}

// Backoff is how long a service waits, after its crash number attempt in a
// row (from 0), before it restarts by itself: 0.5 s, doubling, at most 30 s.
func Backoff(attempt int) time.Duration {
	d := 500 * time.Millisecond
	for i := 0; i < attempt && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// BackoffReset is how long a service must run for its next crash to count
// as the first in a row again.
const BackoffReset = 30 * time.Second

// Keys returns the services of the plan's steps, in step order.
func (p Plan) Keys() []petsfile.Key {
	out := make([]petsfile.Key, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.Key
	}
	return out
}

// Input is everything the planner looks at.
type Input struct {
	Graph  *petsfile.Graph
	Owners []Owner // for the sync rules of each service
	// Changed holds each service's changed files (already owned: see Own).
	Changed map[petsfile.Key][]string
	// Lost are services whose changes are unknown (the watcher lost
	// events): they restart.
	Lost map[petsfile.Key]bool
	// Down are services that are not running (they failed to start, or
	// crashed): a change starts them again, never syncs into them.
	Down map[petsfile.Key]bool
	// Restart are services to restart whatever changed, with the reason
	// ("requested by pets restart").
	Restart map[petsfile.Key]string
	// Start are services to start (new: pets up, or added to the
	// Petsfile), with the reason.
	Start map[petsfile.Key]string
	// Redefined are services whose definition in the Petsfile changed:
	// they restart with the new one (never sync).
	Redefined map[petsfile.Key]bool
	// Away are services stopped outside this pets (pets down): left
	// alone, neither restarted nor bounced, until they run again, unless
	// Restart names them (or a service of Restart depends on them): then
	// they start.
	Away map[petsfile.Key]bool
	// Crashed are crashed services whose restart policy restarts them:
	// each restarts once its backoff (Backoff) has passed since the crash,
	// or at once when its files changed.
	Crashed map[petsfile.Key]Crash
	// Remove are services of Old to stop (gone from the Petsfile, or at
	// another tier now).
	Remove []petsfile.Key
	Old    *petsfile.Graph // the graph Remove belongs to
	// CanSync says a Syncer is there to sync with.
	CanSync bool
	Now     time.Time
}

// Decide plans a round: what to stop, sync, restart, start and bounce, in
// which order, and why. It is a pure function of its input.
//
//   - Services to remove stop first, dependents before what they depend on.
//   - A service whose definition changed restarts; one that is down starts.
//   - A service to restart (Restart) that is down, or was stopped by pets
//     down (Away), starts, and so do the dependencies it needs that are
//     down or were stopped, first: as pets up would start it.
//   - A running service whose changed files are all covered by its sync
//     rules is synced (and restarts if the sync fails); otherwise it
//     restarts, and the reason says which file was outside the rules.
//   - Every service that depends on one of those, directly or not, is
//     bounced after it: each step waits for the steps of the services it
//     depends on, and is skipped if one of them failed.
func Decide(in Input) Plan {
	p := Plan{At: in.Now}
	var paths []string
	for _, ps := range in.Changed {
		paths = append(paths, ps...)
	}
	p.Paths = dedupe(paths)

	// Stops, dependents first.
	var stops []int
	if len(in.Remove) > 0 && in.Old != nil {
		remove := map[petsfile.Key]bool{}
		for _, k := range in.Remove {
			remove[k] = true
		}
		at := map[petsfile.Key]int{}
		for i := len(in.Old.Order) - 1; i >= 0; i-- {
			k := in.Old.Order[i]
			if !remove[k] {
				continue
			}
			s := Step{Kind: events.StepStop, Key: k, Reason: "removed from the Petsfile"}
			for _, d := range in.Old.Dependents(k) {
				if j, ok := at[d]; ok {
					s.After = append(s.After, j)
				}
			}
			at[k] = len(p.Steps)
			stops = append(stops, len(p.Steps))
			p.Steps = append(p.Steps, s)
		}
	}
	if in.Graph == nil {
		return p
	}

	// What each service of the graph does, if anything, in dependency order.
	needed := in.neededBy()
	own := map[petsfile.Key]Step{}
	for _, k := range in.Graph.Order {
		if in.Away[k] && in.Restart[k] == "" && needed[k] == "" {
			continue
		}
		if s, ok := in.decideOwn(k, needed[k]); ok {
			if s.Kind != events.StepSync {
				s.Build = in.owner(k).Build != ""
			}
			own[k] = s
			continue
		}
		c, crashed := in.Crashed[k]
		if !crashed || in.policy(k) == petsfile.RestartNo {
			continue
		}
		how := "crashed"
		if c.Exit != "" {
			how += " (" + c.Exit + ")"
		}
		if c.Attempt > 0 {
			how += fmt.Sprintf(" %d times in a row", c.Attempt+1)
		}
		if until := c.At.Add(Backoff(c.Attempt)); in.Now.Before(until) {
			p.Holds = append(p.Holds, Hold{Key: k, Until: until, Reason: how + "; restarts in " + until.Sub(c.At).String()})
			continue
		}
		own[k] = Step{Kind: events.StepStart, Key: k, Reason: how + "; restarted after " + Backoff(c.Attempt).String(), Build: in.owner(k).Build != ""}
	}
	bouncedBy := map[petsfile.Key]petsfile.Key{}
	for _, k := range in.Graph.Order {
		if _, ok := own[k]; !ok {
			continue
		}
		for _, d := range in.Graph.Dependents(k) {
			if _, ok := own[d]; !ok && !in.Away[d] {
				if _, ok := bouncedBy[d]; !ok {
					bouncedBy[d] = k
				}
			}
		}
	}
	at := map[petsfile.Key]int{}
	for _, k := range in.Graph.Order {
		s, ok := own[k]
		if !ok {
			by, bounce := bouncedBy[k]
			if !bounce {
				continue
			}
			s = Step{Kind: events.StepBounce, Key: k, Reason: by.String() + " " + verb(own[by].Kind)}
			// The dependency this one waits for may be indirect: name the
			// direct one that has a step, if any.
			for _, d := range in.Graph.Deps[k] {
				if ds, ok := own[d]; ok {
					s.Reason = d.String() + " " + verb(ds.Kind)
					break
				}
				if _, ok := bouncedBy[d]; ok {
					s.Reason = d.String() + " bounced"
					break
				}
			}
		}
		for _, d := range in.Graph.Deps[k] {
			if j, ok := at[d]; ok {
				s.After = append(s.After, j)
				s.Needs = append(s.Needs, j)
			}
		}
		s.After = append(s.After, stops...)
		at[k] = len(p.Steps)
		p.Steps = append(p.Steps, s)
	}
	return p
}

// neededBy names, for each service that is down or was stopped by pets
// down (Down, Away) and that a service to restart depends on, directly or
// not, the first such service in dependency order: it starts for it.
func (in Input) neededBy() map[petsfile.Key]string {
	needed := map[petsfile.Key]string{}
	for _, k := range in.Graph.Order {
		if in.Restart[k] == "" {
			continue
		}
		seen := map[petsfile.Key]bool{}
		var visit func(petsfile.Key)
		visit = func(s petsfile.Key) {
			for _, d := range in.Graph.Deps[s] {
				if seen[d] {
					continue // reached by another path already
				}
				seen[d] = true
				if (in.Down[d] || in.Away[d]) && needed[d] == "" {
					needed[d] = k.String()
				}
				visit(d)
			}
		}
		visit(k)
	}
	return needed
}

// decideOwn is what k does because of itself (not a dependency), if
// anything; neededBy names the service to restart that needs k started
// (see neededBy), if one does.
func (in Input) decideOwn(k petsfile.Key, neededBy string) (Step, bool) {
	paths := in.Changed[k]
	switch {
	case neededBy != "" && in.Restart[k] == "":
		return Step{Kind: events.StepStart, Key: k, Reason: neededBy + " needs it (it was down)", Paths: paths}, true
	case in.Start[k] != "":
		return Step{Kind: events.StepStart, Key: k, Reason: in.Start[k], Paths: paths}, true
	case in.Redefined[k]:
		return Step{Kind: events.StepRestart, Key: k, Reason: "its definition in the Petsfile changed", Paths: paths}, true
	case in.Restart[k] != "" && (in.Down[k] || in.Away[k]):
		return Step{Kind: events.StepStart, Key: k, Reason: in.Restart[k] + " (it was down)", Paths: paths}, true
	case in.Restart[k] != "":
		return Step{Kind: events.StepRestart, Key: k, Reason: in.Restart[k], Paths: paths}, true
	case in.Lost[k] && in.Down[k]:
		return Step{Kind: events.StepStart, Key: k, Reason: "files may have changed (events were lost); it was down"}, true
	case in.Lost[k]:
		return Step{Kind: events.StepRestart, Key: k, Reason: "files may have changed (events were lost)"}, true
	case len(paths) == 0:
		return Step{}, false
	case in.Down[k]:
		return Step{Kind: events.StepStart, Key: k, Reason: in.changed(k, paths) + "; it was down", Paths: paths}, true
	}
	rules := in.rules(k)
	if len(rules) == 0 || !in.CanSync {
		return Step{Kind: events.StepRestart, Key: k, Reason: in.changed(k, paths), Paths: paths}, true
	}
	split, outside := Cover(rules, paths)
	if len(outside) > 0 && in.owner(k).Build != "" {
		// Outside the rules: the build's inputs. The build runs, and its
		// outputs are synced with what the rules cover: never a redeploy.
		return Step{Kind: events.StepSync, Key: k, Reason: in.changed(k, paths) + "; build, then sync", Paths: paths, Sync: split, Build: true}, true
	}
	if len(outside) > 0 {
		return Step{Kind: events.StepRestart, Key: k, Reason: in.changed(k, outside) + ", outside its sync rules", Paths: paths,
			Fallback: "a change outside its sync rules"}, true
	}
	return Step{Kind: events.StepSync, Key: k, Reason: in.changed(k, paths), Paths: paths, Sync: split}, true
}

// changed says which of k's files changed, relative to k's directory
// where they lie inside it.
func (in Input) changed(k petsfile.Key, paths []string) string {
	dir := ""
	for _, o := range in.Owners {
		if o.Key == k {
			dir = filepath.FromSlash(o.Dir)
		}
	}
	rel := make([]string, len(paths))
	for i, p := range paths {
		rel[i] = p
		if r, err := filepath.Rel(dir, p); dir != "" && err == nil && filepath.IsLocal(r) {
			rel[i] = filepath.ToSlash(r)
		}
	}
	return changedReason(rel)
}

// policy is k's restart policy.
func (in Input) policy(k petsfile.Key) string { return in.owner(k).RestartPolicy }

// owner is k's Owner (the zero Owner if it has none).
func (in Input) owner(k petsfile.Key) Owner {
	for _, o := range in.Owners {
		if o.Key == k {
			return o
		}
	}
	return Owner{}
}

func (in Input) rules(k petsfile.Key) []petsfile.SyncRule {
	for _, o := range in.Owners {
		if o.Key == k {
			return o.Sync
		}
	}
	return nil
}

// Cover splits paths among sync rules: each rule gets the paths it covers
// (a path covered by two rules goes to both); outside are the paths no rule
// covers. It is the one place that decides what a sync rule covers.
func Cover(rules []petsfile.SyncRule, paths []string) (split []RuleFiles, outside []string) {
	split = make([]RuleFiles, len(rules))
	for i, r := range rules {
		split[i].Rule = r
	}
	for _, p := range paths {
		covered := false
		for i, r := range rules {
			if RuleCovers(r, p) {
				split[i].Paths = append(split[i].Paths, p)
				covered = true
			}
		}
		if !covered {
			outside = append(outside, p)
		}
	}
	return split, outside
}

// RuleCovers reports whether rule r syncs the absolute path p: p is one of
// its local paths or lies under one.
func RuleCovers(r petsfile.SyncRule, p string) bool {
	_, ok := RuleTarget(r, p)
	return ok
}

// RuleTarget returns which of r's paths covers p, if any.
func RuleTarget(r petsfile.SyncRule, p string) (petsfile.SyncPath, bool) {
	for _, sp := range r.Paths {
		if p == sp.Local {
			return sp, true
		}
		if rel, err := filepath.Rel(sp.Local, p); err == nil && filepath.IsLocal(rel) {
			return sp, true
		}
	}
	return petsfile.SyncPath{}, false
}

// changedReason says which files changed: "a/main.go changed", "a/x.go and 3
// more files changed".
func changedReason(paths []string) string {
	ps := dedupe(append([]string(nil), paths...))
	switch len(ps) {
	case 0:
		return "its files changed"
	case 1:
		return ps[0] + " changed"
	case 2:
		return ps[0] + " and " + ps[1] + " changed"
	}
	return ps[0] + " and " + plural(len(ps)-1, "more file") + " changed"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// verb is how a step's kind reads in a dependent's reason: "api-local
// restarted".
func verb(k events.StepKind) string {
	switch k {
	case events.StepSync:
		return "synced"
	case events.StepStart:
		return "started"
	case events.StepBounce:
		return "bounced"
	}
	return "restarted"
}

func dedupe(ps []string) []string {
	sort.Strings(ps)
	out := ps[:0]
	for i, p := range ps {
		if i == 0 || p != ps[i-1] {
			out = append(out, p)
		}
	}
	return out
}
