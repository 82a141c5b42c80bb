package fresh

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"iter"
	"path/filepath"
	"slices"
	"strings"
)

// Files is the files of a manifest, each with its stat, held by directory:
// a directory's path once, then its files' names back to back and a
// fixed-size record per file, sorted by name. That is about 31 bytes a file
// and 150 a directory, where a map of absolute paths to FileStats took
// about 120 bytes a file. The zero Files is empty and ready to use.
type Files struct {
	dirs map[string]*dirFiles // directory (absolute, clean, OS form) -> its files; none empty
	n    int
}

// dirFiles is the files directly in one directory.
type dirFiles struct {
	names []byte    // each name as a uvarint length and its bytes; a removed one's stay, dead
	recs  []fileRec // sorted by name
	dead  int       // bytes of names no record refers to
}

// fileRec is a FileStat and where the file's name lies in names.
type fileRec struct {
	size, mtime int64
	mode        uint32 // fs.FileMode
	name        uint32 // offset in dirFiles.names
}

func (r fileRec) stat() FileStat {
	return FileStat{Size: r.size, MTime: r.mtime, Mode: fs.FileMode(r.mode)}
}

func recOf(st FileStat, name uint32) fileRec {
	return fileRec{size: st.Size, mtime: st.MTime, mode: uint32(st.Mode), name: name}
}

// name returns the name of d.recs[i], sharing d.names.
func (d *dirFiles) name(i int) []byte { return nameAt(d.names, d.recs[i].name) }

// find returns where name is in d.recs, or where it would go.
func (d *dirFiles) find(name string) (int, bool) {
	return slices.BinarySearchFunc(d.recs, name, func(r fileRec, name string) int {
		return compareName(nameAt(d.names, r.name), name)
	})
}

// compareName compares b with s as strings.Compare would, without copying b
// (string(b) in a comparison does not allocate).
func compareName(b []byte, s string) int {
	switch {
	case string(b) == s:
		return 0
	case string(b) < s:
		return -1
	}
	return 1
}

// appendName adds name to d.names and returns its offset.
func (d *dirFiles) appendName(name string) uint32 {
	off := len(d.names)
	d.names = binary.AppendUvarint(d.names, uint64(len(name)))
	d.names = append(d.names, name...)
	return uint32(off)
}

// compact drops the dead names once they are most of d.names.
func (d *dirFiles) compact() {
	if d.dead <= len(d.names)/2 {
		return
	}
	names := make([]byte, 0, len(d.names)-d.dead)
	for i := range d.recs {
		off := len(names)
		names = binary.AppendUvarint(names, uint64(len(d.name(i))))
		names = append(names, d.name(i)...)
		d.recs[i].name = uint32(off)
	}
	d.names, d.dead = names, 0
}

// split returns the directory and the name of path (absolute, clean).
func split(path string) (dir, name string) {
	dir = filepath.Dir(path)
	i := len(dir)
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		i++
	}
	return dir, path[min(i, len(path)):]
}

// join is the path of name in dir, as the walk spells it.
func join(dir string, name []byte) string {
	if strings.HasSuffix(dir, string(filepath.Separator)) {
		return dir + string(name)
	}
	return dir + string(filepath.Separator) + string(name)
}

// Len returns the number of files.
func (f *Files) Len() int { return f.n }

// Get returns the stat of path (absolute, clean), if f holds it.
func (f *Files) Get(path string) (FileStat, bool) {
	dir, name := split(path)
	d := f.dirs[dir]
	if d == nil {
		return FileStat{}, false
	}
	i, ok := d.find(name)
	if !ok {
		return FileStat{}, false
	}
	return d.recs[i].stat(), true
}

// Set records path (absolute, clean) with its stat.
func (f *Files) Set(path string, st FileStat) {
	dir, name := split(path)
	d := f.dirs[dir]
	if d == nil {
		if f.dirs == nil {
			f.dirs = make(map[string]*dirFiles)
		}
		d = &dirFiles{}
		f.dirs[strings.Clone(dir)] = d // not the whole of path
	}
	i, ok := d.find(name)
	if ok {
		d.recs[i] = recOf(st, d.recs[i].name)
		return
	}
	d.recs = slices.Insert(d.recs, i, recOf(st, d.appendName(name)))
	f.n++
}

// Delete removes path (absolute, clean), if f holds it.
func (f *Files) Delete(path string) {
	dir, name := split(path)
	d := f.dirs[dir]
	if d == nil {
		return
	}
	i, ok := d.find(name)
	if !ok {
		return
	}
	n := len(d.name(i))
	d.dead += uvarintLen(n) + n
	d.recs = slices.Delete(d.recs, i, i+1)
	f.n--
	if len(d.recs) == 0 {
		delete(f.dirs, dir)
		return
	}
	d.compact()
}

// dropUnder removes the files below dir (not a file at dir itself).
func (f *Files) dropUnder(dir string) {
	for d, df := range f.dirs {
		if within(d, dir) {
			f.n -= len(df.recs)
			delete(f.dirs, d)
		}
	}
}

// addDir records the files of dir, names[i] with stats[i] (a name given
// twice counts once, the later): one allocation for the names and one for
// the records when f holds nothing in dir yet, as a walk finds it.
func (f *Files) addDir(dir string, names []string, stats []FileStat) {
	if len(names) == 0 {
		return
	}
	dir = filepath.Clean(dir) // as split spells it
	if f.dirs[dir] != nil {
		for i, n := range names {
			f.Set(join(dir, []byte(n)), stats[i])
		}
		return
	}
	size := 0
	for _, n := range names {
		size += uvarintLen(len(n)) + len(n)
	}
	d := &dirFiles{names: make([]byte, 0, size), recs: make([]fileRec, len(names))}
	for i, n := range names {
		d.recs[i] = recOf(stats[i], d.appendName(n))
	}
	slices.SortStableFunc(d.recs, func(a, b fileRec) int {
		return bytes.Compare(nameAt(d.names, a.name), nameAt(d.names, b.name))
	})
	kept := d.recs[:0]
	for i, r := range d.recs {
		if i+1 < len(d.recs) && bytes.Equal(d.name(i), d.name(i+1)) {
			continue // the later one stays
		}
		kept = append(kept, r)
	}
	d.recs = kept
	if f.dirs == nil {
		f.dirs = make(map[string]*dirFiles)
	}
	f.dirs[dir] = d
	f.n += len(d.recs)
}

// nameAt returns the name at off in names (sharing them).
func nameAt(names []byte, off uint32) []byte {
	b := names[off:]
	n, k := binary.Uvarint(b)
	return b[k : k+int(n)]
}

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// All yields every file and its stat, directory by directory in no
// particular order, each directory's files in name order.
func (f *Files) All() iter.Seq2[string, FileStat] {
	return func(yield func(string, FileStat) bool) {
		for dir, d := range f.dirs {
			for i := range d.recs {
				if !yield(join(dir, d.name(i)), d.recs[i].stat()) {
					return
				}
			}
		}
	}
}

// sortedDirs returns f's directories, sorted.
func (f *Files) sortedDirs() []string {
	dirs := make([]string, 0, len(f.dirs))
	for d := range f.dirs {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return dirs
}
