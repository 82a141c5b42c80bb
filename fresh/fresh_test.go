package fresh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/events"
	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/state"
	"github.com/windmilleng/pets/watcher"
)

func key(n string) petsfile.Key { return petsfile.Key{Name: n, Tier: "local"} }

// project is a real tree with a root Petsfile (api: all of the root; worker:
// watch= globs) and a nested web/Petsfile (web), a .gitignore'd build/ and
// node_modules/, a state directory inside the tree, and editor litter.
type project struct {
	root  string
	specs []Spec
}

func newProject(t *testing.T) *project {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &project{root: root}
	for name, content := range map[string]string{
		"Petsfile":                  "register(...)",
		"main.go":                   "package main\n",
		"README.md":                 "hello\n",
		".gitignore":                "build/\nnode_modules/\n",
		"pkg/db/db.go":              "package db\n",
		"pkg/db/db_test.go":         "package db\n",
		"pkg/db/notes.md":           "notes\n",
		"cmd/worker/main.go":        "package main\n",
		"build/out.bin":             "binary",
		"node_modules/x/index.js":   "js",
		".git/HEAD":                 "ref: refs/heads/main\n",
		".pets/state.json":          "{}",
		".main.go.swp":              "swap",
		"web/Petsfile":              "register(...)",
		"web/.gitignore":            "dist/\n",
		"web/src/app.js":            "app()\n",
		"web/dist/bundle.js":        "bundle",
		"web/node_modules/y/y.js":   "y",
		"other/tmp/scratch.txt":     "scratch",
		"other/keep/important.conf": "x=1\n",
	} {
		p.write(t, name, content)
	}
	if err := os.Symlink(filepath.Join(root, "pkg"), filepath.Join(root, "pkglink")); err != nil {
		t.Fatal(err)
	}
	owners := []rebuild.Owner{
		{Key: key("api"), Dir: filepath.ToSlash(root), Ignore: []string{p.glob("other/tmp/**")}},
		{Key: key("worker"), Dir: filepath.ToSlash(root), Watch: []string{p.glob("cmd/worker/**"), p.glob("pkg/**/*.go")}, Ignore: []string{p.glob("pkg/**/*_test.go")}},
		{Key: key("web"), Dir: filepath.ToSlash(filepath.Join(root, "web"))},
		{Key: key("later"), Dir: filepath.ToSlash(filepath.Join(root, "later"))}, // not created yet
	}
	for _, o := range owners {
		p.specs = append(p.specs, Spec{
			Key:    o.Key,
			Owners: owners,
			Ignore: []string{p.glob(".pets") + "/**"},
			Skip:   []string{p.path("Petsfile"), p.path("web/Petsfile")},
		})
	}
	return p
}

func (p *project) path(rel string) string { return filepath.Join(p.root, filepath.FromSlash(rel)) }
func (p *project) glob(rel string) string { return filepath.ToSlash(p.root) + "/" + rel }

