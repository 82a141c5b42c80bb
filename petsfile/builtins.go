package petsfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"
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
	localEnv      = "pets.env" // []string: the service's env files' entries, read when its provider is called
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
		"service":  starlark.NewBuiltin("service", p.builtinService),
		"register": starlark.NewBuiltin("register", p.builtinRegister),

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

// callError is a builtin's refusal of its arguments: the position of the
// call, what is wrong, and what to write instead.
func callError(t *starlark.Thread, hint, format string, args ...any) *Error {
	return &Error{Pos: t.CallFrame(1).Pos.String(), Msg: fmt.Sprintf(format, args...), Hint: hint, call: true}
}

// fileEnv returns a copy of the entries of the env files of the service
// whose provider runs on t (none at the top level of a file).
func fileEnv(t *starlark.Thread) []string {
	env, _ := t.Local(localEnv).([]string)
	return append([]string(nil), env...)
}

// envArg unpacks start()/run()'s env={"NAME": "value"} into "NAME=value"
// entries, in the dict's order.
func envArg(t *starlark.Thread, fn string, v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, callError(t, `write env={"NAME": "value", ...}`, "%s: env is a %s; want a dict of variable names to strings", fn, v.Type())
	}
	var out []string
	for _, item := range d.Items() {
		name, ok := starlark.AsString(item[0])
		if !ok {
			return nil, callError(t, `env maps names (strings) to values (strings): env={"PORT": "8080"}`, "%s: env key %s is a %s; want a variable name", fn, item[0], item[0].Type())
		}
		if !envNamePattern.MatchString(name) {
			return nil, callError(t, "use letters, digits, '_', '.' and '-', starting with a letter or '_'", "%s: env key %q is not a variable name", fn, name)
		}
		val, ok := item[1].(starlark.String)
		if !ok {
			return nil, callError(t, fmt.Sprintf(`values are strings: write env={%q: "%s"}, or str(...) around the value`, name, strings.Trim(item[1].String(), `"`)), "%s: env[%q] is a %s; want a string", fn, name, item[1].Type())
		}
		if strings.ContainsRune(string(val), 0) {
			return nil, fmt.Errorf("%s: env[%q] contains a NUL byte, which no environment can hold", fn, name)
		}
		out = append(out, name+"="+string(val))
	}
	return out, nil
}

func (p *Project) builtinStart(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		cmd string
		env starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "env?", &env); err != nil {
		return nil, err
	}
	entries, err := envArg(t, b.Name(), env)
	if err != nil {
		return nil, err
	}
	ctx, host, key := threadState(t)
	if key == (Key{}) {
		return nil, fmt.Errorf("start: only a provider may start a server; call it inside the function you register()")
	}
	if host == nil {
		return nil, fmt.Errorf("start: no host to run %q", cmd)
	}
	proc, err := host.Start(ctx, Command{Service: key, Dir: p.callerDir(t), Line: cmd, Env: append(fileEnv(t), entries...)})
	if err != nil {
		return nil, err
	}
	return &server{proc: proc, cmd: cmd}, nil
}

func (p *Project) builtinRun(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		cmd string
		env starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "env?", &env); err != nil {
		return nil, err
	}
	entries, err := envArg(t, b.Name(), env)
	if err != nil {
		return nil, err
	}
	ctx, host, key := threadState(t)
	if host == nil {
		return nil, fmt.Errorf("run: no host to run %q", cmd)
	}
	if err := host.Run(ctx, Command{Service: key, Dir: p.callerDir(t), Line: cmd, Env: append(fileEnv(t), entries...)}); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// optString unpacks an optional string argument: absent or None is ("", false).
func optString(fn, kw string, v starlark.Value) (string, bool, error) {
	if v == nil || v == starlark.None {
		return "", false, nil
	}
	s, ok := v.(starlark.String)
	if !ok {
		return "", false, fmt.Errorf("%s: %s is a %s; want a string", fn, kw, v.Type())
	}
	return string(s), true, nil
}

