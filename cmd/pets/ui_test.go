//go:build linux

package main

// The status page, end to end: the real pets binary, its real page in a
// real headless Chromium (Debian's chromium package, driven with
// chromedp), and plain HTTP clients for the refusals.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "TestUIPage: write the page's screenshot to docs/ui.png")

// The test binary doubles as a service that floods its log (see flood).
func init() {
	if spec := os.Getenv("PETS_UI_TEST_FLOOD"); spec != "" {
		flood(spec)
		os.Exit(0)
	}
}

// flood writes RATE lines a second for SECONDS seconds once the file GO
// exists ("RATE,SECONDS,GO"), then "flood done N", then waits to be
// stopped.
func flood(spec string) {
	parts := strings.Split(spec, ",")
	rate, _ := strconv.Atoi(parts[0])
	secs, _ := strconv.Atoi(parts[1])
	for {
		if _, err := os.Stat(parts[2]); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	total := rate * secs
	t0 := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	for n := 0; n < total; {
		<-tick.C
		due := min(total, int(time.Since(t0).Seconds()*float64(rate)))
		for ; n < due; n++ {
			fmt.Fprintf(out, "flood %07d the quick brown fox jumps over the lazy dog\n", n)
		}
		_ = out.Flush()
	}
	fmt.Fprintf(out, "flood done %d\n", total)
	_ = out.Flush()
	select {}
}

// uiLine waits for the banner's status page line and returns its address.
func (w *watching) uiLine() string {
	w.t.Helper()
	return w.waitLine(`^Status page: (http://127\.0\.0\.1:\d+/) `)[1]
}

// uiAddress is what pets ui prints: the address with its token.
func (e *env) uiAddress(args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.mustPets(append([]string{"ui"}, args...)...).stdout)
}

