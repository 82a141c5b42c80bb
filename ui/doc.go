// Package ui is the status page of a watching pets (pets up --watch, pets
// watch): a small HTTP server on 127.0.0.1 that shows, live, the services
// as a dependency graph and a list (tier, state, FRESH/STALE, host:port,
// last ready-in time, a restart button each), the last rounds with their
// steps, the last Petsfile reload (or its error, with file:line:col) and
// each service's log tail with a filter box. It is a view of the events
// (package events) like the terminal lines and pets events: the Server is
// an events.Sink that keeps a model of what the events said, seeded from
// the watching pets' loop (Backend.Status) when it starts watching and
// after each reload. Nothing here decides anything; a restart asks the
// Backend, which takes the path pets restart takes.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary
// (assets/, no build step, nothing fetched from elsewhere).
//
// Routes (every one needs the token, see below):
//
//	GET  /                 the page
//	GET  /assets/...       its script and style sheet
//	GET  /events           server-sent events: "snapshot" (the whole model
//	                       and each log window), then "update" (one per
//	                       event: the service, round or reload it changed;
//	                       t is the event's time, so the page can tell its
//	                       lag), "services" (after a reload), "logs" (new log
//	                       lines per service, and how many were skipped)
//	GET  /api/snapshot     the model as JSON, for scripts
//	POST /api/restart      {"service": "name-tier"}: the round pets restart
//	                       runs; answers once it has finished
//
// # Who may use it
//
// It listens on 127.0.0.1 only, on port 10350 (DefaultPort) unless told
// otherwise; when that port is taken, the next nine, then any free port
// (Options.Fallback). Every request must carry the access token: 32 random
// bytes (crypto/rand), hex, new for each watching pets, kept in the state
// directory in ui-PID.token (mode 0600: only the user can read it; on
// Windows, the per-user ACL of the state directory; pets ui reads it there
// and prints the page's address with it). The token arrives
// as ?token= (the page's address), after which the page's own requests
// carry it in a cookie the server sets (pets_ui_PORT: HttpOnly,
// SameSite=Strict) on a redirect that takes it out of the address bar. A
// request is refused (403, with a one-line reason) when:
//
//   - its Host header is not 127.0.0.1:PORT or localhost:PORT (a DNS
//     rebinding attack: a foreign name that resolves to 127.0.0.1);
//   - its Origin header is not this page's origin, or the browser says it
//     comes from another site (Sec-Fetch-Site) and it is not a top-level
//     navigation (a navigation still needs the token);
//   - it carries no token, or a wrong one (compared in constant time).
//
// The page's Content-Security-Policy allows only its own script, style and
// connections, and no framing; a restart must be a POST with a JSON body.
//
// # Bounds
//
// The page must stay fast whatever the services print. The server keeps
// the last Options.LogWindow (default 1,000) lines of each service's log:
// it tails the log files (on inotify, at most every 50 ms, across
// rotations: a log renamed to PATH.1, the older ones to .2, .3, ..., as
// package supervise rotates them), reading at most 1 MiB per read and
// counting the lines before it; lines are cut at 4 KiB. Each page gets new
// lines at most four times a second, at most a window's worth per service:
// what arrived meanwhile beyond that is dropped and counted, and the page
// says how many lines it skipped. Every line is either sent or counted.
//
// Each page's queue of updates is bounded (1,024 messages, 8 MiB): Emit
// never blocks on a page; a page that falls behind loses its queue and gets
// a fresh snapshot instead, and a page that takes nothing for 10 seconds is
// disconnected (its browser reconnects and gets a snapshot). At most 32
// pages may be connected at once. The page itself keeps at most a window of
// lines per service, in the DOM too, and renders at most about 60 times a
// second.
//
// Debugging: PETS_DEBUG=1 logs each refused request (log/slog).
package ui
