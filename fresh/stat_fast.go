//go:build linux

package fresh

import (
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/windmilleng/pets/internal/dirent"
)

// lstatIn returns the stat of name in dir, which d (if not nil) has open:
// fstatat(2) on the open directory spares the kernel the path lookup; and
// its status change time (ctime, ns), which no tool can set back.
func lstatIn(d *dirent.Dir, dir, name string) (FileStat, int64, error) {
	var st unix.Stat_t
	var err error
	if d != nil {
		err = unix.Fstatat(d.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	} else {
		err = unix.Lstat(dir+"/"+name, &st)
	}
	if err != nil {
		return FileStat{}, 0, &fs.PathError{Op: "lstat", Path: dir + "/" + name, Err: err}
	}
	return fromSys(&st), st.Ctim.Nano(), nil
}

// lstat returns the stat of path.
func lstat(path string) (FileStat, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return FileStat{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	return fromSys(&st), nil
}

// fromSys converts as os.Lstat does (os/stat_linux.go, stat_darwin.go), so
// that a FileStat is the same whichever way it was taken.
func fromSys(st *unix.Stat_t) FileStat {
	mode := fs.FileMode(st.Mode & 0o777)
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if uint32(st.Mode)&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if uint32(st.Mode)&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if uint32(st.Mode)&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return FileStat{Size: st.Size, MTime: st.Mtim.Nano(), Mode: mode}
}
