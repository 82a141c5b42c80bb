// Package petsfile evaluates a Petsfile, the Starlark file that says how each
// server starts and what it depends on, and returns plain Go values.
//
// The language is that of the original windmilleng/pets:
//
//	start(cmd)                       background process (its own process group); returns a server
//	run(cmd)                         blocking command; a non-zero exit is an error
//	service(server, host, port)      waits until host:port accepts TCP; returns the service dict
//	register(name, tier, provider, deps=[...])
//	print(...)
//	load("./dir-or-file", "sym", alias="sym")
//	load("go-get://host/path", "sym")
//
// The service dict has "pid", "hostname", "port" and "host" ("hostname:port").
// Providers receive their dependencies' service dicts positionally, in deps
// order. Commands run via `bash -c` in the directory of the Petsfile that holds
// the calling code. Every loaded file exports an extra symbol "dir": its
// absolute directory.
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
// Errors carry file:line:col. Evaluation errors include the Starlark backtrace.
package petsfile