// newBrowser starts a headless Chromium (the one of Debian's chromium
// package) for the test, with a fresh profile; at the end of the test it
// is stopped, and none of its processes may be left. Without chromium the
// test skips, or fails under CI=true.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		why := "chromium is not installed (apt-get install chromium; make test installs it when run as root)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	profile, err := os.MkdirTemp("", "pets-ui-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	actx, acancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(&lockedWriter{w: &out}),
		// The machine's network refuses anything but 127.0.0.1: no
		// background connections.
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancel := chromedp.NewContext(actx)
	stop := func() {
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		acancel()
		// Every process of this browser carries its profile directory.
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := chromiumProcs(profile)
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("chromium processes left after the test: %v", left)
				for _, pid := range left {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = os.RemoveAll(profile)
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		stop()
		t.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	t.Cleanup(stop)
	return ctx
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// chromiumProcs are the live processes started with the profile directory.
func chromiumProcs(profile string) []int {
	want := []byte("--user-data-dir=" + profile)
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil || !bytes.Contains(b, want) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + ent.Name() + "/stat"); err == nil {
			if i := bytes.LastIndexByte(st, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(st[i+1:]), []byte("Z")) {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// page is the status page open in a browser tab.
type page struct {
	t   *testing.T
	ctx context.Context
	w   *watching
}

func openPage(t *testing.T, ctx context.Context, w *watching, address string) *page {
	t.Helper()
	p := &page{t: t, ctx: ctx, w: w}
	if err := chromedp.Do(ctx, chromedp.Navigate(address)); err != nil {
		t.Fatalf("open %s: %v", address, err)
	}
	p.wait("the event stream to be live", `document.getElementById('conn').dataset.state === 'live'`)
	return p
}

// wait polls the JavaScript condition until it holds (30 s at most).
func (p *page) wait(what, cond string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		text, _ := evalIn[string](p.ctx, `document.body.innerText`)
		out := ""
		if p.w != nil {
			out = p.w.output()
		}
		p.t.Fatalf("page: waiting for %s (%s): %v\n--- page:\n%s\n--- pets:\n%s", what, cond, err, text, out)
	}
}

func evalIn[T any](ctx context.Context, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := evalIn[T](p.ctx, expr)
	if err != nil {
		p.t.Fatalf("page: %s: %v", expr, err)
	}
	return v
}

// row is the expression of a service's row; cell, the text of one of its cells.
func row(service string) string {
	return fmt.Sprintf(`document.querySelector('tr[data-service=%q]')`, service)
}

func cell(service, sel string) string {
	return fmt.Sprintf(`((%s || document).querySelector(%q) || {}).textContent`, row(service), sel)
}

// stateIs is the condition that service shows state (and, unless empty,
// freshness: FRESH, STALE).
func stateIs(service, state, fresh string) string {
	c := fmt.Sprintf(`%s === %q`, cell(service, ".state"), state)
	if fresh != "" {
		c += fmt.Sprintf(` && %s === %q`, cell(service, ".fresh"), fresh)
	}
	return c
}

// uiPetsfile writes the Petsfile of the page tests, each service a
// petserver watching its directory:
//
//	db       alone
//	api      depends on db
//	web      depends on api; built (holding while the file "gob" is
//	         missing), then started (holding while "go" is missing); it
//	         fails while web/data says "bad"
//	worker   depends on db; restart_policy="no": a crash stays a crash
//	cron     alone; restart_policy="on-failure": a crash backs off
func (e *env) uiPetsfile() map[string]int {
	ports := map[string]int{}
	for _, n := range []string{"db", "api", "web", "worker", "cron"} {
		ports[n] = freePort(e.t)
		e.write(n+"/keep", "")
	}
	e.write("go", "")
	e.write("gob", "")
	e.write("Petsfile", fmt.Sprintf(`
def db_local():
  return service(start("exec $PETSERVER --name db --port %[1]d"), "127.0.0.1", %[1]d)
register("db", "local", db_local, watch=["db/**"])

def api_local(db):
  return service(start("exec $PETSERVER --name api --port %[2]d --dep db=" + db["host"]), "127.0.0.1", %[2]d)
register("api", "local", api_local, deps=["db"], watch=["api/**"])

def web_local(api):
  return service(start("while [ ! -e go ]; do sleep 0.02; done; if grep -q bad web/data 2>/dev/null; then echo web cannot start: bad data; exit 4; fi; exec $PETSERVER --name web --port %[3]d --dep api=" + api["host"]), "127.0.0.1", %[3]d)
register("web", "local", web_local, deps=["api"], watch=["web/**"], build="while [ ! -e gob ]; do sleep 0.02; done")

def worker_local(db):
  return service(start("exec $PETSERVER --name worker --port %[4]d --dep db=" + db["host"]), "127.0.0.1", %[4]d)
register("worker", "local", worker_local, deps=["db"], watch=["worker/**"], restart_policy="no")

def cron_local():
  return service(start("exec $PETSERVER --name cron --port %[5]d"), "127.0.0.1", %[5]d)
register("cron", "local", cron_local, watch=["cron/**"])
`, ports["db"], ports["api"], ports["web"], ports["worker"], ports["cron"]))
	return ports
}

// TestUIPage opens the status page of a pets up --watch in a real browser
// and follows what it shows: the graph and each service's deps, tier,
// state, freshness, address and ready-in time; the states as they change
// (starting, building, failed, crashed, backoff, ready); STALE after an
// edit and FRESH once the round is over; each new round and its steps;
// the log tail and its filter box; the restart button (pets list sees the
// new pid); a broken Petsfile's error with file:line:col. With -update it
// writes the screenshot of docs/ui.png.
func TestUIPage(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t)
	ports := e.uiPetsfile()
	uiPort := freePort(t)
	w := e.watch("up", "--watch", "--ui-port", strconv.Itoa(uiPort))
	url := w.uiLine()
	if want := fmt.Sprintf("http://127.0.0.1:%d/", uiPort); url != want {
		t.Fatalf("banner: %s, want %s", url, want)
	}
	p := openPage(t, ctx, w, e.uiAddress())
	// The token left the address bar for a cookie.
	if href := eval[string](p, `location.href`); href != url {
		t.Errorf("address after opening: %s, want %s", href, url)
	}

	// The services, in dependency order, each with its deps and tier; the
	// graph has a node each and an edge per dependency.
	services := []string{"db-local", "api-local", "web-local", "worker-local", "cron-local"}
	var ready []string
	for _, s := range services {
		ready = append(ready, stateIs(s, "ready", "FRESH"))
	}
	p.wait("every service ready and FRESH", strings.Join(ready, " && "))
	if got := eval[[]string](p, `[...document.querySelectorAll('#services tbody tr')].map(r => r.dataset.service)`); fmt.Sprint(got) != fmt.Sprint(services) {
		t.Errorf("rows: %v, want %v", got, services)
	}
	for s, deps := range map[string]string{"db-local": "", "api-local": "db-local", "web-local": "api-local", "worker-local": "db-local", "cron-local": ""} {
		if got := eval[string](p, cell(s, ".deps")); got != deps {
			t.Errorf("%s's deps: %q, want %q", s, got, deps)
		}
		if got := eval[string](p, cell(s, ".tier")); got != "local" {
			t.Errorf("%s's tier: %q", s, got)
		}
	}
	if n := eval[int](p, `document.querySelectorAll('#graph g[data-service]').length`); n != len(services) {
		t.Errorf("graph nodes: %d", n)
	}
	if got := eval[[]string](p, `[...document.querySelectorAll('#graph path')].map(p => p.dataset.from + ' -> ' + p.dataset.to).sort()`); fmt.Sprint(got) != "[api-local -> web-local db-local -> api-local db-local -> worker-local]" {
		t.Errorf("graph edges: %q", got)
	}
	// Its address as a link; its ready-in time.
	for _, s := range services {
		name := strings.TrimSuffix(s, "-local")
		if href := eval[string](p, fmt.Sprintf(`%s.querySelector('.host a').href`, row(s))); href != fmt.Sprintf("http://127.0.0.1:%d/", ports[name]) {
			t.Errorf("%s's link: %s", s, href)
		}
		if ready := eval[string](p, cell(s, ".ready")); !regexp.MustCompile(`^\d+(ms|\.\ds)$`).MatchString(ready) {
			t.Errorf("%s's ready-in time: %q", s, ready)
		}
	}

	// An edit: STALE at once, while its restart holds (starting); FRESH
	// once it is over, and the round with its step.
	e.holdStarts()
	e.write("web/data", "v1")
	p.wait("web STALE and starting", stateIs("web-local", "starting", "STALE")+` && `+cell("web-local", ".fresh-cell .why")+` === 'web/data'`)
	p.wait("the round planned", `!!document.querySelector('#rounds li.round[data-done="false"] li.step[data-service="web-local"][data-kind="restart"]')`)
	e.write("go", "")
	p.wait("web ready and FRESH", stateIs("web-local", "ready", "FRESH"))
	p.wait("the round finished with its step", `/^web-local restarted in \d+ms — web\/data changed$/.test((document.querySelector('#rounds li.round[data-done="true"] li.step[data-service="web-local"]') || {}).textContent)`)
	if head := eval[string](p, `document.querySelector('#rounds li.round .round-head').textContent`); !regexp.MustCompile(`^round 1 web/data · \d+(ms|\.\ds) in all$`).MatchString(head) {
		t.Errorf("round 1: %q", head)
	}

	// Building: the build holds.
	if err := os.Remove(filepath.Join(e.dir, "gob")); err != nil {
		t.Fatal(err)
	}
	e.write("web/data", "v2")
	p.wait("web building", stateIs("web-local", "building", "STALE"))
	e.write("gob", "")
	p.wait("web ready after its build", stateIs("web-local", "ready", "FRESH"))

	// Failed, with its reason; the round's step says so, and its log.
	e.write("web/data", "bad")
	p.wait("web failed", stateIs("web-local", "failed", "")+` && /exit status 4/.test(`+cell("web-local", ".state-cell .why")+`)`)
	p.wait("the failed step", `/^web-local FAILED after /.test((document.querySelector('#rounds li.round li.step[data-service="web-local"][data-result="failed"]') || {}).textContent)`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#services tr[data-service="web-local"] td.name`))); err != nil {
		t.Fatal(err)
	}
	p.wait("web's log, its failure in it", `document.getElementById('log').dataset.service === 'web-local' && [...document.querySelectorAll('#log .line')].some(l => l.textContent === 'web cannot start: bad data')`)
	if *update {
		screenshot(t, p)
	}
	e.write("web/data", "good")
	p.wait("web ready again", stateIs("web-local", "ready", "FRESH"))

	// A new round with its steps: db restarts, what depends on it is
	// bounced after it.
	rounds := eval[int](p, `document.querySelectorAll('#rounds li.round').length`)
	e.write("db/main.go", "package main")
	p.wait("a new round", fmt.Sprintf(`document.querySelectorAll('#rounds li.round[data-done="true"]').length === %d`, rounds+1))
	steps := eval[[]string](p, `[...document.querySelector('#rounds li.round').querySelectorAll('li.step')].map(s => s.textContent)`)
	want := []string{`^db-local restarted in \d+ms — db/main.go changed$`, `^api-local bounced in \d+ms — db-local restarted$`, `^web-local bounced in \d+ms — api-local bounced$`, `^worker-local bounced in \d+ms — db-local restarted$`}
	bad := len(steps) != len(want)
	for i := 0; !bad && i < len(want); i++ {
		bad = !regexp.MustCompile(want[i]).MatchString(steps[i])
	}
	if bad {
		t.Errorf("the round's steps: %q", steps)
	}

	// Crashed (restart_policy="no"), and backoff (on-failure).
	l := e.list()
	_ = killPID(l["worker-local"].PID)
	p.wait("worker crashed", stateIs("worker-local", "crashed", "")+` && /^signal: killed/.test(`+cell("worker-local", ".state-cell .why")+`)`)
	// A backoff lasts 500 ms: what cron's state cell shows is recorded as
	// it changes.
	_ = eval[chromedp.Void](p, `(() => {
		window.cronShown = [];
		const td = document.querySelector('tr[data-service="cron-local"] .state-cell');
		new MutationObserver(() => window.cronShown.push(td.querySelector('.state').textContent + ': ' + td.querySelector('.why').textContent))
			.observe(td, {subtree: true, childList: true, characterData: true});
	})()`)
	_ = killPID(l["cron-local"].PID)
	p.wait("cron ready after its backoff", `window.cronShown.some(s => s.startsWith('backoff')) && `+stateIs("cron-local", "ready", "FRESH"))
	if shown := eval[[]string](p, `window.cronShown`); !slices.ContainsFunc(shown, regexp.MustCompile(`^backoff: crashed \(signal: killed\); restarts in 500ms$`).MatchString) {
		t.Errorf("cron's states: %q, none backoff", shown)
	}
	e.write("worker/x", "1")
	p.wait("worker ready after a change", stateIs("worker-local", "ready", "FRESH"))

	// The log tail of a service, and the filter box.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#log-tabs button[data-service="db-local"]`))); err != nil {
		t.Fatal(err)
	}
	p.wait("db's log", `document.getElementById('log').dataset.service === 'db-local' && [...document.querySelectorAll('#log .line')].filter(l => l.textContent.includes('--- pets: starting db-local')).length >= 2`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#log-filter`), "LISTENING on")); err != nil {
		t.Fatal(err)
	}
	p.wait("the filter to apply", `/match "LISTENING on"$/.test(document.getElementById('log-info').textContent) && (() => { const ls = [...document.querySelectorAll('#log .line')]; return ls.length >= 2 && ls.every(l => /listening on/i.test(l.textContent)); })()`)
	// New lines stream in, filtered too.
	before := eval[int](p, `document.querySelectorAll('#log .line').length`)
	e.write("db/main.go", "package main // again")
	p.wait("db's new line, through the filter", fmt.Sprintf(`(() => { const ls = [...document.querySelectorAll('#log .line')]; return ls.length === %d && ls.every(l => /listening on/i.test(l.textContent)); })()`, before+1))
	clearFilter(t, p)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#log-filter`), "zzz-no-such-line")); err != nil {
		t.Fatal(err)
	}
	p.wait("nothing to match", `document.getElementById('log-filter').value === 'zzz-no-such-line' && document.querySelectorAll('#log .line').length === 0`)
	clearFilter(t, p)
	p.wait("every line again", fmt.Sprintf(`document.querySelectorAll('#log .line').length > %d`, before+1))

	// The restart button takes the path pets restart takes.
	pid := e.list()["api-local"].PID
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button.restart[data-service="api-local"]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "api to have a new pid", func() bool { l := e.list()["api-local"]; return l.PID != pid && l.Status == "ready" })
	w.waitLine(`round \d+: pets restart -> api-local restarted in \S+, web-local bounced in `)
	p.wait("the restart's round", `/^api-local restarted in \d+ms — restarted by pets restart$/.test((document.querySelector('#rounds li.round li.step') || {}).textContent)`)
	p.wait("api ready with its new pid", stateIs("api-local", "ready", "FRESH"))

	// A Petsfile that does not evaluate: its error, with file:line:col.
	pf := filepath.Join(e.dir, "Petsfile")
	good := readFile(t, pf)
	e.write("Petsfile", good+"\nthis is not starlark\n")
	p.wait("the reload's error", `document.getElementById('reload').dataset.ok === 'false'`)
	msg := eval[string](p, `document.querySelector('#reload pre.err').textContent`)
	if !regexp.MustCompile(`(^|/)Petsfile:\d+:\d+: `).MatchString(msg) {
		t.Errorf("the reload's error has no file:line:col: %q", msg)
	}
	if head := eval[string](p, `document.querySelector('#reload .reload-bad').textContent`); head != "Petsfile changed but does not evaluate" {
		t.Errorf("reload head: %q", head)
	}
	e.write("Petsfile", good)
	p.wait("the reload applied", `document.getElementById('reload').dataset.ok === 'true' && /5 unchanged/.test(document.getElementById('reload').textContent)`)

	if errs := eval[[]string](p, `window.petsUI.errors`); len(errs) > 0 {
		t.Errorf("the page's script errors: %q", errs)
	}

	// Its last words reach the page.
	w.stop()
	p.wait("the page to say pets stopped", `document.getElementById('conn').dataset.state === 'gone' && /^pets stopped watching/.test(document.getElementById('conn').textContent)`)
}