func (p *project) write(t *testing.T, rel, content string) string {
	t.Helper()
	f := p.path(rel)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (p *project) walk(t *testing.T) map[petsfile.Key]*Manifest {
	t.Helper()
	ms, err := Walk(p.specs)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// rels lists paths relative to the project root, sorted, space-separated.
func (p *project) rels(paths []string) string {
	var out []string
	for _, f := range paths {
		r, err := filepath.Rel(p.root, f)
		if err != nil {
			r = f
		}
		out = append(out, filepath.ToSlash(r))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func (p *project) drift(d Drift) string {
	var parts []string
	for _, l := range []struct {
		name  string
		paths []string
	}{{"changed", d.Changed}, {"added", d.Added}, {"removed", d.Removed}} {
		if len(l.paths) > 0 {
			parts = append(parts, l.name+": "+p.rels(l.paths))
		}
	}
	return strings.Join(parts, "; ")
}

// asMap returns f's files as a map, as a test compares them.
func asMap(f *Files) map[string]FileStat {
	out := map[string]FileStat{}
	for p, st := range f.All() {
		if _, dup := out[p]; dup {
			panic("fresh: " + p + " twice in a Files")
		}
		out[p] = st
	}
	if len(out) != f.Len() {
		panic(fmt.Sprintf("fresh: Files.Len() = %d, but it holds %d files", f.Len(), len(out)))
	}
	return out
}

// filesOf returns m as a Files.
func filesOf(m map[string]FileStat) *Files {
	var f Files
	for p, st := range m {
		f.Set(p, st)
	}
	return &f
}

// oracle is the definition of a watch set, the slow way: every file under
// the roots the watcher would watch (as cmd/pets watchOpts builds them), not
// ignored by its Matcher, owned by the spec's key according to rebuild.Own.
func oracle(t *testing.T, s Spec) map[string]FileStat {
	t.Helper()
	var roots []string
	for _, r := range rebuild.Roots(s.Owners) {
		if fi, err := os.Stat(r); err == nil && !fi.IsDir() {
			continue
		} else if err != nil {
			r = existingParent(r)
		}
		roots = append(roots, r)
	}
	roots = outermost(roots)
	m, err := watcher.NewMatcher(roots, append(rebuild.GlobalIgnores(s.Owners), s.Ignore...))
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, p := range s.Skip {
		skip[p] = true
	}
	out := map[string]FileStat{}
	for _, r := range roots {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || m.Ignored(p, false) || len(rebuild.Own(s.Owners, skip, []string{p})[s.Key]) == 0 {
				return nil
			}
			if fi, err := os.Lstat(p); err == nil {
				out[p] = statOf(fi)
			}
			return nil
		})
	}
	return out
}

func TestWalk(t *testing.T) {
	p := newProject(t)
	ms := p.walk(t)
	for _, s := range p.specs {
		if want := oracle(t, s); !maps.Equal(asMap(&ms[s.Key].Files), want) {
			t.Errorf("%s: Walk differs from the definition: %s", s.Key, p.drift(compare(filesOf(want), &ms[s.Key].Files)))
		}
	}
	for _, tc := range []struct {
		name string
		want string
	}{
		// Not: the Petsfiles, .git, the state dir, the swap file,
		// .gitignore'd build/ and node_modules/, api's ignored other/tmp,
		// web's tree; pkglink is the symlink itself, not pkg again.
		{"api", ".gitignore README.md cmd/worker/main.go main.go other/keep/important.conf pkg/db/db.go pkg/db/db_test.go pkg/db/notes.md pkglink"},
		{"worker", "cmd/worker/main.go pkg/db/db.go"},
		{"web", "web/.gitignore web/src/app.js"},
		{"later", ""},
	} {
		m := ms[key(tc.name)]
		if got := p.rels(slices.Collect(maps.Keys(asMap(&m.Files)))); got != tc.want {
			t.Errorf("%s's watch set:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	st, _ := ms[key("api")].Files.Get(p.path("pkglink"))
	if st.Mode&fs.ModeSymlink == 0 || st.Size != int64(len(p.path("pkg"))) {
		t.Errorf("pkglink recorded as %+v, want the symlink itself (size = length of its target)", st)
	}
	main, _ := ms[key("api")].Files.Get(p.path("main.go"))
	fi, err := os.Lstat(p.path("main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (FileStat{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Mode: fi.Mode()}); main != want {
		t.Errorf("main.go recorded as %+v, want %+v", main, want)
	}
}

// TestOwnersOfTheWholeGraph: a service's watch set depends on the other
// services' areas, which is why a Spec carries every owner of the graph.
func TestOwnersOfTheWholeGraph(t *testing.T) {
	p := newProject(t)
	alone := p.specs[0]
	alone.Owners = alone.Owners[:1] // api without web, whose Petsfile is deeper
	ms, err := Walk([]Spec{alone, p.specs[2]})
	if err != nil {
		t.Fatal(err)
	}
	api, web := &ms[key("api")].Files, &ms[key("web")].Files
	if _, ok := api.Get(p.path("web/src/app.js")); !ok {
		t.Error("api alone does not own web/src/app.js")
	}
	if _, ok := web.Get(p.path("web/src/app.js")); !ok {
		t.Error("web does not own web/src/app.js")
	}
	if _, ok := p.walk(t)[key("api")].Files.Get(p.path("web/src/app.js")); ok {
		t.Error("api owns web/src/app.js next to web")
	}
}

// TestUnreadableDirectory: a directory pets may not read holds nothing, as
// for the watcher, which cannot watch it.
func TestUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	p := newProject(t)
	p.write(t, "data/db/table", "rows")
	if err := os.Chmod(p.path("data/db"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(p.path("data/db"), 0o755) })
	ms, err := Walk(p.specs)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ms[key("api")].Files.Get(p.path("data/db/table")); ok {
		t.Error("a file in an unreadable directory is in the watch set")
	}
	if _, ok := ms[key("api")].Files.Get(p.path("main.go")); !ok {
		t.Error("the rest of the tree is missing")
	}
}

func TestWalkRejects(t *testing.T) {
	p := newProject(t)
	if _, err := Walk([]Spec{p.specs[0], p.specs[0]}); err == nil {
		t.Error("Walk accepted two specs for one service")
	}
	bad := p.specs[0]
	bad.Ignore = []string{"/x/[unclosed"}
	if _, err := Walk([]Spec{bad}); err == nil {
		t.Error("Walk accepted a bad ignore glob")
	}
}

// change is one edit of the project, the paths a watcher would report for
// it, and the drift each service should see.
type change struct {
	name string
	do   func(t *testing.T, p *project) []string
	want map[string]string // service -> drift; absent: none
}

var changes = []change{
	{"edit changes the size", func(t *testing.T, p *project) []string {
		return []string{p.write(t, "main.go", "package main // edited\n")}
	}, map[string]string{"api": "changed: main.go"}},
	{"same size, new mtime", func(t *testing.T, p *project) []string {
		f := p.path("pkg/db/db.go")
		when := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
		if err := os.Chtimes(f, when, when); err != nil {
			t.Fatal(err)
		}
		return []string{f}
	}, map[string]string{"api": "changed: pkg/db/db.go", "worker": "changed: pkg/db/db.go"}},
	{"chmod +x", func(t *testing.T, p *project) []string {
		f := p.path("README.md")
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
		return []string{f}
	}, map[string]string{"api": "changed: README.md"}},
	{"file added", func(t *testing.T, p *project) []string {
		return []string{p.write(t, "pkg/cache/cache.go", "package cache\n")}
	}, map[string]string{"api": "added: pkg/cache/cache.go", "worker": "added: pkg/cache/cache.go"}},
	{"file removed", func(t *testing.T, p *project) []string {
		f := p.path("pkg/db/notes.md")
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		return []string{f}
	}, map[string]string{"api": "removed: pkg/db/notes.md"}},
	{"ignored files changed", func(t *testing.T, p *project) []string {
		return []string{
			p.write(t, ".main.go.swp", "swap, longer now"),
			p.write(t, "main.go~", "backup"),
			p.write(t, "build/out.bin", "a new binary"),
			p.write(t, "build/new/thing", "x"),
			p.write(t, "node_modules/x/index.js", "js, edited"),
			p.write(t, ".git/HEAD", "ref: refs/heads/other\n"),
			p.write(t, ".pets/state.json", `{"services":{}}`),
			p.write(t, "other/tmp/scratch.txt", "api ignores it"),
			p.write(t, "web/dist/bundle.js", "rebuilt"),
			p.write(t, "Petsfile", "register(..., changed)"),
			p.write(t, "web/Petsfile", "register(..., changed)"),
		}
	}, nil},
	{"deeper Petsfile's file", func(t *testing.T, p *project) []string {
		return []string{p.write(t, "web/src/app.js", "app(2)\n"), p.write(t, "web/src/new.js", "new\n")}
	}, map[string]string{"web": "changed: web/src/app.js; added: web/src/new.js"}},
	{"outside worker's globs", func(t *testing.T, p *project) []string {
		return []string{p.write(t, "pkg/db/db_test.go", "package db // more\n"), p.write(t, "cmd/other/main.go", "package main\n")}
	}, map[string]string{"api": "changed: pkg/db/db_test.go; added: cmd/other/main.go"}},
	{"gitignore no longer ignores build", func(t *testing.T, p *project) []string {
		return []string{p.write(t, ".gitignore", "node_modules/\n")}
	}, map[string]string{"api": "changed: .gitignore; added: build/out.bin"}},
	{"gitignore ignores pkg", func(t *testing.T, p *project) []string {
		return []string{p.write(t, ".gitignore", "build/\nnode_modules/\npkg/\n")}
	}, map[string]string{
		"api":    "changed: .gitignore; removed: pkg/db/db.go pkg/db/db_test.go pkg/db/notes.md",
		"worker": "removed: pkg/db/db.go",
	}},
	{"directory moved away (one event)", func(t *testing.T, p *project) []string {
		if err := os.Rename(p.path("pkg"), filepath.Join(t.TempDir(), "pkg")); err != nil {
			t.Fatal(err)
		}
		return []string{p.path("pkg")}
	}, map[string]string{
		"api":    "removed: pkg/db/db.go pkg/db/db_test.go pkg/db/notes.md",
		"worker": "removed: pkg/db/db.go",
	}},
	{"directory moved in (one event)", func(t *testing.T, p *project) []string {
		if err := os.Rename(p.path("pkg"), p.path("lib")); err != nil {
			t.Fatal(err)
		}
		return []string{p.path("pkg"), p.path("lib")}
	}, map[string]string{
		"api":    "added: lib/db/db.go lib/db/db_test.go lib/db/notes.md; removed: pkg/db/db.go pkg/db/db_test.go pkg/db/notes.md",
		"worker": "removed: pkg/db/db.go",
	}},
	{"file replaced by a directory", func(t *testing.T, p *project) []string {
		if err := os.Remove(p.path("README.md")); err != nil {
			t.Fatal(err)
		}
		return []string{p.write(t, "README.md/index.md", "hi\n")}
	}, map[string]string{"api": "added: README.md/index.md; removed: README.md"}},
	{"directory replaced by a file", func(t *testing.T, p *project) []string {
		if err := os.RemoveAll(p.path("cmd/worker")); err != nil {
			t.Fatal(err)
		}
		return []string{p.write(t, "cmd/worker", "now a file")}
	}, map[string]string{
		"api":    "added: cmd/worker; removed: cmd/worker/main.go",
		"worker": "added: cmd/worker; removed: cmd/worker/main.go",
	}},
	{"symlink retargeted", func(t *testing.T, p *project) []string {
		f := p.path("pkglink")
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p.path("cmd"), f); err != nil {
			t.Fatal(err)
		}
		return []string{f}
	}, map[string]string{"api": "changed: pkglink"}},
	{"a service's root appears", func(t *testing.T, p *project) []string {
		return []string{p.write(t, "later/job.sh", "echo\n")}
	}, map[string]string{"later": "added: later/job.sh"}}, // not api's: a deeper Petsfile's area
	{"empty directory added", func(t *testing.T, p *project) []string {
		d := p.path("empty")
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return []string{d}
	}, nil},
}

// TestDiff makes each change to a fresh project and checks every service's
// drift, and that Update with the paths a watcher reports leaves each
// manifest equal to a new Walk.
func TestDiff(t *testing.T) {
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t)
			before := p.walk(t)
			for _, m := range before {
				if d, err := Diff(m); err != nil || !d.Empty() {
					t.Fatalf("%s drifts before any change: %v, %v", m.Spec.Key, p.drift(d), err)
				}
			}
			paths := tc.do(t, p)
			after := p.walk(t)
			for k, m := range before {
				d, err := Diff(m)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.drift(d); got != tc.want[k.Name] {
					t.Errorf("%s drift:\n got %q\nwant %q", k.Name, got, tc.want[k.Name])
				}
				if d.Empty() != (tc.want[k.Name] == "") {
					t.Errorf("%s: Empty() = %v", k.Name, d.Empty())
				}
				if err := m.Update(paths); err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(asMap(&m.Files), asMap(&after[k].Files)) {
					t.Errorf("%s: Update(%s) differs from a new Walk: %s", k.Name, p.rels(paths), p.drift(compare(&after[k].Files, &m.Files)))
				}
			}
		})
	}
}

