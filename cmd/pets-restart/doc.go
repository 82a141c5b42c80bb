// Command pets-restart runs a container's main process and restarts it, inside
// the same container, when pets asks for it after a sync rule with restart=True.
//
// Killing PID 1 from outside makes the kubelet restart the whole container:
// the files pets synced are gone, and each restart adds CrashLoopBackOff
// back-off. So an image whose sync rules say restart=True runs its command
// under this small wrapper, which restarts only its child:
//
//	COPY pets-restart /bin/
//	# in the pod spec:
//	command: ["pets-restart", "--", "your", "server"]
//
// Build it statically, so that it runs in any Linux image (busybox, distroless, scratch):
//
//	CGO_ENABLED=0 go build -o pets-restart github.com/windmilleng/pets/cmd/pets-restart
//
// # Wrapper mode
//
//	pets-restart [-grace 5s] -- CMD [ARGS...]
//
// starts CMD in its own process group, with stdin, stdout, stderr and the
// environment of the wrapper, and then:
//
//   - SIGHUP restarts CMD: SIGTERM to its process group, SIGKILL to the group
//     after -grace, and CMD starts again once the old process is gone. Its exit
//     status is ignored. A SIGHUP that arrives while a restart is under way is
//     part of that restart (the new CMD starts after it arrived).
//   - When CMD exits on its own, the wrapper exits with CMD's exit code
//     (128+N if signal N killed it), so a crash shows in the kubelet as usual.
//   - SIGTERM and SIGINT are forwarded to CMD's process group; after -grace the
//     group gets SIGKILL; the wrapper exits with CMD's exit code. SIGQUIT,
//     SIGUSR1 and SIGUSR2 are forwarded as they are.
//   - Whenever CMD's process is gone, whatever is left of its process group
//     gets SIGKILL, so no part of an old CMD outlives it (a server's worker
//     holding the port the new one needs, say).
//   - As PID 1 of a container (the normal case) it also reaps the orphaned
//     processes the kernel hands to it, so they do not pile up as zombies.
//
// CMD given as a path (with a /) may not exist yet: in an image that holds no
// application code, the first sync brings it. The wrapper then says so once on
// stderr (pets-restart: /app/bin/server does not exist yet: waiting for it ...),
// looks for the file every 100 ms, and starts CMD as soon as it is there; a
// file still being written (exec fails with ETXTBSY while tar holds it open) is
// waited for the same way, so a half-written binary never runs. It waits again
// if the file is gone when CMD is to restart. While it waits it is still PID 1:
// it reaps orphans; SIGHUP (pets-restart -restart) makes it look at once;
// SIGTERM or SIGINT make it exit with 128+N; other signals have no one to go to.
// A bare command name (no /) must be on PATH.
//
// Each restart writes two lines to stderr (pets-restart: restarting CMD (pid N),
// pets-restart: started CMD (pid M)); so does a start after a wait. Exit codes of
// the wrapper itself: 2 for a usage error, 127 when CMD cannot be started (a bare
// name not on PATH, a file that is not executable or whose #! interpreter is
// missing), at first or at a restart.
//
// Since CMD runs in its own process group, it is not the foreground group of a
// terminal (kubectl run -it): the wrapper receives the terminal's Ctrl-C and
// forwards it, but a CMD that reads the terminal stops with SIGTTIN.
//
// # Signal mode
//
//	pets-restart -restart [-timeout 10s] [-pid N]
//
// is what pets runs in the container (kubectl exec) after syncing the files of
// a restart=True rule. It looks in /proc for the wrapper: a process other than
// itself whose argv[0] is named pets-restart and that has a "--" argument (in
// the same mount namespace, so that with shareProcessNamespace a sibling
// container's wrapper is left alone). It notes the wrapper's child (a child
// that leads its own process group), sends the wrapper SIGHUP, and polls /proc
// until the old child is gone and a new one runs. -pid N restricts it to the
// wrapper with pid N (tests use it; so can a container that runs several).
//
// A wrapper that waits for CMD's file (see above) has nothing to restart:
// signal mode wakes it (it starts CMD at once if the file has just arrived, and
// then reports the restart as from pid "(none)"); if the file is still missing,
// it reports "CMD is not running yet: pets-restart (pid N) waits for PATH to
// exist, and starts it then" and exits 0, so that a sync that did not bring
// the file does not fail.
//
// Output and exit codes: 0 and "restarted CMD: pid OLD -> NEW" on stdout per
// wrapper; 3 and "pets-restart: no process runs under pets-restart in this
// container; run the container's command as pets-restart -- CMD ..." when there
// is no wrapper (or pid N is not one); 4 when the restart did not finish within
// -timeout or the wrapper exited instead (its log says why: CMD could not be
// started, say); 1 when /proc cannot be read or the wrapper cannot be signalled;
// 2 for a usage error.
//
// On systems other than Linux pets-restart only says that it runs in Linux
// containers, and exits 1.
package main
