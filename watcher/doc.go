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
// directory never gets a watch, so node_modules costs nothing; the one
// exception is the git directory itself, watched without recursion for git's
// lock and state files and never a source of changes (see Git below). When a
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
// watch at all. The walk reads only the directories that hold directories:
// a leaf (a link count of 2 on a file system that counts subdirectories
// that way, no .git) is watched and then not read, which on a source tree
// is most directories (make bench: 100,000 files in 10,101 directories).
// The watches' adds serialise (in the kernel, and in fsnotify), so one
// goroutine adds them all, a directory's subdirectories at a time, while
// others check which of those just watched are leaves and read the rest:
// the walk takes about as long as its adds alone.
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
// A batch closes when it has been quiet for its window, or when it is
// Options.Cap old, whichever comes first. While the caller is busy
// (restarting services), closed batches merge into the one waiting for it, so
// nothing is lost and a slow caller gets one larger batch. The clock is
// injected (Options.Clock); tests use a fake one and testing/synctest. Files,
// the watcher of a Petsfile and the files it loads, closes its batches with
// the same debounce, Clock and git hold (FilesOptions).
//
// The window is short for a lone save and grows with the rate of changes.
// Each event that brings a path new to its batch adds one to a heat that
// halves every 250 ms, across batches; the window is Options.Quiet
// (DefaultQuiet, 3 ms) plus 5 ms (or Quiet, if longer) for every unit of
// heat above one, up to Options.Burst (DefaultBurst, 50 ms). A save closes
// its batch 3 ms after the write; a formatter, a save-all or a build writing into the tree widens
// the window within a few files, and a stream that did split once finds the
// window wide when it goes on. A short window can catch a save halfway when
// the saving program stalls between its steps (vim, emacs and JetBrains rename
// the file away before writing the new one; a write in place truncates
// first): a batch of up to 16 paths that is due while one of them is missing
// or empty waits, once, a burst window for the save to end, so that it stays
// one change and no restart sees the file missing or empty. (A file really
// removed, or really empty, waits the same 50 ms and goes.)
//
// # Git
//
// Git writes every work-tree file of a checkout, reset, merge, stash, pull or
// rebase step while it holds index.lock in its git directory. The watcher
// follows the git directory of each root's work tree (.git, or for a linked
// worktree or a submodule the directory its .git file names, where that work
// tree's index.lock is) and of every repository found below a root, with a
// watch of its own on that directory alone: its subdirectories (objects,
// refs, rebase-merge) get none, and nothing in it is ever a change or opens a
// batch. While index.lock is there, the open batch stays open; once it goes,
// the batch closes a window later. On Linux the lock's events come in the same
// inotify queue as the files', in order, so a checkout is one batch however
// far behind the watcher is when it reads them; on the other platforms the
// lock is looked up on disk at each of its events (FSEvents coalesces them,
// and kqueue and ReadDirectoryChangesW have a stream per directory, unordered
// between them). Any event in the git directory (HEAD.lock, ORIG_HEAD, ...)
// counts as activity of the open batch, and while a merge, rebase,
// cherry-pick or revert is under way (MERGE_HEAD, CHERRY_PICK_HEAD,
// REVERT_HEAD, rebase-merge/, rebase-apply/, sequencer/) a gap of up to
// 100 ms after git's last event there does not close it either, so the picks
// of a rebase are one batch; a rebase stopped for a conflict is idle, and the
// saves that resolve it close as usual. The hold is bounded by the cap: a
// batch closes at Options.Cap (--max-wait) whatever git does, and a lock that
// has been there a cap (left by a git that crashed) holds nothing more. git
// status, which an editor may run every few seconds, takes the lock for a few
// milliseconds: a save made meanwhile waits for it. On Windows, where notify
// drops a full buffer without telling, a lock's removal can be lost: that
// batch then waits for the cap.
//
// # Choosing the windows
//
// DefaultQuiet and DefaultBurst were chosen by measurement (the heat's
// half-life and the 100 ms state grace in exploratory runs of the same test,
// whose +hN and +sN vary them; those runs are not in the table below).
// DefaultQuiet was 5 ms until a second run (below) chose 3 ms.
// TestMeasureBurst runs each case once per trial
// and configuration (configurations interleaved), with a new Watcher each
// time whose batches are read as they come, as the rebuild engine reads them,
// idle and with both cores kept busy by two CPU-bound processes at nice 0,
// and counts the batches that held changes; and it times single saves, from
// the write to the batch. On the development machine (2 cores, Linux 6.18,
// load average about 1 before adding any), on 2 December 2026, run with
//
//	go test -run TestMeasureBurst -v -timeout 0 ./watcher/ -watcher.measure-burst \
//	  -watcher.measure-trials=50 -watcher.measure-cases=checkout,save \
//	  -watcher.measure-configs=40/40,5/50,5/50+git
//
// and, with -watcher.measure-trials=20 -watcher.measure-configs=40/40,5/50+git,
// the cases rebase,pull,stash,gofmt,sed (a configuration is quiet/burst in
// ms; +git follows git), it gave, in runs that were exactly one batch (and
// for saves, the time from the write to the batch, median / p90):
//
//	                                 idle                busy (2 x nice 0)
//	                          40/40  5/50  5/50+git   40/40  5/50  5/50+git
//	checkout 2,000 files      50/50  50/50  50/50     50/50  49/50  50/50
//	save in place (ms)        40.8/41.0  5.6/5.8  5.6/5.8    40.8/43.0  5.5/7.4  5.4/7.2
//	save atomic (ms)          41.9/42.2  6.7/7.0  6.7/7.3    41.4/42.2  6.4/7.0  6.1/8.0
//	rebase 5 x 100 files      20/20   -    20/20      20/20   -    20/20
//	pull --ff-only 2,000      20/20   -    20/20      20/20   -    20/20
//	stash / stash pop 500     20/20   -    20/20      20/20   -    20/20
//	gofmt -w 500 files        20/20   -    20/20      20/20   -    20/20
//	sed -i 500, a process     20/20   -    19/20      20/20   -     7/20 (12 x 2, 1 x 3)
//
// So 5/50 following git (the defaults) keeps every git operation measured
// in one batch, idle and busy, and takes a lone save to its batch in 5.4 to
// 6.7 ms (median) where 40/40 took 41; without following git one busy
// checkout in 50 split. What it gives up is a stream with no git signal
// whose writes come further apart than 50 ms: 500 sed processes on busy
// cores split into 2 batches (once 3) in 13 runs of 20, where a 40 ms
// window after every write kept them whole. That costs a second restart,
// never a lost change; --quiet can be raised for such a workflow.
//
// A second run, later on 2 December 2026, chose the 3 ms quiet window. The
// heat's step was made 5 ms whatever the quiet window (it had been the
// quiet window itself), so that 5/50 is the window it was and a shorter
// quiet window still widens as fast within a burst. With
//
//	go test -run TestMeasureBurst -v -timeout 0 ./watcher/ -watcher.measure-burst \
//	  -watcher.measure-trials=50 -watcher.measure-cases=checkout,save \
//	  -watcher.measure-configs=5/50+git,3/50+git,2/50+git
//
// and, with -watcher.measure-trials=20, the cases rebase,pull,stash,gofmt,sed:
//
//	                                 idle                       busy (2 x nice 0)
//	                          5/50+git  3/50+git  2/50+git   5/50+git  3/50+git  2/50+git
//	checkout 2,000 files      50/50     50/50     50/50      50/50     50/50     50/50
//	save in place (ms)        5.5/5.7   3.5/3.8   2.5/2.7    5.5/6.5   3.4/3.6   2.5/2.8
//	save atomic (ms)          6.0/6.2   4.0/4.1   2.9/3.1    5.8/8.2   3.8/6.4   2.8/3.9
//	rebase, pull, stash, pop  20/20 each, in every configuration, idle and busy
//	gofmt -w 500 files        20/20     20/20     20/20      20/20     20/20     20/20
//	sed -i 500, a process     20/20     20/20     10/20      10/20     3/20      1/20
//	                                              (10 x 2)   (9 x 2,   (16 x 2,  (17 x 2,
//	                                                          1 x 3)    1 x 3)    2 x 3)
//
// 3 ms keeps every git operation and the formatter in one batch, and 500 sed
// processes in one batch when the cores are idle; on busy cores they split,
// mostly into their first file and the rest (a process' start is more than
// 3 ms there), at worst into 3 batches, as often as at 5 ms. 2 ms split them
// on idle cores too. A save reaches its batch 2 ms sooner than at 5 ms.
//
// DefaultCap is 10 s rather than 1 s: with the watcher attached, a 2,000-file
// checkout spanned 0.4 to 1.6 s of events on that machine (up to 2.8 s with
// the cores busy), and the cap also bounds how long git can hold a batch. The
// cap exists for writers that never pause (a log file inside a watched
// directory) and for a git that never lets go.
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
// watcher logs each batch it closes (with its window and whether a git lock or
// operation was there) and each overflow. FSNOTIFY_DEBUG=1 makes
// fsnotify print every raw inotify event to stderr.
package watcher
