package petsfile_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

const fingerprintBase = `
def api_local(db):
  run("migrate")
  s = start("api", env={"A": "1"})
  return service(s, "localhost", 8080)

register("db", "local", lambda: None)
register("api", "local", api_local, deps=["db"], build="make api", build_outputs=["bin/**"], env_files=["api.env"])
`

// fingerprint loads petsfile (with api.env and other.env beside it) and
// returns api-local's fingerprint.
func fingerprint(t *testing.T, dir, petsfileSrc, envSrc string) string {
	t.Helper()
	for name, body := range map[string]string{"Petsfile": petsfileSrc, "api.env": envSrc, "other.env": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	p, err := petsfile.Load(ctx, filepath.Join(dir, "Petsfile"), petsfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Resolve([]string{"api"}, "local", nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Fingerprints(ctx, g)[petsfile.Key{Name: "api", Tier: "local"}]
}

// A change to anything that says how a service runs changes its
// fingerprint (a watching pets restarts it on reload); an edit that says
// the same, or only changes an env file's content (the engine restarts for
// that), does not.
func TestFingerprintChanges(t *testing.T) {
	dir := t.TempDir()
	base := fingerprint(t, dir, fingerprintBase, "X=1\n")
	if base == "" {
		t.Fatal("no fingerprint for api-local")
	}
	for _, tc := range []struct {
		name     string
		old, new string // replaced in fingerprintBase ("" for env file content: new is api.env)
		changed  bool
	}{
		{"start env= value", `env={"A": "1"}`, `env={"A": "2"}`, true},
		{"start env= added name", `env={"A": "1"}`, `env={"A": "1", "B": ""}`, true},
		{"run env=", `run("migrate")`, `run("migrate", env={"A": "1"})`, true},
		{"build", `build="make api"`, `build="make api2"`, true},
		{"build_outputs", `build_outputs=["bin/**"]`, `build_outputs=["out/**"]`, true},
		{"restart_policy", `env_files=`, `restart_policy="no", env_files=`, true},
		{"env_files", `env_files=["api.env"]`, `env_files=["api.env", "other.env"]`, true},
		{"http readiness", `"localhost", 8080)`, `"localhost", 8080, http="/healthz")`, true},
		{"cmd readiness", `"localhost", 8080)`, `"localhost", 8080, cmd="probe")`, true},
		{"log readiness", `"localhost", 8080)`, `"localhost", 8080, log="ready")`, true},
		{"a worker instead of a service", `return service(s, "localhost", 8080)`, `return s`, true},

		{"a comment", `run("migrate")`, `run("migrate")  # first`, false},
		{"the default restart_policy said", `env_files=`, `restart_policy="on-failure", env_files=`, false},
		{"the env file's content", "", "X=2\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, env := fingerprintBase, "X=1\n"
			if tc.old == "" {
				env = tc.new
			} else {
				if !strings.Contains(src, tc.old) {
					t.Fatalf("%q is not in the base Petsfile", tc.old)
				}
				src = strings.Replace(src, tc.old, tc.new, 1)
			}
			got := fingerprint(t, dir, src, env)
			if changed := got != base; changed != tc.changed {
				t.Errorf("changed = %v, want %v\n--- base ---\n%s\n--- now ---\n%s", changed, tc.changed, base, got)
			}
		})
	}
}

// A Petsfile that uses none of the new arguments keeps the fingerprint it
// had: services running when pets is upgraded are not all "redefined".
func TestFingerprintOfAPlainServiceIsUnchanged(t *testing.T) {
	dir := t.TempDir()
	got := fingerprint(t, dir, `
def api_local(db):
  run("migrate")
  return service(start("api"), "localhost", 8080, timeout=3)
register("db", "local", lambda: None)
register("api", "local", api_local, deps=["db"], watch=["src/**"])
`, "")
	want := strings.ReplaceAll(`run "migrate" in DIR
start "api" in DIR
ready server 1 at localhost:8080 within 3s
deps=[db-local] watch=[src/**] ignore=[] sync=[] dir=DIR`, "DIR", dir)
	if got != want {
		t.Errorf("fingerprint:\n%s\nwant (as before env=, build=, restart_policy=, env_files= and readiness kinds):\n%s", got, want)
	}
}
