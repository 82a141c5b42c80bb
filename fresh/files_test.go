package fresh

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io/fs"
	"maps"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFilesAgainstAMap: random Sets, Deletes, dropUnders and addDirs give
// what a map of paths gives, and compare says what a comparison of two such
// maps says.
func TestFilesAgainstAMap(t *testing.T) {
	sep := string(filepath.Separator)
	root := filepath.Clean(sep) // a root's files live in a directory that ends in a separator
	dirs := []string{root, filepath.Join(root, "a"), filepath.Join(root, "a", "b"), filepath.Join(root, "ab"), filepath.Join(root, "a", "b", "c")}
	names := []string{"x", "y", "xy", "a", "b", "é", strings.Repeat("long", 50), "x.go", "_"}
	rng := rand.New(rand.NewSource(1))
	stat := func() FileStat {
		return FileStat{Size: rng.Int63n(3), MTime: rng.Int63n(3) - 1, Mode: []fs.FileMode{0o644, fs.ModeSymlink | 0o777, fs.ModeSetuid | 0o755}[rng.Intn(3)]}
	}
	var f, old Files
	want, oldWant := map[string]FileStat{}, map[string]FileStat{}
	for step := range 5000 {
		dir := dirs[rng.Intn(len(dirs))]
		p := filepath.Join(dir, names[rng.Intn(len(names))])
		var did string
		switch op := rng.Intn(10); {
		case op < 5:
			st := stat()
			f.Set(p, st)
			want[p] = st
			did = "Set " + p
		case op < 8:
			f.Delete(p)
			delete(want, p)
			did = "Delete " + p
		case op < 9:
			f.dropUnder(dir)
			for q := range want {
				if q != dir && within(q, dir) {
					delete(want, q)
				}
			}
			did = "dropUnder " + dir
		default:
			// A directory's files at once, a name given twice (the later wins).
			var ns []string
			var sts []FileStat
			for range rng.Intn(4) {
				n := names[rng.Intn(len(names))]
				st := stat()
				ns, sts = append(ns, n), append(sts, st)
				want[filepath.Join(dir, n)] = st
			}
			f.addDir(dir, ns, sts)
			did = fmt.Sprint("addDir ", dir, ns)
		}
		got := asMap(&f)
		if !maps.Equal(got, want) {
			t.Fatalf("step %d (%s): Files holds %v, want %v", step, did, got, want)
		}
		for q, st := range want {
			if g, ok := f.Get(q); !ok || g != st {
				t.Fatalf("step %d (%s): Get(%s) = %v %v, want %v", step, did, q, g, ok, st)
			}
		}
		if step%7 == 0 {
			if d, w := compare(&old, &f), mapDrift(oldWant, want); fmt.Sprint(d) != fmt.Sprint(w) {
				t.Fatalf("step %d: compare = %v, want %v", step, d, w)
			}
			old, oldWant = *copyFiles(&f), maps.Clone(want)
		}
	}
}

// TestFilesAddDirSorts: a directory given in the order readdir gives finds
// every name.
func TestFilesAddDirSorts(t *testing.T) {
	var f Files
	dir := filepath.Join(string(filepath.Separator), "d")
	ns := []string{"f3", "f10", "f1", "f20", "f2"}
	sts := make([]FileStat, len(ns))
	for i := range sts {
		sts[i].Size = int64(i)
	}
	f.addDir(dir, ns, sts)
	for i, n := range ns {
		if st, ok := f.Get(filepath.Join(dir, n)); !ok || st.Size != int64(i) {
			t.Errorf("Get(%s) = %v %v, want size %d", n, st, ok, i)
		}
	}
	if f.Len() != len(ns) {
		t.Errorf("Len = %d, want %d", f.Len(), len(ns))
	}
}

// mapDrift is compare on maps of paths.
func mapDrift(then, now map[string]FileStat) Drift {
	var d Drift
	for p, st := range now {
		if old, ok := then[p]; !ok {
			d.Added = append(d.Added, p)
		} else if old != st {
			d.Changed = append(d.Changed, p)
		}
	}
	for p := range then {
		if _, ok := now[p]; !ok {
			d.Removed = append(d.Removed, p)
		}
	}
	slices.Sort(d.Changed)
	slices.Sort(d.Added)
	slices.Sort(d.Removed)
	return d
}

func copyFiles(f *Files) *Files {
	var c Files
	for p, st := range f.All() {
		c.Set(p, st)
	}
	return &c
}

// TestLoadAnyOrder: a manifest file whose files are in no order (as an
// older pets wrote them, in a map's order) loads as the one pets writes.
func TestLoadAnyOrder(t *testing.T) {
	p := newProject(t)
	m := p.walk(t)[key("api")]
	paths := slices.Collect(maps.Keys(asMap(&m.Files)))
	rand.New(rand.NewSource(2)).Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	// The format of format.go, the files in the order of paths.
	header := mustJSON(m.Spec.file(m.Taken))
	b := append([]byte(magic), binary.AppendUvarint(nil, uint64(len(header)))...)
	b = append(b, header...)
	b = binary.AppendUvarint(b, uint64(len(paths)))
	prev, prevTime := "", int64(0)
	for _, path := range paths {
		st, _ := m.Files.Get(path)
		n := common([]byte(prev), []byte(path))
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, uint64(len(path)-n))
		b = append(b, path[n:]...)
		b = binary.AppendUvarint(b, uint64(st.Size))
		b = binary.AppendVarint(b, st.MTime-prevTime)
		b = binary.AppendUvarint(b, uint64(st.Mode))
		prev, prevTime = path, st.MTime
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli()))
	got, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(asMap(&got.Files), asMap(&m.Files)) {
		t.Errorf("loaded %v, want %v", asMap(&got.Files), asMap(&m.Files))
	}
	if len(paths) < 5 || slices.IsSorted(paths) {
		t.Fatalf("%d paths, sorted: the test tests nothing", len(paths))
	}
}
