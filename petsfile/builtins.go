package petsfile

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"go.starlark.net/starlark"
)

// Thread-local keys; values are set by newThread and read by the builtins.
const (
	localCtx      = "pets.ctx"
	localHost     = "pets.host"
	localService  = "pets.service"
	localRegister = "pets.register"
)

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	tierPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.]*$`) // no '-': "name-tier" splits at the last '-'
)

func (p *Project) newThread(ctx context.Context, host Host, svc Key) *starlark.Thread {
	t := &starlark.Thread{
		Name:  "pets",
		Print: func(_ *starlark.Thread, msg string) { fmt.Fprintln(p.stderr, msg) },
	}
	t.SetLocal(localCtx, ctx)
	t.SetLocal(localHost, host)
	t.SetLocal(localService, svc)
	return t
}

func (p *Project) predeclared() starlark.StringDict {
	return starlark.StringDict{
		"start":    starlark.NewBuiltin("start", p.builtinStart),
		"run":      starlark.NewBuiltin("run", p.builtinRun),
		"service":  starlark.NewBuiltin("service", builtinService),
		"register": starlark.NewBuiltin("register", builtinRegister),

		"sync_rule":          starlark.NewBuiltin("sync_rule", p.builtinSyncRule),
		"sync_run":           starlark.NewBuiltin("sync_run", p.builtinSyncRun),
		"allow_k8s_contexts": starlark.NewBuiltin("allow_k8s_contexts", p.builtinAllowContexts),
		"k8s_apply":          starlark.NewBuiltin("k8s_apply", p.builtinK8sApply),
		"k8s_port_forward":   starlark.NewBuiltin("k8s_port_forward", p.builtinK8sPortForward),
	}
}

// callerDir is the directory of the file holding the Starlark code that
// called the builtin.
func (p *Project) callerDir(t *starlark.Thread) string {
	name := t.CallFrame(1).Pos.Filename()
	if abs, ok := p.files[name]; ok {
		return filepath.Dir(abs)
	}
	return filepath.Dir(p.Path)
}

func threadState(t *starlark.Thread) (context.Context, Host, Key) {
	ctx, _ := t.Local(localCtx).(context.Context)
	if ctx == nil {
		ctx = context.Background()
	}
	host, _ := t.Local(localHost).(Host)
	key, _ := t.Local(localService).(Key)
	return ctx, host, key
}

func (p *Project) builtinStart(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmd string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd); err != nil {
		return nil, err
	}
	ctx, host, key := threadState(t)
	if key == (Key{}) {
		return nil, fmt.Errorf("start: only a provider may start a server; call it inside the function you register()")
	}
	if host == nil {
		return nil, fmt.Errorf("start: no host to run %q", cmd)
	}
	proc, err := host.Start(ctx, Command{Service: key, Dir: p.callerDir(t), Line: cmd})
	if err != nil {
		return nil, err
	}
	return &server{proc: proc, cmd: cmd}, nil
}

func (p *Project) builtinRun(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cmd string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd); err != nil {
		return nil, err
	}
	ctx, host, key := threadState(t)
	if host == nil {
		return nil, fmt.Errorf("run: no host to run %q", cmd)
	}
	if err := host.Run(ctx, Command{Service: key, Dir: p.callerDir(t), Line: cmd}); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

func builtinService(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		srv      *server
		hostname string
		port     int
		timeout  starlark.Value = starlark.None
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "server", &srv, "host", &hostname, "port", &port, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("service: port %d is out of range 1-65535", port)
	}
	if hostname == "" {
		return nil, fmt.Errorf("service: host is empty; use \"localhost\" or \"127.0.0.1\"")
	}
	d, err := toDuration(timeout)
	if err != nil {
		return nil, fmt.Errorf("service: timeout: %w", err)
	}
	ctx, host, key := threadState(t)
	if key == (Key{}) || host == nil {
		return nil, fmt.Errorf("service: only a provider may declare a service; call it inside the function you register()")
	}
	if err := host.Ready(ctx, key, srv.proc, Readiness{Hostname: hostname, Port: port, Timeout: d}); err != nil {
		return nil, err
	}
	return valueDict(Value{PID: srv.proc.PID, Hostname: hostname, Port: port}), nil
}

func toDuration(v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case starlark.NoneType:
		return 0, nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 {
			return 0, fmt.Errorf("want a non-negative number of seconds, got %s", v)
		}
		return time.Duration(n) * time.Second, nil
	case starlark.Float:
		if v < 0 {
			return 0, fmt.Errorf("want a non-negative number of seconds, got %s", v)
		}
		return time.Duration(float64(v) * float64(time.Second)), nil
	case starlark.String:
		return time.ParseDuration(string(v))
	}
	return 0, fmt.Errorf("want seconds or a duration string such as \"30s\", got %s", v.Type())
}

func builtinRegister(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, tier string
		provider   starlark.Callable
		deps       *starlark.List
		watch      *starlark.List
		ignore     *starlark.List
		sync       *starlark.List
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "tier", &tier, "provider", &provider, "deps?", &deps, "watch?", &watch, "ignore?", &ignore, "sync?", &sync); err != nil {
		return nil, err
	}
	reg, _ := t.Local(localRegister).(func(*starlark.Thread, *Service) error)
	if reg == nil {
		return nil, fmt.Errorf("register: only allowed at the top level of a Petsfile, not inside a provider")
	}
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("register: invalid service name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", name)
	}
	if !tierPattern.MatchString(tier) {
		return nil, fmt.Errorf("register: invalid tier %q: use letters, digits, '_' and '.', starting with a letter or digit", tier)
	}
	s := &Service{
		Key:      Key{Name: name, Tier: tier},
		Provider: provider.Name(),
		Pos:      t.CallFrame(1).Pos.String(),
		provider: provider,
	}
	if deps != nil {
		seen := map[string]bool{}
		for i := 0; i < deps.Len(); i++ {
			d, ok := starlark.AsString(deps.Index(i))
			if !ok {
				return nil, fmt.Errorf("register: deps[%d] is a %s; want a service name", i, deps.Index(i).Type())
			}
			if d == name {
				return nil, fmt.Errorf("register: %s depends on itself", name)
			}
			if seen[d] {
				return nil, fmt.Errorf("register: %s lists dependency %q twice", name, d)
			}
			seen[d] = true
			s.Deps = append(s.Deps, d)
		}
	}
	var err error
	if s.Watch, err = globList("watch", watch); err != nil {
		return nil, err
	}
	if s.Ignore, err = globList("ignore", ignore); err != nil {
		return nil, err
	}
	if s.Sync, err = syncList(sync); err != nil {
		return nil, err
	}
	if err := checkArity(provider, len(s.Deps)); err != nil {
		return nil, fmt.Errorf("register: %s: %w", s.Key, err)
	}
	if err := reg(t, s); err != nil {
		return nil, err
	}
	for i := range s.Sync { // s.Dir is known once registered
		s.Sync[i].Ignore = s.IgnoreGlobs() // what the watcher ignores, a tree's sync skips
	}
	return starlark.None, nil
}

// globList checks a list of doublestar globs, relative to the Petsfile's directory.
func globList(kw string, l *starlark.List) ([]string, error) {
	if l == nil {
		return nil, nil
	}
	var out []string
	for i := 0; i < l.Len(); i++ {
		g, ok := starlark.AsString(l.Index(i))
		if !ok {
			return nil, fmt.Errorf("register: %s[%d] is a %s; want a glob string such as \"src/**/*.go\"", kw, i, l.Index(i).Type())
		}
		if g == "" || path.IsAbs(g) || filepath.IsAbs(g) {
			return nil, fmt.Errorf("register: %s[%d] %q: globs are relative to the Petsfile's directory (\"../lib/**\" reaches outside it)", kw, i, g)
		}
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("register: %s[%d] %q is not a valid glob (see doublestar: *, **, ?, [abc], {a,b})", kw, i, g)
		}
		out = append(out, path.Clean(g))
	}
	return out, nil
}

// checkArity reports a provider that cannot be called with n positional deps.
func checkArity(c starlark.Callable, n int) error {
	fn, ok := c.(*starlark.Function)
	if !ok {
		return nil // a builtin: it checks its own arguments
	}
	params := fn.NumParams() - fn.NumKwonlyParams()
	if fn.HasVarargs() {
		params--
	}
	if fn.HasKwargs() {
		params--
	}
	required := 0
	for i := 0; i < params; i++ {
		if fn.ParamDefault(i) == nil {
			required++
		}
	}
	switch {
	case required > n:
		return fmt.Errorf("provider %s takes %d parameters but the service has %d deps; each dependency arrives as one positional argument, in deps order", fn.Name(), required, n)
	case n > params && !fn.HasVarargs():
		return fmt.Errorf("provider %s takes %d parameters but the service has %d deps; add a parameter for each dependency, in deps order", fn.Name(), params, n)
	}
	return nil
}

// server is what start() returns.
type server struct {
	proc Process
	cmd  string
}

var _ starlark.HasAttrs = (*server)(nil)

func (s *server) String() string        { return fmt.Sprintf("<server pid=%d %q>", s.proc.PID, s.cmd) }
func (s *server) Type() string          { return "server" }
func (s *server) Freeze()               {}
func (s *server) Truth() starlark.Bool  { return starlark.True }
func (s *server) Hash() (uint32, error) { return uint32(s.proc.PID), nil }
func (s *server) AttrNames() []string   { return []string{"cmd", "pid"} }
func (s *server) Attr(name string) (starlark.Value, error) {
	switch name {
	case "pid":
		return starlark.MakeInt(s.proc.PID), nil
	case "cmd":
		return starlark.String(s.cmd), nil
	}
	return nil, nil
}

func valueDict(v Value) *starlark.Dict {
	d := starlark.NewDict(4)
	_ = d.SetKey(starlark.String("pid"), starlark.MakeInt(v.PID))
	_ = d.SetKey(starlark.String("hostname"), starlark.String(v.Hostname))
	_ = d.SetKey(starlark.String("port"), starlark.MakeInt(v.Port))
	_ = d.SetKey(starlark.String("host"), starlark.String(v.Host()))
	return d
}

func toValue(res starlark.Value) (Value, error) {
	if res == starlark.None {
		return Value{}, nil
	}
	d, ok := res.(*starlark.Dict)
	if !ok {
		return Value{}, fmt.Errorf("want the dict that service() returns, or None")
	}
	var v Value
	get := func(k string) starlark.Value {
		x, _, _ := d.Get(starlark.String(k))
		return x
	}
	if x := get("pid"); x != nil {
		if err := starlark.AsInt(x, &v.PID); err != nil {
			return Value{}, fmt.Errorf("pid: %w", err)
		}
	}
	if x := get("hostname"); x != nil {
		s, ok := starlark.AsString(x)
		if !ok {
			return Value{}, fmt.Errorf("hostname is a %s; want a string", x.Type())
		}
		v.Hostname = s
	}
	if x := get("port"); x != nil {
		if err := starlark.AsInt(x, &v.Port); err != nil {
			return Value{}, fmt.Errorf("port: %w", err)
		}
	}
	if v.Hostname == "" || v.Port == 0 {
		return Value{}, fmt.Errorf("the dict needs \"hostname\" and \"port\"; build it with service(server, host, port)")
	}
	return v, nil
}
