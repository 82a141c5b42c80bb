package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/<type>.json from the events built here")

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.UTC)

// representative is one event of each type, with the fields its doc comment
// says it carries.
func representative() map[Type]Event {
	const src = "watch 4243"
	changed := []string{"/home/ann/src/shop/api/main.go"}
	var stale Event
	var many []string
	for i := range MaxFiles + 3 {
		many = append(many, fmt.Sprintf("/home/ann/src/shop/api/handlers/h%02d.go", i))
	}
	stale.SetFiles(many)
	planned := []Step{
		{Kind: StepRestart, Service: "api-local", Reason: "api/main.go changed"},
		{Kind: StepBounce, Service: "web-local", Reason: "api-local restarted", After: []string{"api-local"}},
	}
	finished := []Step{
		{Kind: StepRestart, Service: "api-local", Reason: "api/main.go changed", Result: ResultOK, TookMs: 812.5},
		{Kind: StepBounce, Service: "web-local", Reason: "api-local restarted", After: []string{"api-local"}, Result: ResultFailed, TookMs: 30001.25,
			Error: "not ready after 30s: localhost:8081 refuses connections"},
		{Kind: StepSync, Service: "css-k8s", Reason: "api-local restarted", After: []string{"web-local"}, Result: ResultSkipped, Skipped: "web-local failed"},
	}
	return map[Type]Event{
		ServiceStarting: {Type: ServiceStarting, Source: src, Service: "api-local", State: Starting, Reason: "api/main.go changed", Round: 5},
		ServiceReady:    {Type: ServiceReady, Source: src, Service: "api-local", State: Ready, TookMs: 812.5, Host: "localhost:8080", PID: 4301, Round: 5},
		ServiceFailed: {Type: ServiceFailed, Source: src, Service: "web-local", State: Failed, TookMs: 30001.25, Round: 5,
			Error: "not ready after 30s: localhost:8081 refuses connections\nlast lines of its log:\npanic: listen tcp :8081: bind: address already in use"},
		ServiceCrashed: {Type: ServiceCrashed, Source: src, Service: "api-local", State: Crashed, Exit: "exit status 2", Reason: "it restarts by itself (restart policy on-failure)"},
		ServiceStopped: {Type: ServiceStopped, Source: "watch 4243", Service: "web-local", State: Stopped, Reason: "removed from the Petsfile", Round: 8},
		ServiceReused:  {Type: ServiceReused, Source: "up 4242", Service: "db-local", State: Ready, Host: "localhost:5432", PID: 4120},
		ServiceBackoff: {Type: ServiceBackoff, Source: src, Service: "worker-local", State: Backoff, Exit: "exit status 3", DelayMs: 2000,
			Reason: "crashed (exit status 3) 3 times in a row; restarts in 2s"},
		ServiceBuilding: {Type: ServiceBuilding, Source: src, Service: "api-local", State: Building, Round: 6, Reason: "api/main.go changed"},
		BuildFailed: {Type: BuildFailed, Source: src, Service: "api-local", Round: 6, TookMs: 812.4,
			Error: "build \"go build -o bin/api ./cmd/api\" failed (exit status 1); still running the previous version:\n./main.go:12:2: undefined: x"},
		ServiceStale: {Type: ServiceStale, Source: src, Service: "api-local", Freshness: Stale, Files: stale.Files, MoreFiles: stale.MoreFiles},
		ServiceFresh: {Type: ServiceFresh, Source: src, Service: "api-local", Freshness: Fresh},
		SyncDone: {Type: SyncDone, Source: src, Service: "css-k8s", TookMs: 143.2, Round: 6, Reason: "css/app.css changed",
			Sync: &SyncInfo{Files: 2, Deleted: 1, Pods: []string{"default/css-7d9f8c6b5-x2x4k"}, Ran: []string{"npm run build:css"}}},
		SyncFailed: {Type: SyncFailed, Source: src, Service: "css-k8s", Round: 6,
			Error: "sync into default/css-7d9f8c6b5-x2x4k: the container has no tar: add tar to its image, or drop the sync rule to restart instead"},
		RoundPlanned:     {Type: RoundPlanned, Source: src, Round: 5, Files: changed, Steps: planned, Reason: "files changed"},
		RoundFinished:    {Type: RoundFinished, Source: src, Round: 5, Files: changed, Steps: finished, TookMs: 30813.75, Reason: "files changed"},
		RoundInterrupted: {Type: RoundInterrupted, Source: src, Round: 5, GraceMs: 10000, Reason: "pets is stopping; the step in progress may finish"},
		ReloadApplied: {Type: ReloadApplied, Source: src, Files: []string{"/home/ann/src/shop/Petsfile"}, TookMs: 1534.7, Round: 7,
			Reload: &ReloadInfo{Added: []string{"worker-local"}, Changed: []string{"api-local"}, Unchanged: []string{"db-local", "web-local"}}},
		ReloadRefused: {Type: ReloadRefused, Source: src, Files: []string{"/home/ann/src/shop/Petsfile"},
			Error: "/home/ann/src/shop/Petsfile:12:8: undefined: sevice (did you mean service?)\nthe previous configuration keeps running; fix the Petsfile and save it again"},
		WatchStarted:  {Type: WatchStarted, Source: src, Services: []string{"api-local", "db-local", "web-local"}, Roots: []string{"/home/ann/src/shop"}, PID: 4243},
		WatchStopped:  {Type: WatchStopped, Source: src, PID: 4243, Reason: "Ctrl-C"},
		WatchOverflow: {Type: WatchOverflow, Source: src},
		WatchError: {Type: WatchError, Source: src, Limit: true,
			Error: "out of inotify watches (fs.inotify.max_user_watches is 8192): pets stops watching; raise it with sudo sysctl fs.inotify.max_user_watches=524288"},
	}
}

