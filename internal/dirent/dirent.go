// Package dirent lists directories for the tree walks of packages watcher and
// fresh: each entry's name and whether it is a directory, as the directory
// entry says (d_type on Linux), without a stat per entry. Only where the file
// system does not give the type (DT_UNKNOWN: some network and older file
// systems) is the entry lstat'ed.
//
// On Linux a Dir is a bare file descriptor (open, getdents64, close: no
// os.File, no poller registration, one string allocation per directory for
// all the names), and Lstat is fstatat(2) on it, which spares the kernel the
// path lookup. Elsewhere it is os.ReadDir and os.Lstat.
package dirent

// Entry is one name in a directory.
type Entry struct {
	Name string
	Dir  bool // a directory (not a symlink to one)
}
