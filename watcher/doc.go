// Package watcher watches trees of files and sends debounced batches of the
// absolute paths that changed. It knows files, not services: mapping paths to
// the services that own them is the rebuild engine's job.
//
//	w, err := watcher.New(watcher.Options{Roots: []string{"/src/app"}})
//	...
//	defer w.Close()
//	for b := range w.Batches() { ... b.Paths, b.Overflow, b.Barriers ... }
//
// New returns once every watch is in place, so a change made after it returns
// is seen. Read Batches and Errors: unread batches merge into one, unread
// errors queue (up to 64). Close stops the watcher and waits for all its
// goroutines.
//
// # What is reported
//
// A Batch holds files that were created, written, chmodded, removed or renamed
// away, and directories that were removed or renamed away; never a directory
// that merely got a child. A directory that appears (mkdir, or moved into a
// root) is watched and then read, and every file in it is reported: files made
// before its watch landed are not missed. Batch.Overflow says events were lost
// (the kernel queue overflowed): anything under the roots may have changed, and
// the watcher has re-walked the roots to watch directories it missed.
//
// Editors save in many ways: writing in place, writing a temp file and renaming
// it over the original (VS Code's .vsctmp, *.tmp, GIO's .goutputstream-*, sed
// -i), vim's writebackup (probe file 4913, rename x to x~, write x, remove x~,
// with .x.swp and .x.swx beside), emacs (x~, #x#, .#x) and JetBrains' safe
// write (x___jb_tmp___, x___jb_old___). Since the temp and backup names are
// always ignored (see AlwaysIgnored) and a batch holds each path once, every
// one of them is one change of the real file, in one batch.
//
// # Ignoring
//
// Matcher holds the rules: version-control directories and editor temp files
// always; the absolute doublestar patterns of Options.Ignore; and the
// .gitignore and .petsignore files from the git work tree's top (or the root)
// down, each applying to its own subtree with git's precedence (in one
// directory .petsignore wins). Patterns are parsed by go-git's
// plumbing/format/gitignore, which gets anchoring ("a/b" only at its own level),
// "?" and directory-only patterns right; sabhiram/go-gitignore, the other
// candidate, matches "a/b" at any depth and "?" only literally. An ignored
// directory never gets a watch, so node_modules costs nothing. When a
// .gitignore or .petsignore inside a root changes, its directory is re-read and
// re-walked: newly ignored directories lose their watches, newly unignored ones
// gain them. Ignore files above a root but inside its git work tree are read
// once and not watched; git's info/exclude and core.excludesFile are not read.
//
// # Backends
//
// Linux uses inotify through fsnotify, one watch per directory: a walk adds
// every directory that is not ignored, and each new directory is added as it
// appears. fsnotify was chosen over rjeczalik/notify because it reports a
// queue overflow (IN_Q_OVERFLOW, as fsnotify.ErrEventOverflow), which notify's
// inotify watcher drops silently, and because its Add returns the ENOSPC of
// inotify_add_watch unchanged, which the watcher turns into a *LimitError.
// Watching directory by directory is what lets ignored directories cost no
// watch at all.
//
// macOS uses rjeczalik/notify with FSEvents: one stream per root covers the
// whole tree without a file descriptor per file. fsnotify's macOS backend is
// kqueue, which needs an open descriptor for every watched file and directory
// and would hit kern.maxfilesperproc on a large tree. FSEvents' "must scan
// subdirectories" and "events dropped" flags become Batch.Overflow. FSEvents
// needs cgo: a darwin build without cgo still compiles, but notify then falls
// back to kqueue, so release builds for macOS must be built with cgo on a Mac.
//
// Windows uses rjeczalik/notify's recursive ReadDirectoryChangesW: one handle
// per root. fsnotify offers only one handle per directory on Windows, and an
// open handle on a subdirectory keeps its parent from being renamed or deleted
// (fsnotify issue 356), which would break git checkouts and rm -r in the
// watched tree. The cost: notify drops a buffer overflow (a completion of zero
// bytes) without telling, and its buffer is 4 KiB, so on Windows a very large
// burst can lose events without a Batch.Overflow.
//
// With FSEvents and ReadDirectoryChangesW the OS watches ignored directories
// too; their events are filtered out.
//
// # Debounce
//
// A batch closes when Options.Quiet has passed with no event, or when it is
// Options.Cap old, whichever comes first. While the caller is busy (restarting
// services), closed batches merge into the one waiting for it, so nothing is
// lost and a slow caller gets one larger batch. The clock is injected
// (Options.Clock); tests use a fake one and testing/synctest. Files, the
// watcher of a Petsfile and the files it loads, closes its batches with the
// same debounce and Clock (FilesOptions).
//
// DefaultQuiet was chosen by measurement: the smallest quiet window that turns
// a 2,000-file git checkout into one batch. TestMeasureQuietWindow makes a
// repository whose two branches differ in 2,000 files (20 directories of 100),
// switches branches 20 times per candidate window, and counts batches; it also
// records the gaps between raw inotify events during a checkout. On the
// development machine (2 cores, Linux 6.18, shared with other work; run with
//
//	go test -run TestMeasureQuietWindow -v ./watcher/ -watcher.measure-quiet
//
// ) three runs gave, in checkouts that became exactly one batch:
//
//	quiet window          5ms  10ms  15ms  20ms  25ms  30ms  40ms  50ms  75ms  100ms
//	idle (of 50)           49    48    49    47    49    48    50    50    50     49
//	both cores busy (/40)  20    18    17    13    21    31    31    33    38     39
//
// The raw inotify events of one checkout, idle, had their largest gap at a
// median of 4 to 20 ms (worst 24 to 66 ms), and 99% of gaps under 2.3 ms;
// with both cores kept busy by two spinning goroutines the largest gap had a
// median of 33 to 56 ms (worst 247 ms). A gap splits a batch only when the
// watcher has caught up with git, so splits are rarer than gaps. Below 40 ms
// one or two checkouts in 50 split even idle, from scheduling hiccups (the
// machine was shared); 40 ms is the smallest window that kept all 50 idle
// checkouts whole, and it stays inside the 50 ms that a save may add to
// edit-to-restart latency. On a saturated machine about one checkout in five
// still splits at 40 ms (one in forty at 100 ms): the result is two restarts,
// never a lost change, and Options.Quiet can be raised.
//
// DefaultCap is 10 s rather than 1 s: with the watcher attached, a 2,000-file
// checkout spanned 0.4 to 1.6 s of events on that machine (up to 2.8 s with the
// cores busy), so a 1 s cap would split it into two restarts. The cap exists
// for writers that never pause (a log file inside a watched directory).
//
// # Barriers
//
// A batch closes a quiet window after the last change, and the OS delivers
// events a little after the change, so "what has the watcher seen?" has no
// answer from the batches alone. Watcher.Barrier(id) gives one: the caller
// (pets list or pets wait, asked of a watching pets) picks a moment, and every
// change made before it is then in a batch delivered before
// Barrier{ID: id}, in the batch that carries it (Batch.Barriers), or in its
// Pending: the paths of the batch still open, which the barrier does not
// close, so a git checkout stays one restart.
//
// It works by writing a sentinel file, .pets-barrier-<pid>-<n>, and waiting
// for its event: the OS queues events in order, so once the sentinel's
// creation is read, every earlier change has been read too. On Linux one
// inotify queue orders the events of every watched directory, so one sentinel
// in the first root that can be written is enough; FSEvents and
// ReadDirectoryChangesW have a stream per root, so each root gets a sentinel
// and the barrier waits for all of them. The watcher removes each sentinel
// once seen. AlwaysIgnored matches the name, so neither a sentinel nor its
// removal ever shows in Paths or opens or extends a batch, whichever pets
// process wrote it. A barrier reached while the caller is busy rides on the
// batch waiting for it, and stays there when later batches merge in.
//
// Barrier fails at once, so that the caller can fall back, when no sentinel
// can be written where one is needed (a read-only root). A barrier whose
// sentinel event never comes (its root was removed meanwhile, or stopped
// being watched) is delivered after two seconds on the injected Clock with
// Err set; one whose event was lost in a queue overflow is delivered with
// Overflow set, since the open batch then stands for every path. With no roots
// a barrier is delivered at once. Close removes the sentinels still waiting.
//
// # Limits and caveats
//
// Linux: each watched directory takes one of fs.inotify.max_user_watches, a
// per-user limit shared with every other program that watches files. Running
// out makes New return, or Errors deliver, a *LimitError that says how many
// directories need a watch, the current limit and the sysctl that raises it;
// the watcher never misses such directories silently. Events beyond
// fs.inotify.max_queued_events (default 16384) overflow the kernel queue and
// give Batch.Overflow. Each Watcher is one of fs.inotify.max_user_instances.
// A root that is removed or renamed is reported on Errors and no longer watched
// until Update. Symbolic links are reported as files and never followed.
//
// BenchmarkWatchTree (100,000 files in 1,033 directories plus a 50,000-file
// node_modules that .gitignore excludes) on the same machine: New returns after
// 65 to 90 ms with 1,034 watches, the whole test process peaks at 12 MiB RSS,
// and over 10 s with nothing changing the watcher uses under 1 ms of CPU.
//
// # Debugging
//
// With a slog handler at debug level (pets sets one for PETS_DEBUG=1) the
// watcher logs each batch it closes and each overflow. FSNOTIFY_DEBUG=1 makes
// fsnotify print every raw inotify event to stderr.
package watcher