// clearFilter empties the log's filter box.
func clearFilter(t *testing.T, p *page) {
	t.Helper()
	if _, err := evalIn[chromedp.Void](p.ctx, `(() => { const f = document.getElementById('log-filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`); err != nil {
		t.Fatal(err)
	}
}

// screenshot writes docs/ui.png (go test ./cmd/pets -run TestUIPage -update).
func screenshot(t *testing.T, p *page) {
	t.Helper()
	// Not the Petsfile's temporary directory: a shorter path reads better.
	if _, err := evalIn[chromedp.Void](p.ctx, `window.scrollTo(0, 0)`); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "ui.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote docs/ui.png (%d bytes)", len(png))
}

// TestUIRefusesWhatIsNotTheUsersPage: every request needs the token (the
// page, its assets, the event stream, a restart); a foreign Host (DNS
// rebinding) and a cross-site request are refused even with it. The page
// listens on 127.0.0.1 only; its address is in the record and its token in
// a file only the user can read; pets ui prints both, and opens them.
func TestUIRefusesWhatIsNotTheUsersPage(t *testing.T) {
	e := newEnv(t)
	e.twoServers()
	uiPort := freePort(t)
	w := e.watch("up", "--watch", "--ui-port", strconv.Itoa(uiPort))
	base := w.uiLine()

	// The record says where; the token file is the user's alone.
	var rec struct {
		Watchers []struct {
			PID int    `json:"pid"`
			UI  string `json:"ui"`
		} `json:"watchers"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(e.home, "state.json"))), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Watchers) != 1 || rec.Watchers[0].UI != base || rec.Watchers[0].PID != w.cmd.Process.Pid {
		t.Fatalf("record: %+v, want the page %s of pid %d", rec.Watchers, base, w.cmd.Process.Pid)
	}
	tokenFile := filepath.Join(e.home, fmt.Sprintf("ui-%d.token", w.cmd.Process.Pid))
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	token := strings.TrimSpace(readFile(t, tokenFile))
	if len(token) != 64 {
		t.Fatalf("token %q", token)
	}
	if got := e.uiAddress(); got != base+"?token="+token {
		t.Errorf("pets ui: %q, want %q", got, base+"?token="+token)
	}
	if got := e.uiAddress("frontend"); got != base+"?token="+token {
		t.Errorf("pets ui frontend: %q", got)
	}

	// On 127.0.0.1 only.
	if addrs := listeners(t, uiPort); fmt.Sprint(addrs) != "[127.0.0.1]" {
		t.Errorf("the page listens on %v, want 127.0.0.1 only", addrs)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	do := func(method, path string, hdr map[string]string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, base+strings.TrimPrefix(path, "/"), strings.NewReader(`{"service":"backend-local"}`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		// An event stream: its first event is enough.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return resp.StatusCode, string(b), resp.Header
	}
	cookie := map[string]string{"Cookie": fmt.Sprintf("pets_ui_%d=%s", uiPort, token)}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range cookie {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		why                string
	}{
		{"the page without a token", "GET", "/", nil, "no token"},
		{"the page with a wrong token", "GET", "/?token=" + strings.Repeat("0", 64), nil, "wrong token"},
		{"the page with a wrong cookie", "GET", "/", map[string]string{"Cookie": fmt.Sprintf("pets_ui_%d=%s", uiPort, strings.Repeat("1", 64))}, "wrong token"},
		{"the page's script without a token", "GET", "/assets/app.js", nil, "no token"},
		{"the event stream without a token", "GET", "/events", nil, "no token"},
		{"the event stream with a wrong token", "GET", "/events?token=nope", nil, "wrong token"},
		{"a restart without a token", "POST", "/api/restart", map[string]string{"Content-Type": "application/json"}, "no token"},
		{"a foreign Host (DNS rebinding)", "GET", "/?token=" + token, map[string]string{"Host": fmt.Sprintf("evil.example:%d", uiPort)}, `Host "evil.example:`},
		{"a foreign Host on the event stream", "GET", "/events", with(map[string]string{"Host": fmt.Sprintf("pets.evil.example:%d", uiPort)}), "DNS rebinding"},
		{"another port in Host", "GET", "/events", with(map[string]string{"Host": fmt.Sprintf("127.0.0.1:%d", uiPort+1)}), "is not 127.0.0.1:"},
		{"a cross-site Origin", "GET", "/events", with(map[string]string{"Origin": "http://evil.example"}), `cross-site request from Origin "http://evil.example"`},
		{"a cross-site restart", "POST", "/api/restart", with(map[string]string{"Origin": "http://localhost:3000", "Content-Type": "application/json"}), "cross-site request from Origin"},
		{"a cross-site fetch without Origin", "GET", "/api/snapshot", with(map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}), "cross-site request (Sec-Fetch-Site: cross-site)"},
		{"a same-site (other port) script include", "GET", "/assets/app.js", with(map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}), "Sec-Fetch-Site: same-site"},
	} {
		code, body, _ := do(c.method, c.path, c.hdr)
		if code != http.StatusForbidden || !strings.HasPrefix(body, "pets: refused: ") || !strings.Contains(body, c.why) {
			t.Errorf("%s: %d %q, want 403 saying %q", c.name, code, body, c.why)
		}
	}

	// The token in the address becomes a cookie, and leaves the address.
	code, _, h := do("GET", "/?token="+token, map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"})
	if code != http.StatusSeeOther || h.Get("Location") != "/" || !strings.Contains(h.Get("Set-Cookie"), fmt.Sprintf("pets_ui_%d=%s", uiPort, token)) ||
		!strings.Contains(h.Get("Set-Cookie"), "HttpOnly") || !strings.Contains(h.Get("Set-Cookie"), "SameSite=Strict") {
		t.Errorf("GET /?token=: %d %v", code, h)
	}
	code, body, h := do("GET", "/", with(map[string]string{"Host": fmt.Sprintf("localhost:%d", uiPort), "Sec-Fetch-Site": "none"}))
	if code != http.StatusOK || !strings.Contains(body, "<title>pets</title>") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("the page with its cookie: %d %v %.200q", code, h, body)
	}
	code, body, h = do("GET", "/events", with(map[string]string{"Origin": base[:len(base)-1], "Sec-Fetch-Site": "same-origin"}))
	if code != http.StatusOK || h.Get("Content-Type") != "text/event-stream" || !strings.Contains(body, "event: snapshot\ndata: {") || !strings.Contains(body, `"name":"backend-local"`) {
		t.Errorf("the event stream with its cookie: %d %v %.300q", code, h, body)
	}
	// A restart must say it is JSON (a cross-site form cannot).
	if code, body, _ := do("POST", "/api/restart", with(map[string]string{"Content-Type": "text/plain"})); code != http.StatusUnsupportedMediaType {
		t.Errorf("a restart as text/plain: %d %q", code, body)
	}

	// pets ui --open opens the address with its token (xdg-open here).
	bin := t.TempDir()
	opened := filepath.Join(bin, "opened")
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\necho \"$@\" > "+opened+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := e.cmd("ui", "--open")
	cmd.Env = append(cmd.Env, "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pets ui --open: %v", err)
	}
	if strings.TrimSpace(string(out)) != base+"?token="+token {
		t.Errorf("pets ui --open printed %q", out)
	}
	waitFor(t, "xdg-open to be run", func() bool { return strings.TrimSpace(readFile(t, opened)) == base+"?token="+token })

	// Gone with its pets: the token file, and pets ui says so.
	w.stop()
	if _, err := os.Stat(tokenFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after pets stopped: %v", err)
	}
	if r := e.pets("ui"); r.code == 0 || !strings.Contains(r.stderr, "no pets watches the services of") {
		t.Errorf("pets ui with no pets watching: %d %s%s", r.code, r.stdout, r.stderr)
	}

	// --ui-port 0: no page; pets ui says so.
	w = e.watch("up", "--watch", "--ui-port", "0")
	e.write("x", "1") // a line after the banner, to be sure none follows it
	if r := e.pets("ui"); r.code == 0 || !strings.Contains(r.stderr, "serves no status page") {
		t.Errorf("pets ui with --ui-port 0: %d %s%s", r.code, r.stdout, r.stderr)
	}
	w.stop()
	if strings.Contains(w.output(), "Status page:") {
		t.Errorf("--ui-port 0 printed a status page:\n%s", w.output())
	}
}

