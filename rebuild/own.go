package rebuild

import (
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/windmilleng/pets/petsfile"
)

// Owner is what decides whether a changed path belongs to a service.
type Owner struct {
	Key    petsfile.Key
	Dir    string   // the registering Petsfile's directory (absolute)
	Watch  []string // absolute slash-separated globs; empty: all of Dir minus deeper Petsfiles' services
	Ignore []string // absolute globs that never trigger this service
	Sync   []petsfile.SyncRule
	// RestartPolicy says what a crash does (petsfile.RestartOnFailure or
	// RestartNo; "" is on-failure).
	RestartPolicy string
	// Build is the service's build step ("": none); BuildOutputs are the
	// absolute globs of what it writes: no service owns them (they never
	// trigger a round, nor make a service stale), and a syncing service
	// has them synced after each build.
	Build        string
	BuildOutputs []string
	// EnvFiles are the service's env files (absolute): a change to one
	// restarts the services that name it.
	EnvFiles []string
}

// OwnersOf builds the owners of the services in g.
func OwnersOf(p *petsfile.Project, g *petsfile.Graph) []Owner {
	var out []Owner
	for _, k := range g.Order {
		s, ok := p.Service(k)
		if !ok {
			continue
		}
		out = append(out, Owner{Key: k, Dir: filepath.ToSlash(s.Dir), Watch: s.WatchGlobs(), Ignore: s.IgnoreGlobs(), Sync: s.Sync,
			RestartPolicy: s.RestartPolicy, Build: s.Build, BuildOutputs: s.BuildOutputs, EnvFiles: s.EnvFiles})
	}
	return out
}

// Own maps changed absolute paths to the services that own them. Paths in
// skip (the Petsfile and the files it loads) belong to no service.
func Own(owners []Owner, skip map[string]bool, paths []string) map[petsfile.Key][]string {
	out := map[petsfile.Key][]string{}
	for _, p := range paths {
		if skip[p] {
			continue
		}
		sp := filepath.ToSlash(p)
		if isBuildOutput(owners, sp) {
			continue
		}
		for _, o := range owners {
			if owns(owners, o, sp) {
				if out[o.Key] == nil {
					out[o.Key] = make([]string, 0, len(paths)) // a directory's files are mostly one owner's
				}
				out[o.Key] = append(out[o.Key], p)
			}
		}
	}
	return out
}

// isBuildOutput reports whether the slash path p is what some service's
// build writes.
func isBuildOutput(owners []Owner, p string) bool {
	for _, o := range owners {
		for _, g := range o.BuildOutputs {
			if match(g, p) {
				return true
			}
		}
	}
	return false
}

// owns reports whether o owns the slash path p.
func owns(owners []Owner, o Owner, p string) bool {
	for _, g := range o.Ignore {
		if match(g, p) {
			return false
		}
	}
	if len(o.Watch) > 0 {
		for _, g := range o.Watch {
			if match(g, p) {
				return true
			}
		}
		return false
	}
	if !under(p, o.Dir) {
		return false
	}
	// Minus what services of deeper Petsfiles own.
	// A deeper default owner takes its whole tree, even what it ignores; a
	// deeper owner with watch= globs takes what they match.
	for _, d := range owners {
		if d.Dir != o.Dir && under(d.Dir, o.Dir) && under(p, d.Dir) && (len(d.Watch) == 0 || owns(owners, d, p)) {
			return false
		}
	}
	return true
}

// match reports whether glob matches p or one of p's parent directories
// (so "build/**" and "build" both cover "build/x/y").
func match(glob, p string) bool {
	for q := p; ; q = path.Dir(q) {
		if ok, _ := doublestar.Match(glob, q); ok {
			return true
		}
		if q == "/" || q == "." || path.Dir(q) == q {
			return false
		}
	}
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// EnvFilesOf are every env file the owners name, sorted, once each.
func EnvFilesOf(owners []Owner) []string {
	var out []string
	for _, o := range owners {
		out = append(out, o.EnvFiles...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Roots returns the directories to watch for owners: each default owner's
// Dir and each watch glob's static base, without directories already
// inside another root.
func Roots(owners []Owner) []string {
	var all []string
	for _, o := range owners {
		if len(o.Watch) == 0 {
			all = append(all, o.Dir)
			continue
		}
		for _, g := range o.Watch {
			base, _ := doublestar.SplitPattern(g)
			all = append(all, base)
		}
	}
	sort.Strings(all)
	var out []string
	for _, r := range all {
		if len(out) > 0 && under(r, out[len(out)-1]) {
			continue
		}
		out = append(out, r)
	}
	for i := range out {
		out[i] = filepath.FromSlash(out[i])
	}
	return out
}

// GlobalIgnores returns the ignore globs the watcher may apply to every path
// (so ignored directories get no OS watch): a service's ignore= globs, when no
// other service's area overlaps that service's.
func GlobalIgnores(owners []Owner) []string {
	var out []string
	for i, o := range owners {
		shared := false
		for j, d := range owners {
			if i != j && overlaps(o, d) {
				shared = true
				break
			}
		}
		if !shared {
			out = append(out, o.Ignore...)
		}
	}
	return out
}

func overlaps(a, b Owner) bool {
	ra, rb := Roots([]Owner{a}), Roots([]Owner{b})
	for _, x := range ra {
		for _, y := range rb {
			x, y := filepath.ToSlash(x), filepath.ToSlash(y)
			if under(x, y) || under(y, x) {
				return true
			}
		}
	}
	return false
}
