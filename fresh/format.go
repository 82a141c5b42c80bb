package fresh

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
)

// The manifest file, <state dir>/fresh/NAME-TIER.manifest:
//
//	magic      "pets fresh 1\n"
//	header     uvarint length, then JSON: the Spec (owners without sync
//	           rules) and when the manifest was taken
//	count      uvarint: the number of files
//	files      in any order (pets writes them sorted by directory, then
//	           name), each: uvarint bytes shared with the
//	           previous path, uvarint length of the rest, the rest (absolute,
//	           OS form), uvarint size, zigzag varint of the modification
//	           time (ns) minus the previous file's, uvarint mode (fs.FileMode)
//	checksum   CRC-32C of everything above, 4 bytes little-endian
//
// A file that does not parse, or whose checksum is wrong, is an error: pets
// then cannot tell whether the service is fresh, and says so.
const magic = "pets fresh 1\n"

// Dir is the state directory's subdirectory that holds the manifests.
const Dir = "fresh"

// castagnoli is made on first use: building its tables at init cost every
// pets command (pets list too) about 0.2 ms.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// fileSpec is a Spec as the manifest file spells it.
type fileSpec struct {
	Key    keyJSON     `json:"key"`
	Owners []ownerJSON `json:"owners"`
	Ignore []string    `json:"ignore,omitempty"`
	Skip   []string    `json:"skip,omitempty"`
	Taken  time.Time   `json:"taken"`
}

type keyJSON struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

type ownerJSON struct {
	Key    keyJSON  `json:"key"`
	Dir    string   `json:"dir"`
	Watch  []string `json:"watch,omitempty"`
	Ignore []string `json:"ignore,omitempty"`
}

func (s Spec) file(taken time.Time) fileSpec {
	f := fileSpec{Key: keyJSON(s.Key), Ignore: s.Ignore, Skip: s.Skip, Taken: taken}
	for _, o := range s.Owners {
		f.Owners = append(f.Owners, ownerJSON{Key: keyJSON(o.Key), Dir: o.Dir, Watch: o.Watch, Ignore: o.Ignore})
	}
	return f
}

func (f fileSpec) spec() Spec {
	s := Spec{Key: petsfile.Key(f.Key), Ignore: f.Ignore, Skip: f.Skip}
	for _, o := range f.Owners {
		s.Owners = append(s.Owners, rebuild.Owner{Key: petsfile.Key(o.Key), Dir: o.Dir, Watch: o.Watch, Ignore: o.Ignore})
	}
	return s
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain strings and times only
	}
	return b
}

// Rel returns where the manifest of k lives, relative to the state directory
// (slash-separated, as state.Stamp.Manifest records it).
func Rel(k petsfile.Key) string { return Dir + "/" + k.String() + ".manifest" }

