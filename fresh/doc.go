// Package fresh records what a running service was started (or synced) from,
// and tells what differs on disk now: the ground truth behind FRESH, STALE and
// unknown in `pets list` and behind `pets wait`.
//
// A service's watch set is the files that would restart or sync it: the paths
// under the watcher's roots that the watcher does not ignore (watcher.Matcher:
// version-control directories, editor temp files, .gitignore/.petsignore, the
// services' global ignore globs, the state directory) and that rebuild.Own
// gives to the service. A Spec is what it takes to find that set again
// without evaluating the Petsfile: every owner of the graph (a deeper
// Petsfile's services take their tree from the outer ones), the extra ignore
// globs and the paths that belong to no service. A Manifest is the set at a
// moment: each file's size, modification time and mode. Walk takes manifests,
// Update brings one up to date from the paths a watcher reported, Diff says
// what differs now, Save and Load keep one under the state directory, and
// ConfigDrift and Check compare a state.Stamp with the disk.
//
// # Stat, not content
//
// Like make, and like git's stat cache (the index), a file counts as
// unchanged while its size, modification time (ns) and mode are. A walk costs
// one lstat per file, not a read: hashing 100,000 files would take seconds,
// and `pets list` must answer at once. The caveat: an edit that keeps both
// size and modification time is not seen — a tool that restores the old mtime
// (touch -r, some archive extractors), or a second same-size write within the
// file system's timestamp granularity of the first one stamped (git's
// "racily clean" case; git re-reads such files, pets does not). The Petsfile
// and the files it loads, the other half of a stamp, are few and small, and
// are compared by content (ConfigDrift).
//
// Directories are not recorded: a directory matters through its files, and
// its own mtime changes whenever an ignored temp file comes and goes.
// Symlinks are recorded as symlinks (lstat), never followed. A directory pets
// may not read holds nothing, as for the watcher, which cannot watch it.
//
// # Cost
//
// BenchmarkFresh (bench_test.go) measures a 100,000-file tree beside an
// ignored 50,000-file node_modules:
//
//   - Walk: one readdir per directory that is not ignored (getdents64 on a
//     bare descriptor on Linux, package internal/dirent, as the watcher's
//     walk; node_modules costs one decision, not 50,000) and one lstat per
//     owned file (fstatat on the open directory on Linux), directories read
//     in parallel; each entry is decided once, with its directory's ignore
//     rules found once for all its entries (Matcher.Dir). Specs of one
//     graph share one walk: five
//     services owning the same tree cost 1.1 to 1.4 times one. The manifest
//     is the memory: about 4 MB for 100,000 files (Files: each directory's
//     path once, then a 24-byte record and the name of each of its files; a
//     map of absolute paths took 12 MB).
//   - Defer (Stamper): pets up --watch starts its services before that
//     walk, once the watcher's walk has placed the watches (which reads
//     only the directories that hold directories), and walks after the
//     start: a change from then on is a batch of the watcher's, and a file
//     whose ctime is later than the watches' start is recorded unsure (it
//     reads as changed until a step reads it again), so a stamp never
//     vouches for what a step may not have read.
//   - Update: one lstat per given path, O(changed), except where a directory
//     appeared, vanished or had its ignore files edited: that subtree is
//     walked again.
//   - Diff: a Walk and a merge of each directory's sorted names.
//   - Save and Load: a binary file of about 11 bytes a file (absolute paths
//     sorted and prefix-compressed), checksummed, written atomically through
//     a small buffer; linear.
//
// A Manifest is not safe for concurrent use: Update changes it in place.
package fresh
