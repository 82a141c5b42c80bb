package petsfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FileName is the name pets looks for in the current directory and its parents.
const FileName = "Petsfile"

// ErrNotFound is returned by Find when no Petsfile exists in a directory or its parents.
var ErrNotFound = errors.New("petsfile: no Petsfile found")

// Key names one variant of a service: a name and a tier.
type Key struct {
	Name string
	Tier string
}

// String returns the display name, "name-tier", as the original pets printed it.
func (k Key) String() string { return k.Name + "-" + k.Tier }

// Service is one registered (name, tier) with its provider.
type Service struct {
	Key
	Deps     []string // dependency names; their tier is inherited unless overridden
	Provider string   // the provider function's name
	Pos      string   // file:line:col of the register() call
	File     string   // absolute path of the file that registered it
	Dir      string   // directory of that file: where its commands run
	Watch    []string // doublestar globs relative to Dir whose changes restart it; empty: all of Dir
	Ignore   []string // doublestar globs relative to Dir that never trigger it
	Sync     []SyncRule

	// Build (register(build=...)) is run, in Dir, before every start,
	// restart and bounce that needs it, while the old instance keeps
	// serving; only when it succeeds is the old one stopped. "" : none.
	Build string
	// BuildOutputs (register(build_outputs=[...])) are absolute globs of
	// what Build writes: they never trigger a round themselves, and a
	// service with sync rules has them synced after a build (even when
	// ignored).
	BuildOutputs []string
	// RestartPolicy (register(restart_policy=...)): what a watching pets
	// does when the service crashes: RestartOnFailure (the default) or
	// RestartNo.
	RestartPolicy string
	// EnvFiles (register(env_files=[...])) are absolute paths of .env
	// files whose variables every command of the service gets (after
	// pets' own, before a command's env=); they are watched like the
	// Petsfile, whatever the ignore rules say, and a change restarts the
	// services that name them.
	EnvFiles []string

	provider starlark.Callable
}

// Restart policies (register(restart_policy=...)).
const (
	RestartOnFailure = "on-failure" // a crashed service restarts, with backoff, while a pets watches
	RestartNo        = "no"         // a crashed service waits for the next change to its files
)

// WatchGlobs returns the service's watch globs as absolute, slash-separated
// patterns; nil means "the service's directory" (see DESIGN.md).
func (s *Service) WatchGlobs() []string { return absGlobs(s.Dir, s.Watch) }

// IgnoreGlobs returns the service's ignore globs as absolute patterns.
func (s *Service) IgnoreGlobs() []string { return absGlobs(s.Dir, s.Ignore) }

func absGlobs(dir string, globs []string) []string {
	if len(globs) == 0 {
		return nil
	}
	out := make([]string, len(globs))
	for i, g := range globs {
		out[i] = filepath.ToSlash(filepath.Join(dir, filepath.FromSlash(g)))
	}
	return out
}