// Save writes m to its file under stateDir, atomically (a temporary file
// renamed over it; not fsynced, like state.json: it describes running
// processes, which no power loss leaves running), and returns the file's
// path relative to stateDir.
func (m *Manifest) Save(stateDir string) (string, error) {
	rel := Rel(m.Spec.Key)
	if !filepath.IsLocal(filepath.FromSlash(rel)) || strings.ContainsAny(m.Spec.Key.String(), `/\`) {
		return "", fmt.Errorf("fresh: cannot save the manifest of %s: not a file name", m.Spec.Key)
	}
	dir := filepath.Join(stateDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("fresh: save manifest: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".manifest-*")
	if err != nil {
		return "", fmt.Errorf("fresh: save manifest: %w", err)
	}
	err = m.encode(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(stateDir, filepath.FromSlash(rel)))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("fresh: save manifest: %w", err)
	}
	return rel, nil
}

// encode writes m to w in the manifest file format, directory by directory
// in sorted order (a path shares most of the previous one), through a small
// buffer rather than the whole file in memory.
func (m *Manifest) encode(w io.Writer) error {
	sum := crc32.New(castagnoli())
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	header := mustJSON(m.Spec.file(m.Taken))
	b := append([]byte(magic), binary.AppendUvarint(nil, uint64(len(header)))...)
	b = append(b, header...)
	b = binary.AppendUvarint(b, uint64(m.Files.Len()))
	bw.Write(b)
	var prev, p []byte
	prevTime := int64(0)
	for _, dir := range m.Files.sortedDirs() {
		d := m.Files.dirs[dir]
		for i := range d.recs {
			p = append(p[:0], dir...)
			if !strings.HasSuffix(dir, string(filepath.Separator)) {
				p = append(p, filepath.Separator)
			}
			p = append(p, d.name(i)...)
			n := common(prev, p)
			b = binary.AppendUvarint(b[:0], uint64(n))
			b = binary.AppendUvarint(b, uint64(len(p)-n))
			b = append(b, p[n:]...)
			b = binary.AppendUvarint(b, uint64(d.recs[i].size))
			b = binary.AppendVarint(b, d.recs[i].mtime-prevTime)
			b = binary.AppendUvarint(b, uint64(d.recs[i].mode))
			bw.Write(b)
			prev, p, prevTime = p, prev, d.recs[i].mtime
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, sum.Sum32()))
	return err
}

// common returns the length of the longest common prefix of a and b.
func common(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// Load reads the manifest at rel (as Save returned it) under stateDir.
func Load(stateDir, rel string) (*Manifest, error) {
	local := filepath.FromSlash(rel)
	if !filepath.IsLocal(local) {
		return nil, fmt.Errorf("fresh: load manifest: %q is not inside the state directory", rel)
	}
	b, err := os.ReadFile(filepath.Join(stateDir, local))
	if err != nil {
		return nil, fmt.Errorf("fresh: load manifest: %w", err)
	}
	m, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("fresh: load manifest %s: %w", rel, err)
	}
	return m, nil
}

var errCorrupt = errors.New("not a manifest, or a damaged one")

// decode parses the manifest file format.
func decode(b []byte) (*Manifest, error) {
	if len(b) < len(magic)+4 || string(b[:len(magic)]) != magic {
		return nil, errCorrupt
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli()) != sum {
		return nil, fmt.Errorf("%w (checksum)", errCorrupt)
	}
	r := reader{b: body[len(magic):]}
	header := r.bytes(r.uvarint())
	var f fileSpec
	if r.bad {
		return nil, errCorrupt
	}
	if err := json.Unmarshal(header, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every file takes several bytes
		return nil, errCorrupt
	}
	// All paths go into one buffer and then one string, which the map
	// keys share: one allocation instead of one per file.
	ends := make([]int, 0, n)
	stats := make([]FileStat, 0, n)
	buf := make([]byte, 0, 4*len(r.b))
	start, prevTime := 0, int64(0)
	for i := uint64(0); i < n && !r.bad; i++ {
		shared, rest := r.uvarint(), r.bytes(r.uvarint())
		if shared > uint64(len(buf)-start) {
			return nil, errCorrupt
		}
		next := len(buf)
		buf = append(buf, buf[start:start+int(shared)]...)
		buf = append(buf, rest...)
		start = next
		size := r.uvarint()
		prevTime += r.varint()
		mode := r.uvarint()
		ends = append(ends, len(buf))
		stats = append(stats, FileStat{Size: int64(size), MTime: prevTime, Mode: os.FileMode(mode)})
	}
	if r.bad || len(r.b) != 0 {
		return nil, errCorrupt
	}
	// Each directory's files go into the manifest at once: pets writes them
	// sorted by directory; a file in another order is sorted first.
	all := string(buf)
	type ent struct {
		dir, name string
		st        FileStat
	}
	ents := make([]ent, len(ends))
	start = 0
	for i, end := range ends {
		ents[i].dir, ents[i].name = split(all[start:end])
		ents[i].st = stats[i]
		start = end
	}
	byDir := func(a, b ent) int { return strings.Compare(a.dir, b.dir) }
	if !slices.IsSortedFunc(ents, byDir) {
		slices.SortStableFunc(ents, byDir)
	}
	m := &Manifest{Spec: f.spec(), Taken: f.Taken}
	var names []string
	for i := 0; i < len(ents); {
		j := i + 1
		for j < len(ents) && ents[j].dir == ents[i].dir {
			j++
		}
		names, stats = names[:0], stats[:0]
		for _, e := range ents[i:j] {
			names, stats = append(names, e.name), append(stats, e.st)
		}
		m.Files.addDir(strings.Clone(ents[i].dir), names, stats)
		i = j
	}
	return m, nil
}

// reader reads varints and byte strings; bad is set at the first misfit,
// and from then on it reads zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
