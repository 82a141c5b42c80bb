//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// compat2018 writes a Petsfile tree in the style of 2018 pets (DESIGN.md,
// "The 2018 rules"): bare relative loads ("services/api", "../../shared",
// "../"), a diamond (web needs api and cache, both need db), deps listed for
// start order only (providers taking fewer parameters than deps, or none),
// and a worker without a port returned straight from start().
//
//	Petsfile           web (deps api, cache; takes api), worker (deps web, db; takes none)
//	ports.star         the ports, loaded by every file as a bare relative path
//	shared/Petsfile    db
//	services/Petsfile  serve(), a helper
//	services/api/      api (deps db)
//	services/cache/    cache (deps db; takes none)
//
// The worker records what its data file said in worker.seen, and whether
// web answered when it started in worker.order.
func (e *env) compat2018() (ports map[string]int) {
	ports = map[string]int{}
	var decl []string
	for _, n := range []string{"db", "api", "cache", "web"} {
		ports[n] = freePort(e.t)
		decl = append(decl, fmt.Sprintf("%q: %d", n, ports[n]))
	}
	e.write("ports.star", "PORTS = {"+strings.Join(decl, ", ")+"}\n")
	e.write("shared/Petsfile", `
load("../ports.star", "PORTS")

def db_local():
  server = start("$PETSERVER --name db --port %d" % PORTS["db"])
  return service(server, "127.0.0.1", PORTS["db"])

register("db", "local", db_local)
`)
	e.write("services/Petsfile", `
def serve(name, port, deps=[]):
  flags = " ".join(["--dep %s=%s" % (n, d["host"]) for n, d in deps])
  return service(start("$PETSERVER --name %s --port %d %s" % (name, port, flags)), "127.0.0.1", port)
`)
	e.write("services/api/Petsfile", `
load("../", "serve")                  # services/Petsfile
load("../../shared", "db_local")      # shared/Petsfile, evaluated once
load("../../ports.star", "PORTS")

def api_local(db):
  return serve("api", PORTS["api"], [("db", db)])

register("api", "local", api_local, deps=["db"])
`)
	e.write("services/cache/Petsfile", `
load("..", "serve")
load("../../ports.star", "PORTS")

def cache_local():                    # deps=["db"]: for start order only
  return serve("cache", PORTS["cache"])

register("cache", "local", cache_local, deps=["db"])
`)
	e.write("web/index.html", "v0")
	e.write("worker/data", "v0")
	e.write("Petsfile", `
load("services/api", "api_local")
load("services/cache", "cache_local")
load("shared", "db_local")
load("ports.star", "PORTS")

def web_local(api):                   # deps=["api", "cache"]: takes api
  server = start("$PETSERVER --name web --port %d --dep api=%s" % (PORTS["web"], api["host"]))
  return service(server, "127.0.0.1", PORTS["web"])

register("web", "local", web_local, deps=["api", "cache"], watch=["web/**"])

def worker_local():                   # deps=["web", "db"]: for start order only
  return start("cat worker/data > worker.seen; " +
               "if (exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null; then echo web-up; else echo web-down; fi > worker.order; " % PORTS["web"] +
               "exec sleep 100000")     # a worker: no port, no service()

register("worker", "local", worker_local, deps=["web", "db"], watch=["worker/**"])
`)
	return ports
}

func TestCompat2018UpListDown(t *testing.T) {
	e := newEnv(t)
	ports := e.compat2018()

	r := e.mustPets("up")
	if !strings.Contains(r.stderr, "worker-local") {
		t.Errorf("pets up does not mention the worker:\n%s", r.stderr)
	}
	l := e.list()
	for _, n := range []string{"db-local", "api-local", "cache-local", "web-local", "worker-local"} {
		if l[n].Status != "ready" || l[n].PID == 0 {
			t.Errorf("%s: %+v, want ready with a pid", n, l[n])
		}
	}
	if w := l["worker-local"]; w.Host != "" || w.Port != 0 {
		t.Errorf("worker listed with an address: %+v", w)
	}
	// The pid listed for the worker is its own process.
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", l["worker-local"].PID)); !strings.HasPrefix(string(cmdline), "sleep\x00100000") {
		t.Errorf("worker pid %d runs %q, want the worker's sleep", l["worker-local"].PID, cmdline)
	}
	// Ordering-only deps: the worker started after web answered.
	if got := strings.TrimSpace(readFile(t, filepath.Join(e.dir, "worker.order"))); got != "web-up" {
		t.Errorf("worker.order = %q: the worker started before web was ready", got)
	}
	// The diamond is wired through the 2018 loads: web -> api -> db.
	if body := get(t, ports["web"]); !regexp.MustCompile(`^web \(pid \d+\); api -> \[api \(pid \d+\); db -> \[db \(pid \d+\)\]\]`).MatchString(body) {
		t.Errorf("web answers %q", body)
	}
	if out := e.mustPets("list").stdout; !regexp.MustCompile(`(?m)^worker-local\s+\S+\s+ready\b`).MatchString(out) {
		t.Errorf("pets list shows the worker with a host or port, or not ready:\n%s", out)
	}

	e.mustPets("down")
	e.nothingRunning()
}

func TestCompat2018WatchRestartsAndBouncesTheWorker(t *testing.T) {
	e := newEnv(t)
	e.compat2018()
	w := e.watch("up", "--watch")
	before := e.pids()
	if before["worker-local"] == 0 {
		t.Fatalf("no worker running: %v", e.list())
	}

	// An edit to the worker's files restarts it alone.
	e.write("worker/data", "v1")
	if m := w.waitLine(roundRE); !strings.HasSuffix(m[2], "worker/data") || !regexp.MustCompile(`^worker-local restarted in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	mid := e.pids()
	if mid["worker-local"] == before["worker-local"] {
		t.Errorf("the worker kept pid %d", mid["worker-local"])
	}
	for _, n := range []string{"db-local", "api-local", "cache-local", "web-local"} {
		if mid[n] != before[n] {
			t.Errorf("%s restarted for an edit to the worker's files", n)
		}
	}
	if got := readFile(t, filepath.Join(e.dir, "worker.seen")); got != "v1" {
		t.Errorf("the restarted worker saw %q, want v1", got)
	}
	if l := e.list()["worker-local"]; l.Status != "ready" || l.Host != "" || l.Port != 0 {
		t.Errorf("restarted worker listed as %+v", l)
	}

	// An edit to api restarts it and bounces its dependents, the worker
	// (which only waits for web) among them, in dependency order.
	e.write("services/api/handler.go", "package api // edited")
	if m := w.waitLine(roundRE); !regexp.MustCompile(`^api-local restarted in \S+, web-local bounced in \S+, worker-local bounced in \S+$`).MatchString(m[3]) {
		t.Errorf("round line: %q", m[0])
	}
	after := e.pids()
	for n, want := range map[string]bool{"api-local": true, "web-local": true, "worker-local": true, "db-local": false, "cache-local": false} {
		if changed := after[n] != mid[n]; changed != want {
			t.Errorf("%s: pid %d -> %d, want restarted=%v", n, mid[n], after[n], want)
		}
	}
	if got := strings.TrimSpace(readFile(t, filepath.Join(e.dir, "worker.order"))); got != "web-up" {
		t.Errorf("the bounced worker started before web was back: %q", got)
	}

	if code := w.stop(); code != 0 {
		t.Errorf("pets up --watch exited %d after Ctrl-C:\n%s", code, w.output())
	}
	e.nothingRunning()
}