// listeners are the local addresses listening on port (from /proc/net).
func listeners(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "0A" { // LISTEN
				continue
			}
			host, p, _ := strings.Cut(fs[1], ":")
			if n, _ := strconv.ParseInt(p, 16, 32); int(n) != port {
				continue
			}
			if len(host) == 8 {
				v, _ := strconv.ParseUint(host, 16, 32)
				out = append(out, net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24)).String())
			} else {
				out = append(out, "ipv6 "+host)
			}
		}
	}
	return out
}

// TestUIUnderALogFlood: a service prints 10,000 lines a second for a
// minute while the page shows its log, and a second client opens the event
// stream and reads nothing. The page holds at most its window of lines (in
// the DOM too), says how many it skipped, and every line is either shown
// or counted; the browser keeps answering; the stalled client blocks
// neither the rounds nor the terminal; pets' peak RSS (VmHWM) stays under
// 100 MB.
func TestUIUnderALogFlood(t *testing.T) {
	const rate, secs = 10_000, 60
	ctx := newBrowser(t)
	e := newEnv(t)
	port := freePort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e.write("s/keep", "")
	e.write("Petsfile", fmt.Sprintf(`
register("flood", "local", lambda: start("PETS_UI_TEST_FLOOD=%d,%d,go exec %s"), watch=["flood/**"])
register("s", "local", lambda: service(start("exec $PETSERVER --name s --port %d"), "127.0.0.1", %d), watch=["s/**"])
`, rate, secs, self, port, port))
	uiPort := freePort(t)
	// The pets measured is built without the race detector, as people run
	// it: -race multiplies memory.
	bin := filepath.Join(t.TempDir(), "pets")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build pets: %v\n%s", err, out)
	}
	cmd := e.cmd("up", "--watch", "--ui-port", strconv.Itoa(uiPort))
	cmd.Path, cmd.Args[0] = bin, bin
	w := e.watchCmd(cmd)
	w.uiLine()
	p := openPage(t, ctx, w, e.uiAddress())
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#log-tabs button[data-service="flood-local"]`))); err != nil {
		t.Fatal(err)
	}
	p.wait("the flood's log shown", `document.getElementById('log').dataset.service === 'flood-local' && [...document.querySelectorAll('#log .line')].some(l => l.textContent.startsWith('--- pets: starting flood-local'))`)
	baseLines := eval[int](p, `window.petsUI.lines['flood-local'] || 0`)

	// A client that opens the event stream and reads nothing.
	stalled, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", uiPort))
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	token := strings.TrimPrefix(e.uiAddress(), fmt.Sprintf("http://127.0.0.1:%d/?token=", uiPort))
	fmt.Fprintf(stalled, "GET /events?token=%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", token, uiPort)
	if tc, ok := stalled.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}

	start := time.Now()
	e.write("go", "") // the flood begins (no service owns the file)
	window := 1000
	var slowest time.Duration
	edits := 0
	for time.Since(start) < secs*time.Second+5*time.Second {
		time.Sleep(2 * time.Second)
		// The window holds, in the DOM too.
		t0 := time.Now()
		n := eval[int](p, `document.querySelectorAll('#log .line').length`)
		slowest = max(slowest, time.Since(t0))
		if n > window {
			t.Fatalf("%d lines in the page's log, more than its window of %d", n, window)
		}
		// Rounds run and reach the terminal and the page meanwhile.
		edits++
		e.write("s/x", strconv.Itoa(edits))
		round := w.waitLine(`round (\d+): s/x -> s-local restarted in `)[1]
		p.wait("the round on the page", fmt.Sprintf(`!!document.querySelector('#rounds li.round[data-round="%s"][data-done="true"]')`, round))
		// The filter box answers.
		t0 = time.Now()
		_ = eval[chromedp.Void](p, `(() => { const f = document.getElementById('log-filter'); f.value = '77'; f.dispatchEvent(new Event('input')); })()`)
		p.wait("the filter", `[...document.querySelectorAll('#log .line')].every(l => l.textContent.includes('77'))`)
		_ = eval[chromedp.Void](p, `(() => { const f = document.getElementById('log-filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`)
		slowest = max(slowest, time.Since(t0))
	}
	p.wait("the flood's last line", fmt.Sprintf(`[...document.querySelectorAll('#log .line')].some(l => l.textContent === 'flood done %d')`, rate*secs))
	if n := eval[int](p, `document.querySelectorAll('#log .line').length`); n != window {
		t.Errorf("%d lines in the page's log at the end, want its window of %d", n, window)
	}
	// Every line the flood wrote was either shown or counted as skipped.
	got := eval[struct {
		Lines     int    `json:"lines"`
		Skipped   int    `json:"skipped"`
		Snapshots int    `json:"snapshots"`
		Info      string `json:"info"`
	}](p, `({lines: window.petsUI.lines['flood-local'], skipped: window.petsUI.skipped['flood-local'], snapshots: window.petsUI.snapshots, info: document.getElementById('log-info').textContent})`)
	t.Logf("the page: %d lines shown, %d skipped, %d snapshot(s); %q; slowest answer %s", got.Lines-baseLines, got.Skipped, got.Snapshots, got.Info, slowest)
	if got.Snapshots == 1 && got.Lines-baseLines+got.Skipped != rate*secs+1 {
		t.Errorf("lines shown %d + skipped %d != %d written", got.Lines-baseLines, got.Skipped, rate*secs+1)
	}
	if got.Skipped == 0 || !regexp.MustCompile(`^flood-local: the last 1,000 lines; [\d,]+ lines skipped under load`).MatchString(got.Info) {
		t.Errorf("the page does not say it skipped lines: %q", got.Info)
	}
	if slowest > 10*time.Second { // seconds when the machine is busy; not answering is a timeout
		t.Errorf("the browser took %s to answer", slowest)
	}
	lags := eval[[]float64](p, `window.petsUI.lag.map(l => l.ms)`)
	t.Logf("event lag under the flood: %s", lagSummary(lags))

	hwm := vmKB(t, w.cmd.Process.Pid, "VmHWM")
	t.Logf("pets: VmHWM %.1f MB", float64(hwm)/1024)
	if hwm > 100*1024 {
		t.Errorf("pets' peak RSS %.1f MB, over 100 MB", float64(hwm)/1024)
	}
}

func lagSummary(ms []float64) string {
	if len(ms) == 0 {
		return "none"
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	return fmt.Sprintf("%d events, median %.1f ms, p90 %.1f ms, max %.1f ms", len(s), s[len(s)/2], s[len(s)*9/10], s[len(s)-1])
}

func vmKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
