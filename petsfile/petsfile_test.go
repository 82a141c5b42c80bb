package petsfile_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

var update = flag.Bool("update", false, "rewrite testdata/*/want from the current output")

// TestCases evaluates each testdata/<case>/Petsfile, resolves the services the
// case's optional "args" file asks for (names, --tier=T, --with=svc=tier),
// calls each provider in order with a recording host, and compares everything
// (or the error) with testdata/<case>/want.
func TestCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/Petsfile")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no test cases found")
	}
	for _, pf := range dirs {
		dir := filepath.Dir(pf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			got := runCase(t, dir)
			wantPath := filepath.Join(dir, "want")
			if *update {
				if err := os.WriteFile(wantPath, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: output differs from want\n--- got ---\n%s\n--- want ---\n%s", dir, got, want)
			}
		})
	}
}

func runCase(t *testing.T, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rel := func(s string) string { return strings.ReplaceAll(s, abs, "$CASE") }
	host := &recordingHost{out: &out, rel: rel}
	var printed bytes.Buffer
	ctx := context.Background()
	p, err := petsfile.Load(ctx, filepath.Join(dir, "Petsfile"), petsfile.Options{Host: host, Stderr: &printed})
	if printed.Len() > 0 {
		fmt.Fprintf(&out, "# printed\n%s", rel(printed.String()))
		printed.Reset()
	}
	if err != nil {
		fmt.Fprintf(&out, "# load error\n%s\n", rel(err.Error()))
		return out.String()
	}
	fmt.Fprintln(&out, "# services")
	for _, s := range p.Services() {
		fmt.Fprintf(&out, "%s deps=%v provider=%s at %s dir=%s\n", s.Key, s.Deps, s.Provider, s.Pos, rel(s.Dir))
		if len(s.Watch)+len(s.Ignore) > 0 {
			fmt.Fprintf(&out, "  watch=%v ignore=%v\n", rel(strings.Join(s.WatchGlobs(), " ")), rel(strings.Join(s.IgnoreGlobs(), " ")))
		}
		for _, r := range s.Sync {
			fmt.Fprintf(&out, "  sync %s\n", rel(fmt.Sprintf("%+v", r)))
		}
		if s.Build != "" {
			fmt.Fprintf(&out, "  build=%q build_outputs=%v\n", s.Build, rel(strings.Join(s.BuildOutputs, " ")))
		}
		if s.RestartPolicy != petsfile.RestartOnFailure {
			fmt.Fprintf(&out, "  restart_policy=%q\n", s.RestartPolicy)
		}
		if len(s.EnvFiles) > 0 {
			fmt.Fprintf(&out, "  env_files=%v\n", rel(strings.Join(s.EnvFiles, " ")))
		}
	}
	if len(p.AllowedContexts) > 0 {
		fmt.Fprintf(&out, "# allowed contexts %q\n", p.AllowedContexts)
	}
	var names, withArgs []string
	tier := "local"
	if args, err := os.ReadFile(filepath.Join(dir, "args")); err == nil {
		for _, f := range strings.Fields(string(args)) {
			switch {
			case strings.HasPrefix(f, "--tier="):
				tier = strings.TrimPrefix(f, "--tier=")
			case strings.HasPrefix(f, "--with="):
				withArgs = append(withArgs, strings.TrimPrefix(f, "--with="))
			default:
				names = append(names, f)
			}
		}
	}
	fmt.Fprintf(&out, "# resolve %v tier=%s with=%v\n", names, tier, withArgs)
	with, err := petsfile.ParseWith(withArgs)
	if err != nil {
		fmt.Fprintf(&out, "error: %s\n", err)
		return out.String()
	}
	g, err := p.Resolve(names, tier, with)
	if err != nil {
		fmt.Fprintf(&out, "error: %s\n", rel(err.Error()))
		return out.String()
	}
	var order []string
	for _, k := range g.Order {
		order = append(order, k.String())
	}
	fmt.Fprintf(&out, "order: %s\n", strings.Join(order, ", "))
	fmt.Fprintln(&out, "# provide")
	// A failed provider fails its dependents, which are skipped; the other
	// services are still provided, so one case can hold several errors.
	values := map[petsfile.Key]petsfile.Value{}
	failed := map[petsfile.Key]bool{}
	for _, k := range g.Order {
		var deps []petsfile.Value
		fmt.Fprintf(&out, "%s:\n", k)
		for _, d := range g.Deps[k] {
			deps = append(deps, values[d])
			failed[k] = failed[k] || failed[d]
		}
		if failed[k] {
			fmt.Fprintf(&out, "  skipped: a dependency failed\n")
			continue
		}
		v, err := p.Provide(ctx, k, deps, host)
		if printed.Len() > 0 {
			fmt.Fprintf(&out, "  printed: %s", rel(printed.String()))
			printed.Reset()
		}
		if err != nil {
			fmt.Fprintf(&out, "  error: %s\n", rel(err.Error()))
			failed[k] = true
			continue
		}
		fmt.Fprintf(&out, "  = pid=%d host=%q\n", v.PID, v.Host())
		values[k] = v
	}
	return out.String()
}

// recordingHost records what the builtins ask for and runs nothing.
type recordingHost struct {
	out     *bytes.Buffer
	rel     func(string) string
	nextPID int
}

var _ petsfile.Host = (*recordingHost)(nil)