func TestDriftFiles(t *testing.T) {
	d := Drift{Changed: []string{"/b", "/d"}, Added: []string{"/a"}, Removed: []string{"/c"}}
	if got := strings.Join(d.Files(), " "); got != "/a /b /c /d" {
		t.Errorf("Files() = %s", got)
	}
	if d.Empty() || !(Drift{}).Empty() {
		t.Error("Empty is wrong")
	}
}

// TestUpdateRandom makes random edits (files, directories, ignore files),
// updates the manifests with the paths touched, and checks them against a
// new walk after every step.
func TestUpdateRandom(t *testing.T) {
	p := newProject(t)
	ms := p.walk(t)
	rng := rand.New(rand.NewSource(1))
	dirs := []string{"", "pkg/db", "pkg/api", "cmd/worker", "build", "web/src", "web/dist", "other/tmp", "x/y/z"}
	names := []string{"a.go", "b_test.go", "c.md", ".c.md.swp", "node_modules", ".gitignore", ".petsignore"}
	for step := 0; step < 300; step++ {
		d := dirs[rng.Intn(len(dirs))]
		rel := strings.TrimPrefix(d+"/"+names[rng.Intn(len(names))], "/")
		f := p.path(rel)
		var touched []string
		switch op := rng.Intn(10); {
		case op < 4:
			content := strings.Repeat("x", rng.Intn(5))
			if strings.HasSuffix(rel, "ignore") {
				content = []string{"", "*.md\n", "src/\n", "!c.md\n*\n"}[rng.Intn(4)]
			}
			os.MkdirAll(filepath.Dir(f), 0o755)
			os.RemoveAll(f)
			if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			touched = []string{f}
		case op < 6:
			os.RemoveAll(f)
			touched = []string{f}
		case op < 7:
			os.RemoveAll(f)
			os.MkdirAll(filepath.Join(f, "sub"), 0o755)
			os.WriteFile(filepath.Join(f, "sub", "inner.go"), []byte("x"), 0o644)
			touched = []string{f}
		case op < 8:
			dir := p.path(d)
			os.RemoveAll(dir)
			touched = []string{dir}
		case op < 9:
			to := p.path(dirs[rng.Intn(len(dirs))] + "-moved")
			os.RemoveAll(to)
			touched = []string{to}
			if os.Rename(p.path(d), to) == nil {
				touched = append(touched, p.path(d))
			}
		default:
			when := time.Unix(int64(rng.Intn(1e9)), 0)
			if os.Chtimes(f, when, when) == nil {
				touched = []string{f}
			}
		}
		now := p.walk(t)
		for _, s := range p.specs {
			if want := oracle(t, s); !maps.Equal(asMap(&now[s.Key].Files), want) {
				t.Fatalf("step %d: %s: Walk differs from the definition: %s", step, s.Key.Name, p.drift(compare(filesOf(want), &now[s.Key].Files)))
			}
		}
		for k, m := range ms {
			if err := m.Update(touched); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(asMap(&m.Files), asMap(&now[k].Files)) {
				t.Fatalf("step %d: %s: Update(%s) differs from a new Walk: %s", step, k.Name, p.rels(touched), p.drift(compare(&now[k].Files, &m.Files)))
			}
		}
	}
}

