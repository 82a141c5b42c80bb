package petsfile

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"go.starlark.net/starlark"
	"k8s.io/apimachinery/pkg/labels"
)

// SyncRule says how a service running in Kubernetes receives edits without
// a restart: which pods, which local paths go where in the container, what to
// run there afterwards, and whether to restart the container's process.
type SyncRule struct {
	Selector  string // label selector of the pods, e.g. "app=backend"
	Namespace string // "" = the context's default namespace
	Container string // "" = the pod's first container
	Paths     []SyncPath
	Run       []SyncRun
	Restart   bool     // restart the container's main process after syncing
	Pos       string   // file:line:col of the sync_rule() call
	Base      string   // the directory of the calling file: every Local path is inside it
	Ignore    []string // the service's ignore= globs (absolute): never sent
}

// SyncPath maps a local path (absolute; a directory or a file) to a path in
// the container (absolute).
type SyncPath struct {
	Local  string
	Remote string
}

// SyncRun is a command run in the container (via sh -c) after files land,
// only when one of its Trigger globs (absolute) matched a synced file, or
// always when there are none.
type SyncRun struct {
	Cmd     string
	Trigger []string
}

// syncRuleValue is what sync_rule() returns; register(sync=[...]) unpacks it.
type syncRuleValue struct{ rule SyncRule }

func (s *syncRuleValue) String() string {
	return fmt.Sprintf("<sync_rule %s %v>", s.rule.Selector, s.rule.Paths)
}
func (s *syncRuleValue) Type() string          { return "sync_rule" }
func (s *syncRuleValue) Freeze()               {}
func (s *syncRuleValue) Truth() starlark.Bool  { return starlark.True }
func (s *syncRuleValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: sync_rule") }

// syncRunValue is what sync_run() returns.
type syncRunValue struct{ run SyncRun }

func (s *syncRunValue) String() string        { return fmt.Sprintf("<sync_run %q>", s.run.Cmd) }
func (s *syncRunValue) Type() string          { return "sync_run" }
func (s *syncRunValue) Freeze()               {}
func (s *syncRunValue) Truth() starlark.Bool  { return starlark.True }
func (s *syncRunValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: sync_run") }

// builtinSyncRule: sync_rule(selector, paths, namespace="", container="", run=[], restart=False)
// paths maps local paths (relative to the calling Petsfile) to absolute container paths.
func (p *Project) builtinSyncRule(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		selector, namespace, container string
		paths                          *starlark.Dict
		run                            *starlark.List
		restart                        bool
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "selector", &selector, "paths", &paths,
		"namespace?", &namespace, "container?", &container, "run?", &run, "restart?", &restart); err != nil {
		return nil, err
	}
	if strings.TrimSpace(selector) == "" {
		return nil, fmt.Errorf("sync_rule: selector is empty; give the pods' labels, e.g. \"app=backend\"")
	}
	if _, err := labels.Parse(selector); err != nil {
		return nil, fmt.Errorf("sync_rule: selector %q is not a label selector (%v); e.g. \"app=backend\" or \"app in (a, b)\"", selector, err)
	}
	dir := p.callerDir(t)
	rule := SyncRule{Selector: selector, Namespace: namespace, Container: container, Restart: restart, Pos: t.CallFrame(1).Pos.String(), Base: dir}
	for _, item := range paths.Items() {
		local, ok1 := starlark.AsString(item[0])
		remote, ok2 := starlark.AsString(item[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("sync_rule: paths maps local paths to container paths, both strings; got %s: %s", item[0].Type(), item[1].Type())
		}
		if filepath.IsAbs(local) || local == "" {
			return nil, fmt.Errorf("sync_rule: local path %q must be relative to the Petsfile's directory", local)
		}
		if !path.IsAbs(remote) {
			return nil, fmt.Errorf("sync_rule: container path %q must be absolute, e.g. \"/app\"", remote)
		}
		if path.Clean(remote) == "/" {
			return nil, fmt.Errorf("sync_rule: container path %q is the container's root; sync into a directory of its own, e.g. \"/app\"", remote)
		}
		abs := filepath.Join(dir, filepath.FromSlash(local))
		if rel, err := filepath.Rel(dir, abs); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("sync_rule: local path %q leaves the Petsfile's directory; sync only what the service's tree holds", local)
		}
		if link := SymlinkOnTheWay(dir, abs); link != "" {
			return nil, fmt.Errorf("sync_rule: local path %q goes through %s, a symlink; sync never follows a symlink out of the local tree: map the real directory", local, link)
		}
		rule.Paths = append(rule.Paths, SyncPath{Local: abs, Remote: path.Clean(remote)})
	}
	if len(rule.Paths) == 0 {
		return nil, fmt.Errorf("sync_rule: paths is empty; map a local directory to a container one, e.g. {\"static\": \"/www\"}")
	}
	sort.Slice(rule.Paths, func(i, j int) bool { return rule.Paths[i].Local < rule.Paths[j].Local })
	if run != nil {
		for i := 0; i < run.Len(); i++ {
			switch v := run.Index(i).(type) {
			case starlark.String:
				rule.Run = append(rule.Run, SyncRun{Cmd: string(v)})
			case *syncRunValue:
				r := v.run
				rule.Run = append(rule.Run, r)
			default:
				return nil, fmt.Errorf("sync_rule: run[%d] is a %s; want a command string or sync_run(cmd, trigger=[...])", i, v.Type())
			}
		}
	}
	return &syncRuleValue{rule: rule}, nil
}

// builtinSyncRun: sync_run(cmd, trigger=[]): trigger globs are relative to the calling Petsfile.
func (p *Project) builtinSyncRun(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		cmd     string
		trigger *starlark.List
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "trigger?", &trigger); err != nil {
		return nil, err
	}
	globs, err := globList("trigger", trigger)
	if err != nil {
		return nil, fmt.Errorf("sync_run: %w", err)
	}
	return &syncRunValue{run: SyncRun{Cmd: cmd, Trigger: absGlobs(p.callerDir(t), globs)}}, nil
}

