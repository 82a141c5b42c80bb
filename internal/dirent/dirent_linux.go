package dirent

import (
	"io/fs"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dir is an open directory.
type Dir struct {
	fd   int
	path string

	// What Leaf needs of d itself, found on its first call.
	leafChecked bool
	linksCount  bool   // d's file system counts subdirectories in a directory's links
	dev         uint64 // d's device: a subdirectory on another is a mount point
}

// Open opens the directory at path (a symlink to one is followed, as
// os.Open does). Errors are *fs.PathError, so errors.Is(err,
// fs.ErrNotExist) and friends work.
func Open(path string) (*Dir, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return &Dir{fd: fd, path: path}, nil
	}
}

// Fd is the directory's file descriptor, valid until Close.
func (d *Dir) Fd() int { return d.fd }

// Close closes the directory.
func (d *Dir) Close() error { return unix.Close(d.fd) }

// bufs are what getdents64 fills: 32 KB, so that most directories take one
// call and the one that says the end.
var bufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// Read appends d's entries (not . and ..) to ents and returns it. Entries
// read before an error are returned with it.
func (d *Dir) Read(ents []Entry) ([]Entry, error) {
	buf := bufs.Get().(*[32 << 10]byte)
	defer bufs.Put(buf)
	type pos struct {
		end  int
		dir  bool
		todo bool // DT_UNKNOWN: lstat it
	}
	var (
		nameBuf [1024]byte
		names   = nameBuf[:0] // every name of d, made one string at the end
		posBuf  [64]pos
		ps      = posBuf[:0]
	)
	var rerr error
	for {
		n, err := unix.Getdents(d.fd, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			rerr = &fs.PathError{Op: "readdirent", Path: d.path, Err: err}
			break
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			if len(b) < 19 {
				break
			}
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ, name := b[18], b[19:reclen]
			b = b[reclen:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if len(name) == 0 || string(name) == "." || string(name) == ".." {
				continue
			}
			names = append(names, name...)
			ps = append(ps, pos{end: len(names), dir: typ == unix.DT_DIR, todo: typ == unix.DT_UNKNOWN})
		}
	}
	all := string(names)
	start := 0
	ents = slices.Grow(ents, len(ps))
	for _, p := range ps {
		e := Entry{Name: all[start:p.end], Dir: p.dir}
		start = p.end
		if p.todo {
			var st unix.Stat_t
			if err := unix.Fstatat(d.fd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				continue // gone meanwhile
			}
			e.Dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
		}
		ents = append(ents, e)
	}
	return ents, rerr
}

// File systems whose directories have 2 + (number of subdirectories) links,
// as find(1)'s leaf optimisation and fts(3) rely on: statfs(2) f_type.
// Btrfs (always 1), overlayfs (1 for a merged directory), network and FUSE
// file systems are not among them: there every directory is read.
var countsLinks = map[int64]bool{
	unix.EXT4_SUPER_MAGIC: true, // ext2, ext3 and ext4 share it
	unix.XFS_SUPER_MAGIC:  true,
	unix.TMPFS_MAGIC:      true,
	unix.F2FS_SUPER_MAGIC: true,
	unix.RAMFS_MAGIC:      true,
}

// Leaf reports whether the subdirectory name of d certainly holds no
// directory and no .git (a submodule's or a linked worktree's .git file
// needs no subdirectory): its link count is 2, on a file system that
// counts subdirectories that way, and it is no mount point. A walk that
// wants only directories need not read a leaf; one that watches it must
// add its watch before asking, so that a directory made in it afterwards
// is an event. False when unsure.
func (d *Dir) Leaf(name string) bool {
	if !d.leafChecked {
		d.leafChecked = true
		var fs unix.Statfs_t
		var st unix.Stat_t
		if unix.Fstatfs(d.fd, &fs) == nil && unix.Fstat(d.fd, &st) == nil {
			d.linksCount, d.dev = countsLinks[int64(fs.Type)], uint64(st.Dev)
		}
	}
	if !d.linksCount {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil ||
		st.Mode&unix.S_IFMT != unix.S_IFDIR || uint64(st.Nlink) != 2 || uint64(st.Dev) != d.dev {
		return false
	}
	return unix.Fstatat(d.fd, name+"/.git", &st, unix.AT_SYMLINK_NOFOLLOW) == unix.ENOENT
}