// builtinService: service(server, host=None, port=None, timeout=None,
// http=None, cmd=None, log=None). host and port come together; without them
// the server has no address (a worker), and is ready once started unless
// cmd= or log= says otherwise. At most one of http=, cmd=, log=.
func (p *Project) builtinService(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		srv                                      *server
		hostV, portV, timeout, httpV, cmdV, logV starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "server", &srv, "host?", &hostV, "port?", &portV, "timeout?", &timeout,
		"http?", &httpV, "cmd?", &cmdV, "log?", &logV); err != nil {
		return nil, err
	}
	r := Readiness{}
	hasHost := hostV != nil && hostV != starlark.None
	hasPort := portV != nil && portV != starlark.None
	if hasHost != hasPort {
		return nil, callError(t, `give both, service(server, "localhost", 8080), or neither for a server without an address (a worker): service(server) or service(server, log="ready")`,
			"service: host and port come together; this call gives only its %s", map[bool]string{true: "host", false: "port"}[hasHost])
	}
	if hasHost {
		h, ok := hostV.(starlark.String)
		if !ok {
			return nil, callError(t, `write the hostname as a string: "localhost" or "127.0.0.1"`, "service: host is a %s; want a hostname", hostV.Type())
		}
		if h == "" {
			return nil, fmt.Errorf("service: host is empty; use \"localhost\" or \"127.0.0.1\"")
		}
		if err := starlark.AsInt(portV, &r.Port); err != nil {
			return nil, callError(t, "write the port as a number: 8080, not \"8080\"", "service: port is a %s; want a number", portV.Type())
		}
		if r.Port <= 0 || r.Port > 65535 {
			return nil, fmt.Errorf("service: port %d is out of range 1-65535", r.Port)
		}
		r.Hostname = string(h)
	}
	var err error
	if r.Timeout, err = toDuration(timeout); err != nil {
		return nil, fmt.Errorf("service: timeout: %w", err)
	}
	http, hasHTTP, err := optString(b.Name(), "http", httpV)
	if err != nil {
		return nil, err
	}
	cmd, hasCmd, err := optString(b.Name(), "cmd", cmdV)
	if err != nil {
		return nil, err
	}
	logRE, hasLog, err := optString(b.Name(), "log", logV)
	if err != nil {
		return nil, err
	}
	var kinds []string
	for _, k := range []struct {
		on   bool
		name string
	}{{hasHTTP, "http="}, {hasCmd, "cmd="}, {hasLog, "log="}} {
		if k.on {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) > 1 {
		return nil, callError(t, `keep the one that proves the server is up: http="/healthz" (a GET answering 2xx or 3xx), cmd="..." (a command exiting 0) or log="regexp" (a line of its output)`,
			"service: %s are alternatives; give one readiness kind", strings.Join(kinds, " and "))
	}
	switch {
	case hasHTTP:
		if !strings.HasPrefix(http, "/") {
			return nil, callError(t, fmt.Sprintf("write http=%q", "/"+http), "service: http=%q is not a path", http)
		}
		if !hasHost {
			return nil, callError(t, `give the address to GET: service(server, "localhost", 8080, http="/healthz"); a server without an address can use cmd= or log=`, "service: http= needs host and port")
		}
		r.HTTP = http
	case hasCmd:
		if strings.TrimSpace(cmd) == "" {
			return nil, callError(t, `give a command that exits 0 once the server is up, e.g. cmd="pg_isready -h 127.0.0.1"`, "service: cmd= is empty")
		}
		r.Command = &Command{Dir: p.callerDir(t), Line: cmd}
	case hasLog:
		if logRE == "" {
			return nil, callError(t, `give a regexp that one line of the server's output matches once it is up, e.g. log=r"listening on :\d+" (a raw string: Starlark keeps its backslashes)`, "service: log= is empty")
		}
		if _, err := regexp.Compile(logRE); err != nil {
			return nil, callError(t, `log= is a Go regexp (RE2) matched against each line of the server's output; put a backslash before a literal ( ) [ ] . * + ?, in a raw string: log=r"ready \(pid \d+\)"`,
				"service: log=%q is not a regexp: %v", logRE, err)
		}
		r.Log = logRE
	}
	ctx, host, key := threadState(t)
	if key == (Key{}) || host == nil {
		return nil, fmt.Errorf("service: only a provider may declare a service; call it inside the function you register()")
	}
	if r.Command != nil {
		r.Command.Service = key
		r.Command.Env = fileEnv(t)
	}
	if r.Port == 0 && r.Command == nil && r.Log == "" {
		// No address and nothing to wait for: ready once started, like a
		// server a provider returns straight from start().
		return valueDict(Value{PID: srv.proc.PID}), nil
	}
	if err := host.Ready(ctx, key, srv.proc, r); err != nil {
		return nil, err
	}
	return valueDict(Value{PID: srv.proc.PID, Hostname: r.Hostname, Port: r.Port}), nil
}