func goldenPath(t Type) string { return filepath.Join("testdata", string(t)+".json") }

func line(t *testing.T, e Event) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Each type's JSON line is what its golden file holds.
func TestGolden(t *testing.T) {
	for typ, e := range representative() {
		t.Run(string(typ), func(t *testing.T) {
			e.V, e.Time = Version, t0
			got := line(t, e)
			if *update {
				if err := os.WriteFile(goldenPath(typ), got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath(typ))
			if err != nil {
				t.Fatalf("%v (go test ./events -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("JSON of %s changed (go test ./events -update if that is meant):\ngot  %s\nwant %s", typ, got, want)
			}
		})
	}
}

// Every type has a representative event and a golden file, and every golden
// file is a type's; each golden decodes to its event and encodes back to
// itself, byte for byte.
func TestGoldenCoversEveryType(t *testing.T) {
	rep := representative()
	for _, typ := range Types {
		e, ok := rep[typ]
		if !ok {
			t.Errorf("no representative event of %s", typ)
			continue
		}
		if e.Type != typ {
			t.Errorf("the representative of %s is a %s", typ, e.Type)
		}
		want, err := os.ReadFile(goldenPath(typ))
		if err != nil {
			t.Errorf("%v (go test ./events -update writes it)", err)
			continue
		}
		var got Event
		if err := json.Unmarshal(want, &got); err != nil {
			t.Errorf("%s: %v", goldenPath(typ), err)
			continue
		}
		e.V, e.Time = Version, t0
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s decodes to\n%+v\nwant\n%+v", goldenPath(typ), got, e)
		}
		if again := line(t, got); !bytes.Equal(again, want) {
			t.Errorf("%s does not round-trip:\ngot  %s\nwant %s", goldenPath(typ), again, want)
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if typ := Type(strings.TrimSuffix(filepath.Base(f), ".json")); !slices.Contains(Types, typ) {
			t.Errorf("%s is not the golden file of any type in Types", f)
		}
	}
	if len(rep) != len(Types) {
		t.Errorf("%d representative events for %d types", len(rep), len(Types))
	}
}

// fieldRef finds the Go names of Event's fields (and "State (x)") in a doc
// comment.
var (
	wordRe  = regexp.MustCompile(`[A-Za-z]+`)
	valueRe = regexp.MustCompile(`\b(State|Freshness) \((\w+)\)`)
)

// The fields each type's doc comment names are the fields its golden sets
// (MoreFiles only when there are more than MaxFiles files), State and
// Freshness hold the value the comment gives, and steps carry results only
// in RoundFinished.
func TestDocCommentsMatchGoldens(t *testing.T) {
	docs := typeDocs(t)
	jsonName := map[string]string{} // Go field name -> JSON key
	et := reflect.TypeFor[Event]()
	for i := range et.NumField() {
		f := et.Field(i)
		switch f.Name {
		case "V", "Time", "Type", "Source": // every event's
			continue
		}
		jsonName[f.Name] = strings.Split(f.Tag.Get("json"), ",")[0]
	}
	for _, typ := range Types {
		doc, ok := docs[typ]
		if !ok {
			t.Errorf("%s: no doc comment", typ)
			continue
		}
		b, err := os.ReadFile(goldenPath(typ))
		if err != nil {
			t.Error(err)
			continue
		}
		var set map[string]json.RawMessage
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, w := range wordRe.FindAllString(doc, -1) {
			if k, ok := jsonName[w]; ok {
				documented[k] = true
			}
		}
		var missing, undocumented []string
		for k := range documented {
			if _, ok := set[k]; !ok && k != "moreFiles" {
				missing = append(missing, k)
			}
		}
		for k := range set {
			switch k {
			case "v", "time", "type", "source":
			default:
				if !documented[k] {
					undocumented = append(undocumented, k)
				}
			}
		}
		sort.Strings(missing)
		sort.Strings(undocumented)
		if len(missing) > 0 {
			t.Errorf("%s: documented, not in the golden: %v", typ, missing)
		}
		if len(undocumented) > 0 {
			t.Errorf("%s: in the golden, not documented: %v", typ, undocumented)
		}
		for _, m := range valueRe.FindAllStringSubmatch(doc, -1) {
			var got string
			_ = json.Unmarshal(set[jsonName[m[1]]], &got)
			if got != m[2] {
				t.Errorf("%s: %s is %q in the golden, %q in the doc comment", typ, m[1], got, m[2])
			}
		}
	}
	rep := representative()
	for _, s := range rep[RoundPlanned].Steps {
		if s.Result != "" || s.TookMs != 0 || s.Error != "" || s.Skipped != "" {
			t.Errorf("round.planned step with a result: %+v", s)
		}
	}
	for _, s := range rep[RoundFinished].Steps {
		if s.Result == "" {
			t.Errorf("round.finished step without a result: %+v", s)
		}
	}
}

// typeDocs reads the doc comment of each Type constant from events.go.
func typeDocs(t *testing.T) map[Type]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Type]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" || vs.Doc == nil || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				continue
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			// Leave out the constant's own name ("ServiceStarting: ...").
			out[Type(v)] = strings.TrimPrefix(vs.Doc.Text(), vs.Names[0].Name+":")
		}
	}
	return out
}

// docs/events.md has a row for every type.
func TestDocsListEveryType(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range Types {
		if !bytes.Contains(b, []byte("| `"+string(typ)+"` |")) {
			t.Errorf("docs/events.md has no row for %s", typ)
		}
	}
}

func TestSetFiles(t *testing.T) {
	var few, many []string
	for i := range MaxFiles + 5 {
		many = append(many, fmt.Sprintf("/f%d", i))
	}
	few = many[:3]
	var e Event
	e.SetFiles(few)
	if len(e.Files) != 3 || e.MoreFiles != 0 {
		t.Errorf("3 files: %d listed, %d more", len(e.Files), e.MoreFiles)
	}
	e.SetFiles(many)
	if len(e.Files) != MaxFiles || e.MoreFiles != 5 || e.Files[MaxFiles-1] != many[MaxFiles-1] {
		t.Errorf("%d files: %d listed, %d more", len(many), len(e.Files), e.MoreFiles)
	}
	many[0] = "changed"
	if e.Files[0] == "changed" {
		t.Error("SetFiles keeps the caller's slice when it cuts it")
	}
}
