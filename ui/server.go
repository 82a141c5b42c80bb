package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/windmilleng/pets/events"
)

// DefaultPort is the status page's port unless told otherwise.
const DefaultPort = 10350

// fallbackPorts is how many ports from the first are tried before any
// free one (Options.Fallback).
const fallbackPorts = 10

// DefaultLogWindow is how many lines of each service's log the page keeps.
const DefaultLogWindow = 1000

// Backend is what the page asks of the watching pets.
type Backend interface {
	// Status returns every service the pets watches, in dependency order,
	// as its loop sees them (counting every change made before the call).
	Status(ctx context.Context) ([]Service, error)
	// Restart restarts the service ("name-tier") and bounces its
	// dependents, as pets restart does; it returns once the round is over.
	Restart(ctx context.Context, service string) error
}

// Options configure a Server.
type Options struct {
	// Port is the port to listen on (on 127.0.0.1). With Fallback, when it
	// is taken the next nine are tried, then any free port.
	Port     int
	Fallback bool
	// Dir is the state directory: the token file goes there (TokenPath).
	Dir string
	// PID names the token file (default: this process).
	PID     int
	Backend Backend
	// LogPath is where a service's ("name-tier") log is appended.
	LogPath func(service string) string
	// Services are the services to show before the Backend is first asked
	// (their name, tier and deps).
	Services []Service
	// LogWindow is how many lines of each service's log are kept (default
	// DefaultLogWindow).
	LogWindow int
	// Petsfile is the Petsfile's path: the page shows it, and paths
	// relative to its directory.
	Petsfile string
}

//go:embed assets
var assets embed.FS

// Server is the status page. Create it with New (it is an events.Sink from
// then on), start it with Start, stop it with Close.
type Server struct {
	opts  Options
	token string

	mu      sync.Mutex // guards model, logs, clients and closed
	model   *model
	logs    map[string]*window // each service's log window
	clients map[*client]bool
	closed  bool

	refresh chan struct{} // asks the refresher to ask the Backend (cap 1)

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the HTTP server, the log tailer, the refresher

	ln        net.Listener
	srv       *http.Server
	port      int
	tokenFile string
}

var _ events.Sink = (*Server)(nil)