// Value is what a provider returns: the service's address and main process.
// A server without an address (a worker: a provider returned start()'s
// server, or service(server) without host and port) has only a PID.
type Value struct {
	PID      int    `json:"pid,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Port     int    `json:"port,omitempty"`
}

// Host returns "hostname:port", or "" for a service without an address.
func (v Value) Host() string {
	if v.Hostname == "" && v.Port == 0 {
		return ""
	}
	return fmt.Sprintf("%s:%d", v.Hostname, v.Port)
}

// Command is a shell command a Petsfile asked for.
type Command struct {
	Service Key    // zero when called at the top level of a file
	Dir     string // absolute directory of the Petsfile holding the calling code
	Line    string // run as `bash -c Line`
	// Env is "NAME=value" entries for the command: the service's env
	// files' first, then start()/run()'s env=, later ones winning.
	Env []string
}

// Process is a started background process, as start() returns it.
type Process struct {
	PID int
}

// Readiness says when a service counts as up.
type Readiness struct {
	Hostname string // "" with Port 0: a service without an address (a worker)
	Port     int
	Timeout  time.Duration // zero: the host's default
	// HTTP (service(http="/healthz")): a GET of this path on
	// Hostname:Port must answer 2xx or 3xx.
	HTTP string
	// Command (service(cmd="pg_isready")): a command that must exit 0
	// (run like run()'s, in the calling Petsfile's directory, with the
	// service's env files' variables and no env=).
	Command *Command
	// Log (service(log="listening on")): a regexp one line of the
	// service's output since its start must match.
	Log string
}

// Host does what the builtins ask. Implementations: the local supervisor, the
// dry-run printer, fakes in tests.
type Host interface {
	Start(ctx context.Context, c Command) (Process, error)
	Run(ctx context.Context, c Command) error
	Ready(ctx context.Context, svc Key, p Process, r Readiness) error
}

// Options configure Load.
type Options struct {
	Host   Host      // used by top-level run() calls; required only if a file calls run() at top level
	Stderr io.Writer // print() output; nil means io.Discard
	// GoCommand is the go binary used for go-get:// loads; "" means "go".
	GoCommand string
	// NamesFrom is the directory that positions (file:line:col) name files
	// relative to, where that is shorter than the absolute path: the
	// command's working directory, say, so that an editor can open them.
	// "" means the root Petsfile's directory.
	NamesFrom string
	// MaxSteps limits the Starlark steps of each evaluation (the top level
	// of a file, a provider call): 0 means $PETS_MAX_STEPS if set (0 there:
	// no limit), else DefaultMaxSteps; NoStepLimit lifts it.
	MaxSteps uint64
}

// Project is an evaluated Petsfile and everything it loaded.
type Project struct {
	Path  string   // absolute path of the root Petsfile
	Files []string // every evaluated file, absolute, in evaluation order
	// Sums maps each evaluated file to the sha256 (hex) of the content
	// that was evaluated: what a running service's configuration was.
	Sums map[string]string
	// AllowedContexts are the Kubernetes contexts allow_k8s_contexts() named.
	AllowedContexts []string

	services map[Key]*Service
	order    []Key // registration order
	stderr   io.Writer
	files    map[string]string // display filename -> absolute path
	maxSteps uint64            // per evaluation; NoStepLimit: none
	srcs     map[string][]byte // display filename -> the content evaluated
}

// Find returns the Petsfile in dir or its nearest parent.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, FileName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w in %s or any parent directory", ErrNotFound, dir)
		}
	}
}

// Load evaluates the Petsfile at path and every file it loads.
func Load(ctx context.Context, path string, opts Options) (*Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("read Petsfile: %w", err)
	} else if fi.IsDir() {
		abs = filepath.Join(abs, FileName)
	}
	max, err := maxSteps(opts)
	if err != nil {
		return nil, err
	}
	p := &Project{
		maxSteps: max,
		srcs:     map[string][]byte{},
		Path:     abs,
		Sums:     map[string]string{},
		services: map[Key]*Service{},
		stderr:   opts.Stderr,
		files:    map[string]string{},
	}
	if p.stderr == nil {
		p.stderr = io.Discard
	}
	l := &loader{
		ctx:     ctx,
		project: p,
		host:    opts.Host,
		goCmd:   opts.GoCommand,
		root:    filepath.Dir(abs),
		names:   opts.NamesFrom,
		cache:   map[string]*entry{},
	}
	if l.goCmd == "" {
		l.goCmd = "go"
	}
	if l.names == "" {
		l.names = l.root
	} else if l.names, err = filepath.Abs(l.names); err != nil {
		return nil, err
	}
	if _, err := l.exec(abs); err != nil {
		return nil, err
	}
	return p, nil
}

// Services returns every registered service in registration order.
func (p *Project) Services() []*Service {
	out := make([]*Service, 0, len(p.order))
	for _, k := range p.order {
		out = append(out, p.services[k])
	}
	return out
}

// Service returns the registered service for k.
func (p *Project) Service(k Key) (*Service, bool) {
	s, ok := p.services[k]
	return s, ok
}

// Tiers returns the tiers registered for a service name, sorted.
func (p *Project) Tiers(name string) []string {
	var tiers []string
	for _, k := range p.order {
		if k.Name == name {
			tiers = append(tiers, k.Tier)
		}
	}
	sort.Strings(tiers)
	return tiers
}

// Provide calls the provider of svc with its dependencies' values, in deps
// order, and returns the service value it produced. A provider that takes
// fewer parameters than the service has deps gets the first ones (the rest
// are deps for start order only). The service's env files are read now, so
// an edited env file takes effect at the next start.
func (p *Project) Provide(ctx context.Context, k Key, deps []Value, host Host) (Value, error) {
	return p.provide(ctx, k, deps, host, false)
}

// provide is Provide; fingerprint drops print() output and leaves the env
// files unread (their content is not part of a fingerprint, only their
// paths: the engine restarts a service when one changes).
func (p *Project) provide(ctx context.Context, k Key, deps []Value, host Host, fingerprint bool) (Value, error) {
	svc, ok := p.services[k]
	if !ok {
		return Value{}, fmt.Errorf("provide %s: no such service", k)
	}
	thread := p.newThread(ctx, host, k)
	if fingerprint {
		thread.Print = func(*starlark.Thread, string) {}
	} else {
		env, err := svc.ReadEnvFiles()
		if err != nil {
			return Value{}, &ProviderError{Service: k, Err: err}
		}
		thread.SetLocal(localEnv, env)
	}
	n := len(deps)
	if params, _ := positionalParams(svc.provider); params >= 0 && params < n {
		n = params
	}
	args := make(starlark.Tuple, n)
	for i := range args {
		args[i] = valueDict(deps[i])
	}
	var res starlark.Value
	err := p.evaluate(ctx, thread, func() (err error) {
		res, err = starlark.Call(thread, svc.provider, args, nil)
		return err
	})
	if err != nil {
		return Value{}, &ProviderError{Service: k, Err: err}
	}
	v, err := toValue(res)
	if err != nil {
		return Value{}, &ProviderError{Service: k, Err: fmt.Errorf("%s: provider %s returned %s: %w", svc.Pos, svc.Provider, res.Type(), err)}
	}
	return v, nil
}

// ProviderError is a failure of a service's provider.
type ProviderError struct {
	Service Key
	Err     error
}

func (e *ProviderError) Error() string { return e.Err.Error() }
func (e *ProviderError) Unwrap() error { return e.Err }

// Error is a Petsfile error with a position and, for evaluation errors, the
// Starlark backtrace.
type Error struct {
	Pos       string // file:line:col
	Msg       string
	Backtrace string // may be empty
	Hint      string // may be empty
	err       error
	call      bool // a builtin's refusal (callError): evalError adds the backtrace of the call
	stopped   bool // an evaluation stopped (interrupted, too many steps): said once, by the innermost
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos + ": ")
	}
	b.WriteString(e.Msg)
	if e.Backtrace != "" {
		b.WriteString("\n" + e.Backtrace)
	}
	if e.Hint != "" {
		b.WriteString("\nhint: " + e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.err }

// evalError turns a Starlark error into an *Error with position and backtrace.
func evalError(err error) error {
	var pe *Error
	var ee *starlark.EvalError
	if errors.As(err, &pe) {
		if pe.call && pe.Backtrace == "" && errors.As(err, &ee) {
			pe.Backtrace = traceback(ee)
		}
		return pe
	}
	if errors.As(err, &ee) {
		var inner *Error
		if errors.As(ee.Unwrap(), &inner) {
			if inner.Backtrace == "" {
				inner.Backtrace = traceback(ee)
			}
			return inner
		}
		pos := ""
		if n := len(ee.CallStack); n > 0 {
			// The innermost Starlark frame (skip the builtin's own frame).
			for i := n - 1; i >= 0; i-- {
				if fn := ee.CallStack[i].Pos.Filename(); fn != "<builtin>" {
					pos = ee.CallStack[i].Pos.String()
					break
				}
			}
		}
		return &Error{Pos: pos, Msg: ee.Msg, Backtrace: traceback(ee), err: ee}
	}
	var se syntax.Error
	if errors.As(err, &se) {
		return &Error{Pos: se.Pos.String(), Msg: se.Msg, Hint: "fix the syntax error; a Petsfile is Starlark (a Python dialect)", err: se}
	}
	return err
}

// traceback is the Starlark backtrace without its last "Error: msg" line,
// which the first line of Error already says.
func traceback(ee *starlark.EvalError) string {
	bt := ee.Backtrace()
	if i := strings.LastIndex(bt, "\nError"); i >= 0 {
		bt = bt[:i]
	}
	return bt
}