// SymlinkOnTheWay returns the first symlink among the paths from base (not
// included) down to p, which is inside base; "" if there is none, or where
// the path stops existing. sync_rule() checks its paths with it at load,
// package sync again before every sync.
func SymlinkOnTheWay(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil || !filepath.IsLocal(rel) {
		return ""
	}
	q := base
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		q = filepath.Join(q, part)
		fi, err := os.Lstat(q)
		if err != nil {
			return ""
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return q
		}
	}
	return ""
}

// syncList unpacks register(sync=[...]).
func syncList(l *starlark.List) ([]SyncRule, error) {
	if l == nil {
		return nil, nil
	}
	var out []SyncRule
	for i := 0; i < l.Len(); i++ {
		v, ok := l.Index(i).(*syncRuleValue)
		if !ok {
			return nil, fmt.Errorf("register: sync[%d] is a %s; build rules with sync_rule(selector, paths, ...)", i, l.Index(i).Type())
		}
		out = append(out, v.rule)
	}
	return out, nil
}

// Triggered reports whether run should run after syncing the absolute paths.
func (r SyncRun) Triggered(paths []string) bool {
	if len(r.Trigger) == 0 {
		return true
	}
	for _, p := range paths {
		for _, g := range r.Trigger {
			if ok, _ := doublestar.Match(g, filepath.ToSlash(p)); ok {
				return true
			}
		}
	}
	return false
}

// builtinAllowContexts: allow_k8s_contexts(["name", ...]) lets pets talk to
// Kubernetes contexts that do not look local.
func (p *Project) builtinAllowContexts(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "contexts", &v); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case starlark.String:
		p.AllowedContexts = append(p.AllowedContexts, string(v))
	case *starlark.List:
		for i := 0; i < v.Len(); i++ {
			s, ok := starlark.AsString(v.Index(i))
			if !ok {
				return nil, fmt.Errorf("allow_k8s_contexts: item %d is a %s; want a context name", i, v.Index(i).Type())
			}
			p.AllowedContexts = append(p.AllowedContexts, s)
		}
	default:
		return nil, fmt.Errorf("allow_k8s_contexts: want a context name or a list of them, got %s", v.Type())
	}
	return starlark.None, nil
}