// New prepares a status page: it makes its token and starts noting events.
// Nothing listens until Start.
func New(opts Options) (*Server, error) {
	if opts.LogWindow <= 0 {
		opts.LogWindow = DefaultLogWindow
	}
	if opts.PID == 0 {
		opts.PID = os.Getpid()
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, token: token, model: newModel(opts.Services), logs: map[string]*window{}, clients: map[*client]bool{}, refresh: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start listens (see Options.Port), writes the token file and serves in
// the background until Close.
func (s *Server) Start() error {
	ln, err := listen(s.opts.Port, s.opts.Fallback)
	if err != nil {
		return err
	}
	s.ln, s.port = ln, ln.Addr().(*net.TCPAddr).Port
	s.tokenFile = TokenPath(s.opts.Dir, s.opts.PID)
	if err := writeToken(s.tokenFile, s.token); err != nil {
		ln.Close()
		return err
	}
	s.srv = &http.Server{
		Handler:           s.guard(s.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	s.wg.Add(3)
	go func() { // owned by s: Close waits
		defer s.wg.Done()
		_ = s.srv.Serve(ln)
	}()
	go func() { // owned by s: Close waits
		defer s.wg.Done()
		s.tailLogs(s.ctx)
	}()
	go func() { // owned by s: Close waits
		defer s.wg.Done()
		s.refresher(s.ctx)
	}()
	return nil
}

// listen binds 127.0.0.1:port; with fallback, the next ports, then any.
func listen(port int, fallback bool) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err == nil || !fallback {
		if err != nil {
			return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
		}
		return ln, nil
	}
	for p := port + 1; p < port+fallbackPorts && p < 65536; p++ {
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			return ln, nil
		}
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	return ln, nil
}

// URL is the page's address, without its token: http://127.0.0.1:PORT/.
func (s *Server) URL() string { return fmt.Sprintf("http://127.0.0.1:%d/", s.port) }

// Token is the page's access token.
func (s *Server) Token() string { return s.token }

// Close stops serving, waits for every goroutine of the server and removes
// the token file.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel() // ends every event stream and request in flight
	var err error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.srv.Shutdown(ctx)
		cancel()
		if err != nil {
			_ = s.srv.Close()
		}
	}
	s.wg.Wait()
	if s.tokenFile != "" {
		if rerr := os.Remove(s.tokenFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// Emit notes e and passes what it changed to every page. It never blocks:
// a page whose queue is full is given a snapshot instead.
func (s *Server) Emit(e events.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.model.apply(e)
	msg := frame("update", marshal(u))
	for c := range s.clients {
		c.push(msg)
	}
	if e.Type == events.WatchStarted || e.Type == events.ReloadApplied {
		select {
		case s.refresh <- struct{}{}:
		default:
		}
	}
}

// Seed takes the ready-in times of earlier events (from the events file)
// for services no event has said it of yet.
func (s *Server) Seed(evs []events.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.model.seed(evs)
}

// refresher asks the Backend for every service when the watch starts and
// after each reload, until ctx ends.
func (s *Server) refresher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.refresh:
		}
		asked := time.Now()
		st, err := s.opts.Backend.Status(ctx)
		if err != nil {
			slog.Debug("ui: status", "err", err)
			continue
		}
		s.mu.Lock()
		s.model.refreshed(st, asked)
		msg := frame("services", marshal(struct {
			Services []*Service `json:"services"`
		}{s.model.list()}))
		for c := range s.clients {
			c.push(msg)
		}
		s.mu.Unlock()
	}
}

// snapshotLocked is the model and each log window; s.mu is held.
func (s *Server) snapshotLocked() snapshot {
	snap := s.model.snapshot()
	snap.Window, snap.Petsfile = s.opts.LogWindow, s.opts.Petsfile
	snap.Logs = map[string]logPart{}
	for name, w := range s.logs {
		snap.Logs[name] = logPart{Lines: w.lines(), Skipped: w.skipped}
	}
	return snap
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			// The token came in the address: it now lives in the cookie;
			// take it out of the address bar (and the history).
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		b, _ := assets.ReadFile("assets/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b := marshal(s.snapshotLocked())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("POST /api/restart", s.serveRestart)
	return mux
}

// serveRestart runs the round pets restart runs, and answers once it is over.
func (s *Server) serveRestart(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		refuse(w, http.StatusUnsupportedMediaType, "a restart is a POST with a JSON body (Content-Type: application/json)")
		return
	}
	var req struct {
		Service string `json:"service"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Service == "" {
		refuse(w, http.StatusBadRequest, `the body must be {"service": "name-tier"}`)
		return
	}
	err := s.opts.Backend.Restart(r.Context(), req.Service)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write(marshal(map[string]string{"error": err.Error()}))
		return
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// cookieName is the token's cookie: cookies are per host, not per port, so
// each page's has its port in its name.
func (s *Server) cookieName() string { return "pets_ui_" + strconv.Itoa(s.port) }

// guard refuses what is not this user's own page (see the package
// documentation), and sets the security headers of every answer.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if why := s.refusal(r); why != "" {
			slog.Debug("ui: refused", "method", r.Method, "path", r.URL.Path, "host", r.Host, "origin", r.Header.Get("Origin"), "why", why)
			refuse(w, http.StatusForbidden, why)
			return
		}
		if q := r.URL.Query().Get("token"); q != "" {
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		next.ServeHTTP(w, r)
	})
}

// refusal says why r is refused, or "".
func (s *Server) refusal(r *http.Request) string {
	port := strconv.Itoa(s.port)
	if r.Host != "127.0.0.1:"+port && r.Host != "localhost:"+port {
		return fmt.Sprintf("Host %q is not 127.0.0.1:%s or localhost:%s (DNS rebinding?)", r.Host, port, port)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://127.0.0.1:"+port && o != "http://localhost:"+port {
		return fmt.Sprintf("cross-site request from Origin %q", o)
	}
	navigation := r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Mode") == "navigate"
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" && !navigation {
		return fmt.Sprintf("cross-site request (Sec-Fetch-Site: %s)", site)
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		if c, err := r.Cookie(s.cookieName()); err == nil {
			token = c.Value
		}
	}
	switch {
	case token == "":
		return "no token: `pets ui` prints this page's address with its token"
	case subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) != 1:
		return "wrong token: `pets ui` prints this page's address with its token"
	}
	return ""
}

func refuse(w http.ResponseWriter, code int, why string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, "pets: refused: %s\n", why)
}