func toDuration(v starlark.Value) (time.Duration, error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
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

// builtinRegister: register(name, tier, provider, deps=[], watch=[],
// ignore=[], sync=[], build=None, build_outputs=[],
// restart_policy="on-failure", env_files=[]).
func (p *Project) builtinRegister(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		name, tier    string
		provider      starlark.Callable
		deps          *starlark.List
		watch         *starlark.List
		ignore        *starlark.List
		sync          *starlark.List
		buildV        starlark.Value
		buildOutputs  *starlark.List
		restartPolicy starlark.Value
		envFiles      starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "tier", &tier, "provider", &provider, "deps?", &deps, "watch?", &watch, "ignore?", &ignore, "sync?", &sync,
		"build?", &buildV, "build_outputs??", &buildOutputs, "restart_policy?", &restartPolicy, "env_files??", &envFiles); err != nil {
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
		Key:           Key{Name: name, Tier: tier},
		Provider:      provider.Name(),
		Pos:           t.CallFrame(1).Pos.String(),
		RestartPolicy: RestartOnFailure,
		provider:      provider,
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
	dir := p.callerDir(t)
	build, _, err := optString(b.Name(), "build", buildV)
	if err != nil {
		return nil, callError(t, `write the build command as a string, e.g. build="go build -o bin/backend ./cmd/backend"`, "%v", err)
	}
	s.Build = strings.TrimSpace(build)
	outputs, err := globList("build_outputs", buildOutputs)
	if err != nil {
		return nil, err
	}
	if len(outputs) > 0 && s.Build == "" {
		return nil, callError(t, `add the command that writes them (build="..."), or use ignore=[...] for files that should never trigger a restart`,
			"register: build_outputs says what build writes, but %s has no build", s.Key)
	}
	s.BuildOutputs = absGlobs(dir, outputs)
	if policy, ok, err := optString(b.Name(), "restart_policy", restartPolicy); err != nil {
		return nil, err
	} else if ok {
		if policy != RestartOnFailure && policy != RestartNo {
			return nil, callError(t, fmt.Sprintf("write restart_policy=%q (the default: while pets watches, a crashed service restarts, with backoff) or restart_policy=%q (it waits for the next change to its files)", RestartOnFailure, RestartNo),
				"register: restart_policy %q is not a restart policy", policy)
		}
		s.RestartPolicy = policy
	}
	if s.EnvFiles, err = envFileList(t, dir, envFiles); err != nil {
		return nil, err
	}
	if err := checkArity(t, provider, len(s.Deps), s.Key); err != nil {
		return nil, err
	}
	if err := reg(t, s); err != nil {
		return nil, err
	}
	for i := range s.Sync { // s.Dir is known once registered
		s.Sync[i].Ignore = s.IgnoreGlobs() // what the watcher ignores, a tree's sync skips
	}
	return starlark.None, nil
}

// envFileList checks register(env_files=[...]): paths relative to dir (or
// absolute) of files that exist and read as .env files now. They are read
// again each time the service's provider is called.
func envFileList(t *starlark.Thread, dir string, v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	l, ok := v.(*starlark.List)
	if !ok {
		return nil, callError(t, fmt.Sprintf("write env_files=[%s]", v.String()), "register: env_files is a %s; want a list of file names", v.Type())
	}
	var out []string
	for i := 0; i < l.Len(); i++ {
		f, ok := starlark.AsString(l.Index(i))
		if !ok || f == "" {
			return nil, callError(t, `write env_files=[".env"]: paths relative to the Petsfile's directory`, "register: env_files[%d] is %s; want a file name", i, l.Index(i).String())
		}
		abs := f
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(dir, filepath.FromSlash(f))
		}
		if _, err := ReadEnvFile(abs); err != nil {
			var ee *EnvFileError
			switch {
			case errors.As(err, &ee):
				return nil, callError(t, "an env file holds NAME=value lines (docker compose syntax); fix that line", "register: env_files[%d]: %v", i, err)
			case errors.Is(err, fs.ErrNotExist):
				return nil, callError(t, fmt.Sprintf("create %s (NAME=value lines), or take it out of env_files; paths are relative to the Petsfile's directory", abs),
					"register: env_files[%d] %q: no such file", i, f)
			default:
				return nil, fmt.Errorf("register: env_files[%d] %q: %w", i, f, err)
			}
		}
		out = append(out, abs)
	}
	return out, nil
}