func TestSaveLoad(t *testing.T) {
	p := newProject(t)
	ms := p.walk(t)
	stateDir := t.TempDir()
	for k, m := range ms {
		rel, err := m.Save(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if want := "fresh/" + k.String() + ".manifest"; rel != want {
			t.Errorf("Save = %s, want %s", rel, want)
		}
		got, err := Load(stateDir, rel)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(asMap(&got.Files), asMap(&m.Files)) || !got.Taken.Equal(m.Taken) || fmt.Sprint(got.Spec) != fmt.Sprint(m.Spec) {
			t.Errorf("%s: loaded %v, saved %v", k, got, m)
		}
		if d, err := Diff(got); err != nil || !d.Empty() {
			t.Errorf("%s: loaded manifest drifts: %s, %v", k, p.drift(d), err)
		}
	}
	// A loaded manifest decides paths as the walked one did.
	m, err := Load(stateDir, Rel(key("api")))
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{p.write(t, "pkg/db/db.go", "package db // edited\n"), p.write(t, "build/x", "ignored")}
	if err := m.Update(paths); err != nil {
		t.Fatal(err)
	}
	if now := p.walk(t)[key("api")]; !maps.Equal(asMap(&m.Files), asMap(&now.Files)) {
		t.Errorf("Update of a loaded manifest differs from a new Walk: %s", p.drift(compare(&now.Files, &m.Files)))
	}
	if entries, _ := os.ReadDir(filepath.Join(stateDir, Dir)); len(entries) != len(ms) {
		t.Errorf("%d files in the manifest directory, want %d (no temporary files left)", len(entries), len(ms))
	}
}

func TestLoadRejects(t *testing.T) {
	p := newProject(t)
	stateDir := t.TempDir()
	rel, err := p.walk(t)[key("api")].Save(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(stateDir, filepath.FromSlash(rel))
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not a manifest", []byte(`{"json": true}`)},
		{"truncated", good[:len(good)/2]},
		{"a byte flipped", func() []byte { b := slices.Clone(good); b[len(b)/2] ^= 1; return b }()},
	} {
		if err := os.WriteFile(file, tc.b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(stateDir, rel); err == nil {
			t.Errorf("%s: Load succeeded", tc.name)
		}
	}
	if _, err := Load(stateDir, "../elsewhere.manifest"); err == nil {
		t.Error("Load read outside the state directory")
	}
	if _, err := Load(stateDir, "fresh/missing.manifest"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing manifest: %v, want fs.ErrNotExist", err)
	}
}

func TestConfigDrift(t *testing.T) {
	p := newProject(t)
	same := p.path("Petsfile")
	edited := p.write(t, "lib.star", "x = 1\n")
	gone := p.write(t, "old.star", "y = 1\n")
	config := map[string]string{
		same:   strings.ToUpper(sha256hex(t, same)), // hex in either case
		edited: sha256hex(t, edited),
		gone:   sha256hex(t, gone),
	}
	if got, err := ConfigDrift(config); err != nil || len(got) != 0 {
		t.Fatalf("ConfigDrift before any change = %v, %v", got, err)
	}
	p.write(t, "lib.star", "x = 2\n") // same size, other content
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	got, err := ConfigDrift(config)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.rels(got); s != "lib.star old.star" {
		t.Errorf("ConfigDrift = %s, want lib.star old.star", s)
	}
}

func sha256hex(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestCheck follows `pets list` without a watching pets: a stamp's config
// hashes and saved manifest against the disk.
func TestCheck(t *testing.T) {
	if _, err := Check(t.TempDir(), nil); !errors.Is(err, ErrNoStamp) {
		t.Errorf("Check(nil) = %v, want ErrNoStamp", err)
	}
	p := newProject(t)
	stateDir := t.TempDir()
	rel, err := p.walk(t)[key("api")].Save(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	st := &state.Stamp{Taken: time.Now(), Manifest: rel, Config: map[string]string{p.path("Petsfile"): sha256hex(t, p.path("Petsfile"))}}
	if got, err := Check(stateDir, st); err != nil || len(got) != 0 {
		t.Fatalf("Check before any change = %v, %v", got, err)
	}
	p.write(t, "Petsfile", "register(..., changed)")
	p.write(t, "main.go", "package main // edited\n")
	p.write(t, "build/ignored", "x")
	got, err := Check(stateDir, st)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.rels(got); s != "Petsfile main.go" {
		t.Errorf("Check = %s, want Petsfile main.go", s)
	}
	if err := os.Remove(filepath.Join(stateDir, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(stateDir, st); err == nil {
		t.Error("Check without the manifest file succeeded")
	}
}

func TestJudge(t *testing.T) {
	ctx := context.Background()
	p := newProject(t)
	stateDir := t.TempDir()
	rel, err := p.walk(t)[key("api")].Save(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	pods := func(unseeded ...string) PodCheck {
		return func(_ context.Context, holding []string) ([]string, error) {
			asked++
			if fmt.Sprint(holding) != "[rule pod-1]" {
				t.Errorf("asked about %v", holding)
			}
			return unseeded, nil
		}
	}
	rec := &state.Service{Name: "api", Tier: "local"}
	if v, err := Judge(ctx, stateDir, rec, pods()); err != nil || v.Freshness != events.Unknown || asked != 0 {
		t.Errorf("no stamp: %+v %v (pods asked %d times)", v, err, asked)
	}
	rec.Fresh = &state.Stamp{Manifest: rel, Config: map[string]string{p.path("Petsfile"): sha256hex(t, p.path("Petsfile"))}}
	if v, err := Judge(ctx, stateDir, rec, pods()); err != nil || v.Freshness != events.Fresh || asked != 0 {
		t.Errorf("a stamp and no pods: %+v %v (pods asked %d times)", v, err, asked)
	}
	rec.Fresh.Pods = []string{"rule", "pod-1"}
	if v, err := Judge(ctx, stateDir, rec, pods()); err != nil || v.Freshness != events.Fresh || asked != 1 {
		t.Errorf("pods that hold the files: %+v %v", v, err)
	}
	if v, err := Judge(ctx, stateDir, rec, pods("ns/pod-2")); err != nil || v.Freshness != events.Stale || fmt.Sprint(v.Pods) != "[ns/pod-2]" {
		t.Errorf("a replaced pod: %+v %v", v, err)
	}
	p.write(t, "main.go", "package main // edited\n")
	if v, err := Judge(ctx, stateDir, rec, pods()); err != nil || v.Freshness != events.Stale || p.rels(v.Files) != "main.go" {
		t.Errorf("an edited file: %+v %v", v, err)
	}
}

// TestWalkSinceMarksLaterChanges: a walk done after the steps that start
// from it records a file changed since then (its ctime) as unsure, so that
// it reads as changed until a step reads it again; nothing else.
func TestWalkSinceMarksLaterChanges(t *testing.T) {
	p := newProject(t)
	ctime := func(path string) int64 {
		t.Helper()
		_, c, err := lstatIn(nil, filepath.Dir(path), filepath.Base(path))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var last int64
	if err := filepath.WalkDir(p.root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			last = max(last, ctime(path))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	since := time.Unix(0, last+1)
	// An edit after since: the clock that stamps ctime ticks coarsely, so
	// edit until it has ticked.
	edited := p.path("main.go")
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ctime(edited) < since.UnixNano(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("main.go's ctime never passed the tree's")
		}
		p.write(t, "main.go", fmt.Sprintf("package main // %d\n", i))
	}
	ms, err := walkSince(p.specs, since)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.specs {
		want := []string{}
		if s.Key == key("api") { // the one that owns main.go
			want = []string{edited}
		}
		if got := diffFiles(t, ms[s.Key]); !slices.Equal(got, want) {
			t.Errorf("%s: changed %q, want %q", s.Key, got, want)
		}
		if !ms[s.Key].Taken.Equal(since) {
			t.Errorf("%s: taken %v, want %v", s.Key, ms[s.Key].Taken, since)
		}
	}
	// A step that reads it again makes it sure.
	if err := ms[key("api")].Update([]string{edited}); err != nil {
		t.Fatal(err)
	}
	if got := diffFiles(t, ms[key("api")]); len(got) != 0 {
		t.Errorf("after Update: changed %q, want none", got)
	}
	// A plain Walk of the same tree vouches for every file.
	all, err := Walk(p.specs)
	if err != nil {
		t.Fatal(err)
	}
	if got := diffFiles(t, all[key("api")]); len(got) != 0 {
		t.Errorf("Walk: changed %q, want none", got)
	}
}

func diffFiles(t *testing.T, m *Manifest) []string {
	t.Helper()
	d, err := Diff(m)
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{}, d.Files()...)
}
