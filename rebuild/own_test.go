package rebuild

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

func key(n string) petsfile.Key { return petsfile.Key{Name: n, Tier: "local"} }

// A repo with a root Petsfile (api, worker; worker watches only its globs), a
// nested web/Petsfile (web, ignoring node_modules) and a tools/Petsfile whose
// service watches a narrow glob.
var repoOwners = []Owner{
	{Key: key("api"), Dir: "/r"},
	{Key: key("worker"), Dir: "/r", Watch: []string{"/r/cmd/worker/**", "/r/pkg/**/*.go"}, Ignore: []string{"/r/pkg/**/*_test.go"}},
	{Key: key("web"), Dir: "/r/web", Ignore: []string{"/r/web/node_modules/**"}},
	{Key: key("lint"), Dir: "/r/tools", Watch: []string{"/r/tools/lint/*.go"}},
}

func TestOwn(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // owners, sorted, comma-separated
	}{
		{"/r/main.go", "api-local"},
		{"/r/pkg/db/db.go", "api-local,worker-local"},
		{"/r/pkg/db/db_test.go", "api-local"},
		{"/r/cmd/worker/main.go", "api-local,worker-local"},
		{"/r/cmd/worker", "api-local,worker-local"}, // a deleted directory
		{"/r/web/src/app.js", "web-local"},
		{"/r/web/node_modules/x/index.js", ""}, // ignored by web; still web's tree, so not api's
		{"/r/tools/lint/main.go", "lint-local"},
		{"/r/tools/README.md", "api-local"}, // lint watches only its glob
		{"/r/Petsfile", ""},                 // the Petsfile belongs to no service
		{"/elsewhere/x.go", ""},
		{"/rx/main.go", ""}, // a sibling sharing a prefix is not inside /r
	} {
		got := Own(repoOwners, map[string]bool{"/r/Petsfile": true}, []string{tc.path})
		var names []string
		for k := range got {
			names = append(names, k.String())
		}
		sort.Strings(names)
		if s := strings.Join(names, ","); s != tc.want {
			t.Errorf("Own(%s) = %q, want %q", tc.path, s, tc.want)
		}
	}
}

func TestRootsAndGlobalIgnores(t *testing.T) {
	if got := fmt.Sprint(Roots(repoOwners)); got != "[/r]" {
		t.Errorf("Roots = %s", got)
	}
	narrow := []Owner{
		{Key: key("a"), Dir: "/p/a", Ignore: []string{"/p/a/tmp/**"}},
		{Key: key("b"), Dir: "/p", Watch: []string{"/p/b/**/*.go", "/p/shared/*.proto"}},
		{Key: key("c"), Dir: "/q", Ignore: []string{"/q/build/**"}},
	}
	if got := fmt.Sprint(Roots(narrow)); got != "[/p/a /p/b /p/shared /q]" {
		t.Errorf("Roots = %s", got)
	}
	// a's and c's areas overlap no other service's: their ignores go to the
	// watcher. Sharing /r, the repo's services keep their ignores to themselves.
	if got := fmt.Sprint(GlobalIgnores(narrow)); got != "[/p/a/tmp/** /q/build/**]" {
		t.Errorf("GlobalIgnores = %s", got)
	}
	if got := GlobalIgnores(repoOwners); len(got) != 0 {
		t.Errorf("GlobalIgnores(repo) = %v, want none", got)
	}
}