// ReadEnvFiles reads the service's env files, in order, and returns their
// entries ("NAME=value"): what every command of the service gets before
// its own env=. A build step (Build) run by the engine should get them too.
func (s *Service) ReadEnvFiles() ([]string, error) {
	var out []string
	for _, f := range s.EnvFiles {
		env, err := ReadEnvFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: env file of %s: %w", s.Pos, s.Key, err)
		}
		out = append(out, env...)
	}
	return out, nil
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

// positionalParams returns how many positional parameters c takes and how
// many of them have no default; -1, 0 for a callable that takes any number
// (a builtin, or a function with *args).
func positionalParams(c starlark.Callable) (params, required int) {
	fn, ok := c.(*starlark.Function)
	if !ok || fn.HasVarargs() {
		return -1, 0
	}
	params = fn.NumParams() - fn.NumKwonlyParams()
	if fn.HasKwargs() {
		params--
	}
	for i := 0; i < params; i++ {
		if fn.ParamDefault(i) == nil {
			required++
		}
	}
	return params, required
}

// checkArity refuses a provider that needs more positional arguments than
// the service has deps. Fewer is fine (2018 pets allowed it: deps listed
// only for start order are common): the provider gets the first ones.
func checkArity(t *starlark.Thread, c starlark.Callable, n int, k Key) error {
	_, required := positionalParams(c)
	if required > n {
		return callError(t, fmt.Sprintf("each dependency arrives as one positional argument, in deps order: list the service each parameter stands for in deps=[...], or give the extra parameters a default (def %s(..., x=None))", c.Name()),
			"register: %s: provider %s takes %d parameters but the service has %d deps", k, c.Name(), required, n)
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
	if srv, ok := res.(*server); ok {
		// 2018 pets: a provider may return its server without service():
		// a worker with no address, ready once started.
		return Value{PID: srv.proc.PID}, nil
	}
	d, ok := res.(*starlark.Dict)
	if !ok {
		return Value{}, fmt.Errorf("want the dict that service() returns, the server that start() returns, or None")
	}
	var v Value
	get := func(k string) starlark.Value {
		if x, found, _ := d.Get(starlark.String(k)); found {
			return x
		}
		return nil
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
	if v.Hostname == "" && v.Port == 0 && get("pid") == nil {
		return Value{}, fmt.Errorf("the dict has no \"pid\", \"hostname\" or \"port\"; return what service() or start() returns, or None")
	}
	if (v.Hostname == "") != (v.Port == 0) {
		return Value{}, fmt.Errorf("the dict needs both \"hostname\" and \"port\", or neither; build it with service(server, host, port) or service(server)")
	}
	return v, nil
}
