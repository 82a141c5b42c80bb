package fresh

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
	"github.com/windmilleng/pets/watcher/watchertest"
)

// BenchmarkFresh measures, on a 100,000-file tree (1,000 directories of 100
// files) next to a 50,000-file node_modules that .gitignore excludes:
//
//	floor         a plain sequential readdir+lstat of the 100,000 files
//	walk/1        Walk of one service owning the tree
//	walk/5        Walk of five services of one Petsfile (each owning it all)
//	update        Update with 10 changed files
//	diff          Diff (a walk and a comparison) with nothing changed
//	save, load    a 100,000-file manifest to and from its file
//
// and reports the live heap of the manifests (walked or loaded), the peak RSS
// of the walks and the manifest file's size. To reproduce:
//
//	go test -run '^$' -bench BenchmarkFresh -benchtime 10x -count 5 ./fresh/
func BenchmarkFresh(b *testing.B) {
	root, err := filepath.EvalSymlinks(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := watchertest.MakeTree(filepath.Join(root, "src"), 100_000, 100); err != nil {
		b.Fatal(err)
	}
	if _, err := watchertest.MakeTree(filepath.Join(root, "node_modules"), 50_000, 100); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("node_modules/\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	specs := func(n int) []Spec {
		var owners []rebuild.Owner
		for i := range n {
			owners = append(owners, rebuild.Owner{Key: petsfile.Key{Name: fmt.Sprint("s", i), Tier: "local"}, Dir: filepath.ToSlash(root)})
		}
		var out []Spec
		for _, o := range owners {
			out = append(out, Spec{Key: o.Key, Owners: owners, Ignore: []string{filepath.ToSlash(root) + "/.pets/**"}, Skip: []string{filepath.Join(root, "Petsfile")}})
		}
		return out
	}
	b.Run("floor", func(b *testing.B) {
		// What any stat walk of src costs: readdir and lstat, sequential,
		// no ignore rules, no ownership.
		for b.Loop() {
			n := 0
			err := filepath.WalkDir(filepath.Join(root, "src"), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if _, err := os.Lstat(p); err == nil {
						n++
					}
				}
				return err
			})
			if err != nil || n != 100_000 {
				b.Fatal(n, err)
			}
		}
	})
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprint("walk/", n), func(b *testing.B) {
			s := specs(n)
			runtime.GC()
			watchertest.ResetPeakRSS()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var ms map[petsfile.Key]*Manifest
			for b.Loop() {
				ms = nil
				var err error
				if ms, err = Walk(s); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			for _, m := range ms {
				if m.Files.Len() != 100_001 {
					b.Fatalf("%d files, want 100001 (with .gitignore)", m.Files.Len())
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "manifests-MiB")
			if peak, err := watchertest.PeakRSS(); err == nil {
				b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			}
			runtime.KeepAlive(ms)
		})
	}
	ms, err := Walk(specs(1))
	if err != nil {
		b.Fatal(err)
	}
	m := ms[specs(1)[0].Key]
	b.Run("update", func(b *testing.B) {
		var changed []string
		for i := range 10 {
			f := filepath.Join(root, "src", "d0003", fmt.Sprintf("d%04d", i), fmt.Sprintf("f%05d.txt", (96+i)*100))
			if err := os.WriteFile(f, []byte("changed\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			changed = append(changed, f)
		}
		for b.Loop() {
			if err := m.Update(changed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("diff", func(b *testing.B) {
		for b.Loop() {
			d, err := Diff(m)
			if err != nil || !d.Empty() {
				b.Fatal(d, err)
			}
		}
	})
	stateDir := b.TempDir()
	var rel string
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if rel, err = m.Save(stateDir); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(filepath.Join(stateDir, filepath.FromSlash(rel)))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	})
	b.Run("load", func(b *testing.B) {
		var got *Manifest
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			got = nil
			var err error
			if got, err = Load(stateDir, rel); err != nil || got.Files.Len() != m.Files.Len() {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "manifest-MiB")
		runtime.KeepAlive(got)
	})
}
