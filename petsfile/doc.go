// Package petsfile evaluates a Petsfile, the Starlark file that says how each
// server starts and what it depends on, and returns plain Go values.
//
// The language is that of the original windmilleng/pets, and whatever a
// 2018 Petsfile did still works (DESIGN.md, "The 2018 rules"):
//
//	start(cmd, env={})               background process (its own process group); returns a server
//	run(cmd, env={})                 blocking command; a non-zero exit is an error
//	service(server, host, port, timeout=None, http=None, cmd=None, log=None)
//	                                 waits until the server is ready; returns the service dict
//	register(name, tier, provider, deps=[], watch=[], ignore=[], sync=[],
//	         build=None, build_outputs=[], restart_policy="on-failure", env_files=[])
//	print(...)
//	load("dir-or-file", "sym", alias="sym")
//	load("go-get://host/path", "sym")
//
// The service dict has "pid", "hostname", "port" and "host" ("hostname:port").
// Providers receive their dependencies' service dicts positionally, in deps
// order; a provider may take fewer parameters than deps (the rest are for
// start order only) and gets the first ones. A provider may return what
// service() returns, what start() returns (a server without an address: a
// worker, ready once started), or None. Commands run via `bash -c` in the
// directory of the Petsfile that holds the calling code. Every loaded file
// exports an extra symbol "dir": its absolute directory. A load path without
// a scheme is relative to the loading file's directory ("./" optional) or
// absolute; a directory means its Petsfile.
//
// Readiness (service()): with host and port and no kind, host:port accepts
// TCP; http="/path" a GET there answers 2xx or 3xx; cmd="..." a command (in
// the calling file's directory, with the service's env files) exits 0;
// log="regexp" a line of the server's output matches. At most one kind.
// Without host and port (a worker) only cmd= or log= apply; with neither, the
// server is ready once started.
//
// Environment: every command of a service gets its env files' variables
// (register(env_files=[...]), .env syntax: see ReadEnvFile), read anew each
// time its provider is called, then start()/run()'s env=, later entries
// winning. Command.Env holds them; the host adds them to its own.
//
// Nothing here starts a process by itself: start, run and service call the
// Host passed in by the caller, so the package can be evaluated with a real
// supervisor, a dry-run host that only prints, or a fake in tests. No
// starlark.Value escapes the package.
//
// A go-get:// load is resolved with `go mod download -json path@version`, so it
// honours GOPROXY, GOFLAGS, GOPRIVATE and the rest of the Go toolchain's
// settings. The version resolved for @latest is pinned in "Petsfile.lock" beside
// the root Petsfile; delete a line there to move to a newer version.
//
// Evaluation is bounded. Each evaluation (the top level of a file, a
// provider call) stops when its context ends (pets' first Ctrl-C or
// SIGTERM; under --watch, a newer edit of the Petsfile) and after
// Options.MaxSteps Starlark steps (DefaultMaxSteps, 100 million: about a
// second of a tight loop; $PETS_MAX_STEPS overrides it, 0 for no limit).
// Either way it returns an *Error at the position where the code was, so an
// endless loop is an error with a position, not a hang. Waiting inside a
// builtin (a run("make") of ten minutes) takes no steps: the limit is not
// a timeout.
//
// Errors carry file:line:col (an unknown dependency: the position of the
// register() call that names it). Evaluation errors include the Starlark
// backtrace.
package petsfile
