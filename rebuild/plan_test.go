package rebuild

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/windmilleng/pets/petsfile"
)

// render writes a plan as "kind name: reason <- after; ...", after naming
// the services whose steps come first (needs marked with !).
func render(p Plan) string {
	var parts []string
	for _, s := range p.Steps {
		line := string(s.Kind) + " " + s.Key.Name + ": " + s.Reason
		if s.Build {
			line = "build+" + line
		}
		var after []string
		for _, j := range s.After {
			a := p.Steps[j].Key.Name
			for _, n := range s.Needs {
				if n == j {
					a += "!"
				}
			}
			after = append(after, a)
		}
		if len(after) > 0 {
			line += " <- " + strings.Join(after, ",")
		}
		if len(s.Sync) > 0 {
			var files []string
			for _, rf := range s.Sync {
				files = append(files, rf.Rule.Selector+strings.Join(rf.Paths, "+"))
			}
			line += " [" + strings.Join(files, " ") + "]"
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, "; ")
}

func TestDecide(t *testing.T) {
	g := diamond() // store <- api <- web, store <- web
	tool := key("tool")
	g.Order = append(g.Order, tool)
	g.Deps[tool] = nil
	owners := []Owner{
		{Key: key("store"), Dir: "/r/store"},
		{Key: key("api"), Dir: "/r/api", Sync: []petsfile.SyncRule{
			{Selector: "app=api", Paths: []petsfile.SyncPath{{Local: "/r/api/static", Remote: "/www"}}},
			{Selector: "app=img", Paths: []petsfile.SyncPath{{Local: "/r/api/static/img", Remote: "/img"}, {Local: "/r/api/conf.yaml", Remote: "/etc/conf.yaml"}}},
		}},
		{Key: key("web"), Dir: "/r/web"},
		{Key: tool, Dir: "/r/tool"},
	}
	ks := func(names ...string) map[petsfile.Key]bool {
		m := map[petsfile.Key]bool{}
		for _, n := range names {
			m[key(n)] = true
		}
		return m
	}
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{
			name: "nothing changed: nothing to do",
			in:   Input{},
			want: "",
		},
		{
			name: "owner restarts, its dependents bounce after it, in order",
			in:   Input{Changed: map[petsfile.Key][]string{key("store"): {"/r/store/db.go"}}},
			want: "restart store: db.go changed; bounce api: store-local restarted <- store!; bounce web: api-local bounced <- api!,store!",
		},
		{
			name: "a dependent that changed itself restarts once, as an owner",
			in:   Input{Changed: map[petsfile.Key][]string{key("api"): {"/r/api/a.go", "/r/api/b.go"}, key("web"): {"/r/web/w.js"}}},
			want: "restart api: a.go and b.go changed; restart web: w.js changed <- api!",
		},
		{
			name: "many files are counted",
			in:   Input{Changed: map[petsfile.Key][]string{key("tool"): {"/r/tool/c", "/r/tool/a", "/r/tool/b", "/r/tool/a"}}},
			want: "restart tool: a and 2 more files changed",
		},
		{
			name: "covered by sync rules: a sync, split per rule (a path under two rules goes to both), dependents bounced",
			in:   Input{CanSync: true, Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css", "/r/api/static/img/x.png", "/r/api/conf.yaml"}}},
			want: "sync api: conf.yaml and 2 more files changed [app=api/r/api/static/a.css+/r/api/static/img/x.png app=img/r/api/static/img/x.png+/r/api/conf.yaml]; bounce web: api-local synced <- api!",
		},
		{
			name: "a file outside the rules: a restart, saying which",
			in:   Input{CanSync: true, Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css", "/r/api/main.go"}}},
			want: "restart api: main.go changed, outside its sync rules; bounce web: api-local restarted <- api!",
		},
		{
			name: "no Syncer: covered changes restart",
			in:   Input{Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css"}}},
			want: "restart api: static/a.css changed; bounce web: api-local restarted <- api!",
		},
		{
			name: "a service that is down starts (never syncs), and its dependents bounce",
			in:   Input{CanSync: true, Down: ks("api"), Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css"}}},
			want: "start api: static/a.css changed; it was down; bounce web: api-local started <- api!",
		},
		{
			name: "a down service with no change waits",
			in:   Input{Down: ks("api")},
			want: "",
		},
		{
			name: "lost events: every service restarts once",
			in:   Input{Lost: ks("store", "api", "web", "tool")},
			want: "restart store: files may have changed (events were lost); restart api: files may have changed (events were lost) <- store!; restart web: files may have changed (events were lost) <- api!,store!; restart tool: files may have changed (events were lost)",
		},
		{
			name: "a requested restart, even with nothing changed",
			in:   Input{Restart: map[petsfile.Key]string{key("api"): "restarted by pets restart"}},
			want: "restart api: restarted by pets restart; bounce web: api-local restarted <- api!",
		},
		{
			name: "a requested restart of a down service starts it",
			in:   Input{Restart: map[petsfile.Key]string{key("tool"): "restarted by pets restart"}, Down: ks("tool")},
			want: "start tool: restarted by pets restart (it was down)",
		},
		{
			name: "redefined: restart, never a sync, even if the files are covered",
			in:   Input{CanSync: true, Redefined: ks("api"), Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css"}}},
			want: "restart api: its definition in the Petsfile changed; bounce web: api-local restarted <- api!",
		},
		{
			name: "services stopped by pets down are left alone: neither restarted nor bounced",
			in:   Input{Away: ks("api", "tool"), Changed: map[petsfile.Key][]string{key("store"): {"/r/store/s.sql"}, key("tool"): {"/r/tool/t"}}},
			want: "restart store: s.sql changed; bounce web: store-local restarted <- store!",
		},
		{
			name: "a requested restart of a service stopped by pets down starts it; its stopped dependent is left alone",
			in:   Input{Restart: map[petsfile.Key]string{key("api"): "restarted by pets restart"}, Away: ks("api", "web")},
			want: "start api: restarted by pets restart (it was down)",
		},
		{
			name: "a requested restart starts the dependencies it needs that are down or stopped, first",
			in:   Input{Restart: map[petsfile.Key]string{key("web"): "restarted by pets restart"}, Down: ks("store"), Away: ks("api", "web")},
			want: "start store: web-local needs it (it was down); start api: web-local needs it (it was down) <- store!; start web: restarted by pets restart (it was down) <- api!,store!",
		},
		{
			name: "pets up: what is not running starts; a running dependent of a started one bounces",
			in:   Input{Start: map[petsfile.Key]string{key("store"): "requested", key("tool"): "requested"}},
			want: "start store: requested; bounce api: store-local started <- store!; bounce web: api-local bounced <- api!,store!; start tool: requested",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Graph, in.Owners, in.Now = g, owners, time.Unix(1, 0)
			if got := render(Decide(in)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDecideReload(t *testing.T) {
	old := diamond()
	tool := key("tool")
	old.Order = append(old.Order, tool)
	old.Deps[tool] = nil
	// New: tool removed; api at tier k8s (a tier change: removed + added);
	// cache added, web depends on it too.
	apiK8s := petsfile.Key{Name: "api", Tier: "k8s"}
	cache := key("cache")
	g := &petsfile.Graph{
		Order: []petsfile.Key{key("store"), cache, apiK8s, key("web")},
		Deps: map[petsfile.Key][]petsfile.Key{
			key("store"): nil, cache: nil, apiK8s: {key("store")}, key("web"): {apiK8s, key("store"), cache},
		},
	}
	in := Input{
		Graph: g, Old: old, Remove: []petsfile.Key{key("api"), tool},
		Start:     map[petsfile.Key]string{cache: "added to the Petsfile", apiK8s: "added to the Petsfile"},
		Redefined: map[petsfile.Key]bool{key("web"): true},
		Changed:   map[petsfile.Key][]string{key("store"): {"/r/store/s.sql"}},
		Owners:    []Owner{{Key: key("store"), Dir: "/r/store"}},
	}
	// Stops first, dependents before what they depend on; every other step
	// after the stops (api's new tier after its old one), not needing them.
	want := "stop tool: removed from the Petsfile; stop api: removed from the Petsfile; " +
		"restart store: s.sql changed <- tool,api; start cache: added to the Petsfile <- tool,api; " +
		"start api: added to the Petsfile <- store!,tool,api; restart web: its definition in the Petsfile changed <- api!,store!,cache!,tool,api"
	if got := render(Decide(in)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDecideStopsDependentsFirst(t *testing.T) {
	// pets down, a rollback: stop what depends on a service before it.
	g := diamond()
	got := render(Decide(Input{Old: g, Remove: []petsfile.Key{key("store"), key("web"), key("api")}}))
	want := "stop web: removed from the Petsfile; stop api: removed from the Petsfile <- web; stop store: removed from the Petsfile <- api,web"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCover(t *testing.T) {
	rules := []petsfile.SyncRule{
		{Selector: "a", Paths: []petsfile.SyncPath{{Local: "/r/static", Remote: "/www"}}},
		{Selector: "b", Paths: []petsfile.SyncPath{{Local: "/r/conf.yaml", Remote: "/etc/conf.yaml"}}},
	}
	split, outside := Cover(rules, []string{"/r/static/x/y.css", "/r/static", "/r/staticx/z", "/r/conf.yaml", "/r/conf.yaml.bak", "/r/static/../main.go"})
	if got := strings.Join(split[0].Paths, " "); got != "/r/static/x/y.css /r/static" {
		t.Errorf("rule a covers %s", got)
	}
	if got := strings.Join(split[1].Paths, " "); got != "/r/conf.yaml" {
		t.Errorf("rule b covers %s", got)
	}
	if got := strings.Join(outside, " "); got != "/r/staticx/z /r/conf.yaml.bak /r/static/../main.go" {
		t.Errorf("outside %s", got)
	}
}

// Moved from petsfile's TestSyncRuleCoversAndTriggers: which of a rule's
// paths covers a file, and where in the container the file goes.
func TestRuleTarget(t *testing.T) {
	r := petsfile.SyncRule{Paths: []petsfile.SyncPath{{Local: "/p/static", Remote: "/www"}, {Local: "/p/conf/app.conf", Remote: "/etc/app.conf"}}}
	for _, tc := range []struct{ path, want string }{
		{"/p/static/css/a.css", "/www/css/a.css"},
		{"/p/static", "/www"},
		{"/p/conf/app.conf", "/etc/app.conf"},
		{"/p/conf/other.conf", ""},
		{"/p/staticx/a", ""},
		{"/p/main.go", ""},
	} {
		got := ""
		if sp, ok := RuleTarget(r, tc.path); ok {
			rel, err := filepath.Rel(sp.Local, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got = path.Join(sp.Remote, filepath.ToSlash(rel))
		}
		if got != tc.want {
			t.Errorf("RuleTarget(%s) = %q, want %q", tc.path, got, tc.want)
		}
		if RuleCovers(r, tc.path) != (tc.want != "") {
			t.Errorf("RuleCovers(%s) = %v", tc.path, !(tc.want != ""))
		}
	}
}

func TestBackoffSequence(t *testing.T) {
	var got []string
	for a := 0; a < 9; a++ {
		got = append(got, Backoff(a).String())
	}
	if fmt.Sprint(got) != "[500ms 1s 2s 4s 8s 16s 30s 30s 30s]" {
		t.Errorf("backoffs %v", got)
	}
}

// A crashed service restarts once its backoff has passed, on the clock the
// planner is given; a change to its files restarts it at once; restart
// policy "no" leaves it down.
func TestDecideCrashBackoff(t *testing.T) {
	g := diamond() // store <- api <- web, store <- web
	crash := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	owners := []Owner{{Key: key("store"), Dir: "/r/store"}, {Key: key("api"), Dir: "/r/api"}, {Key: key("web"), Dir: "/r/web", RestartPolicy: petsfile.RestartNo}}
	for _, tc := range []struct {
		name    string
		attempt int
		after   time.Duration
		changed []string
		want    string
	}{
		{"the first crash: held half a second", 0, 499 * time.Millisecond, nil, "hold api until +500ms: crashed (exit status 3); restarts in 500ms"},
		{"then restarted, dependents bounced", 0, 500 * time.Millisecond, nil, "start api: crashed (exit status 3); restarted after 500ms; bounce web: api-local started <- api!"},
		{"the fourth in a row: 4s", 3, 3999 * time.Millisecond, nil, "hold api until +4s: crashed (exit status 3) 4 times in a row; restarts in 4s"},
		{"at most 30s", 12, 30 * time.Second, nil, "start api: crashed (exit status 3) 13 times in a row; restarted after 30s; bounce web: api-local started <- api!"},
		{"a change to its files skips the backoff", 3, time.Millisecond, []string{"/r/api/fix.go"}, "start api: fix.go changed; it was down; bounce web: api-local started <- api!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Graph: g, Owners: owners, Now: crash.Add(tc.after),
				Down:    map[petsfile.Key]bool{key("api"): true},
				Crashed: map[petsfile.Key]Crash{key("api"): {At: crash, Attempt: tc.attempt, Exit: "exit status 3"}},
				Changed: map[petsfile.Key][]string{}}
			if tc.changed != nil {
				in.Changed[key("api")] = tc.changed
			}
			p := Decide(in)
			got := render(p)
			for _, h := range p.Holds {
				got += fmt.Sprintf("hold %s until +%s: %s", h.Key.Name, h.Until.Sub(crash), h.Reason)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	// Restart policy "no": neither held nor restarted.
	p := Decide(Input{Graph: g, Owners: owners, Now: crash.Add(time.Hour), Down: map[petsfile.Key]bool{key("web"): true},
		Crashed: map[petsfile.Key]Crash{key("web"): {At: crash}}})
	if len(p.Steps)+len(p.Holds) != 0 {
		t.Errorf("restart_policy no: %s %v", render(p), p.Holds)
	}
}

// A service with a build step builds before its start or restart (not
// before a bounce); with sync rules, a change outside them is the build's
// input: build, then sync (never a redeploy).
func TestDecideBuild(t *testing.T) {
	g := diamond()
	rule := petsfile.SyncRule{Selector: "app=api", Paths: []petsfile.SyncPath{{Local: "/r/api/static", Remote: "/www"}, {Local: "/r/api/bin", Remote: "/app/bin"}}}
	owners := []Owner{{Key: key("store"), Dir: "/r/store", Build: "make"}, {Key: key("api"), Dir: "/r/api", Build: "go build -o bin/api .", BuildOutputs: []string{"/r/api/bin/**"}, Sync: []petsfile.SyncRule{rule}}, {Key: key("web"), Dir: "/r/web"}}
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{"a restart builds first; the bounce does not",
			Input{Changed: map[petsfile.Key][]string{key("store"): {"/r/store/s.c"}}},
			"build+restart store: s.c changed; bounce api: store-local restarted <- store!; bounce web: api-local bounced <- api!,store!"},
		{"pets up: a start builds first",
			Input{Start: map[petsfile.Key]string{key("store"): "requested"}},
			"build+start store: requested; bounce api: store-local started <- store!; bounce web: api-local bounced <- api!,store!"},
		{"with sync rules: a source change is the build's input: build, then sync",
			Input{CanSync: true, Changed: map[petsfile.Key][]string{key("api"): {"/r/api/main.go", "/r/api/static/a.css"}}},
			"build+sync api: main.go and static/a.css changed; build, then sync [app=api/r/api/static/a.css]; bounce web: api-local synced <- api!"},
		{"what the rules cover alone: a sync, no build",
			Input{CanSync: true, Changed: map[petsfile.Key][]string{key("api"): {"/r/api/static/a.css"}}},
			"sync api: static/a.css changed [app=api/r/api/static/a.css]; bounce web: api-local synced <- api!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Graph, in.Owners = g, owners
			if got := render(Decide(in)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	// The build's outputs belong to no service.
	if got := Own(owners, nil, []string{"/r/api/bin/api", "/r/api/main.go"}); fmt.Sprint(got) != "map[api-local:[/r/api/main.go]]" {
		t.Errorf("Own = %v", got)
	}
}