func (h *recordingHost) Start(_ context.Context, c petsfile.Command) (petsfile.Process, error) {
	h.nextPID++
	fmt.Fprintf(h.out, "  start %q in %s (for %q)%s -> pid %d\n", c.Line, h.rel(c.Dir), c.Service.String(), envText(c.Env), 100+h.nextPID)
	return petsfile.Process{PID: 100 + h.nextPID}, nil
}

func (h *recordingHost) Run(_ context.Context, c petsfile.Command) error {
	fmt.Fprintf(h.out, "  run %q in %s (for %q)%s\n", c.Line, h.rel(c.Dir), c.Service.String(), envText(c.Env))
	if strings.Contains(c.Line, "fail") {
		return fmt.Errorf("run %q: exit status 1", c.Line)
	}
	return nil
}

func (h *recordingHost) Apply(_ context.Context, k petsfile.Key, manifests []byte, ns string, wait bool, allowed []string) error {
	fmt.Fprintf(h.out, "  k8s_apply %d bytes ns=%q wait=%v allowed=%q (for %q)\n", len(manifests), ns, wait, allowed, k.String())
	return nil
}

func (h *recordingHost) PortForward(_ context.Context, k petsfile.Key, ns, sel string, local, remote int, allowed []string) (petsfile.Process, error) {
	h.nextPID++
	fmt.Fprintf(h.out, "  k8s_port_forward %s ns=%q %d:%d allowed=%q (for %q) -> pid %d\n", sel, ns, local, remote, allowed, k.String(), 100+h.nextPID)
	return petsfile.Process{PID: 100 + h.nextPID}, nil
}

func (h *recordingHost) Ready(_ context.Context, k petsfile.Key, p petsfile.Process, r petsfile.Readiness) error {
	kind := ""
	switch {
	case r.HTTP != "":
		kind = fmt.Sprintf(" http=%q", r.HTTP)
	case r.Command != nil:
		kind = fmt.Sprintf(" cmd=%q in %s (for %q)%s", r.Command.Line, h.rel(r.Command.Dir), r.Command.Service.String(), envText(r.Command.Env))
	case r.Log != "":
		kind = fmt.Sprintf(" log=%q", r.Log)
	}
	fmt.Fprintf(h.out, "  ready? %s pid %d %s:%d timeout=%s%s\n", k, p.PID, r.Hostname, r.Port, r.Timeout, kind)
	return nil
}

// envText shows a command's env, if it has one.
func envText(env []string) string {
	if len(env) == 0 {
		return ""
	}
	return fmt.Sprintf(" env=%q", env)
}

func TestParseWith(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"backend=k8s"}, "map[backend:k8s]"},
		{[]string{"backend=k8s,db=remote", "web=local"}, "map[backend:k8s db:remote web:local]"},
		{[]string{"backend=k8s", "backend=k8s"}, "map[backend:k8s]"},
		{[]string{"backend"}, `error: malformed --with "backend"`},
		{[]string{"=k8s"}, `error: malformed --with "=k8s"`},
		{[]string{"a=b=c"}, `error: malformed --with "a=b=c"`},
		{[]string{"backend=k8s", "backend=local"}, "error: --with gives backend two tiers: k8s and local"},
	} {
		m, err := petsfile.ParseWith(tc.in)
		got := fmt.Sprint(m)
		if err != nil {
			got = "error: " + strings.SplitN(err.Error(), "\n", 2)[0]
		}
		if got != tc.want {
			t.Errorf("ParseWith(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := petsfile.Find(deep); err == nil {
		t.Fatal("Find succeeded with no Petsfile anywhere")
	}
	pf := filepath.Join(root, "a", "Petsfile")
	if err := os.WriteFile(pf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := petsfile.Find(deep)
	if err != nil || got != pf {
		t.Fatalf("Find(%s) = %q, %v; want %q", deep, got, err, pf)
	}
}

// What a sync rule covers is decided in one place, rebuild.Cover (see
// rebuild's TestRuleTarget, which has this test's former cases).
func TestSyncRunTriggers(t *testing.T) {
	run := petsfile.SyncRun{Cmd: "x", Trigger: []string{"/p/conf/**"}}
	if run.Triggered([]string{"/p/static/a.css"}) || !run.Triggered([]string{"/p/static/a.css", "/p/conf/app.conf"}) {
		t.Error("Triggered ignores its globs")
	}
	if !(petsfile.SyncRun{Cmd: "x"}).Triggered(nil) {
		t.Error("a run without triggers must always run")
	}
}

// An absolute load path still works beside the 2018 relative ones
// (testdata/compat2018_load_bare), which a golden file cannot show.
func TestLoadAbsolutePath(t *testing.T) {
	lib, root := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, "Petsfile"), []byte("X = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("load(%q, \"X\")\nload(%q, y=\"X\")\nprint(X + y)\n", lib, filepath.Join(lib, "Petsfile"))
	if err := os.WriteFile(filepath.Join(root, "Petsfile"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	p, err := petsfile.Load(context.Background(), filepath.Join(root, "Petsfile"), petsfile.Options{Stderr: &printed})
	if err != nil {
		t.Fatal(err)
	}
	if printed.String() != "2\n" || len(p.Files) != 2 {
		t.Fatalf("printed %q, files %v; want lib loaded once, by its directory and by its file", printed.String(), p.Files)
	}
}
