package watcher

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/windmilleng/pets/internal/dirent"
)

// Names of the ignore files read in every directory under the roots. In one
// directory, .petsignore wins over .gitignore; a deeper directory's files win
// over a shallower one's, as in git.
const (
	GitignoreFile  = ".gitignore"
	PetsignoreFile = ".petsignore"
)

// Matcher says which paths the watcher ignores. It is the one rule set the
// watcher applies, exported so that others can ask the same question:
//
//   - always: version-control directories and editor swap, backup and temp files
//     (see AlwaysIgnored);
//   - the absolute doublestar patterns given to NewMatcher;
//   - the .gitignore and .petsignore files of the directories between a path's
//     git work tree top (or its root, outside git) and the path. Each file
//     applies to its own subtree, with git's precedence.
//
// A path under an ignored directory is ignored: like git, an ignore file cannot
// re-include something whose parent directory is excluded.
//
// Ignore files are read on first use and cached; Forget drops a directory's
// cache after its ignore files changed. A Matcher is safe for concurrent use.
type Matcher struct {
	roots []string // cleaned, absolute
	bases []string // bases[i]: where root i's ignore files start (git top or the root)
	globs []string // slash-separated doublestar patterns

	mu    sync.Mutex
	rules map[string][]gitignore.Pattern // dir -> its patterns, lowest priority first; present = loaded
	warn  func(error)                    // reports unreadable ignore files; nil = drop
}

// NewMatcher returns the matcher for the given absolute roots and absolute
// doublestar patterns.
func NewMatcher(roots, patterns []string) (*Matcher, error) {
	m := &Matcher{rules: make(map[string][]gitignore.Pattern)}
	for _, r := range roots {
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("watcher: root %q is not absolute", r)
		}
		r = filepath.Clean(r)
		m.roots = append(m.roots, r)
		m.bases = append(m.bases, gitTop(r))
	}
	for _, p := range patterns {
		sp := filepath.ToSlash(p)
		if !doublestar.ValidatePattern(sp) {
			return nil, fmt.Errorf("watcher: bad ignore pattern %q", p)
		}
		m.globs = append(m.globs, sp)
	}
	return m, nil
}

// gitTop returns the top of the git work tree holding root, or root itself if
// it is not inside one, so that a repository's top-level .gitignore applies to
// a root deeper inside it.
func gitTop(root string) string {
	for d := root; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return root
		}
		d = parent
	}
}

// Ignored reports whether path, absolute, is ignored; isDir says whether it is
// (or was) a directory, since "build/" in a .gitignore matches only directories.
func (m *Matcher) Ignored(path string, isDir bool) bool {
	path = filepath.Clean(path)
	i := m.rootIndex(path)
	start := filepath.VolumeName(path) + string(filepath.Separator)
	if i >= 0 {
		start = m.roots[i]
	}
	// Every directory strictly between the root and path must be unignored too.
	if rel, err := filepath.Rel(start, path); err == nil && rel != "." {
		d := start
		parts := strings.Split(rel, string(filepath.Separator))
		for _, p := range parts[:len(parts)-1] {
			d = filepath.Join(d, p)
			if m.match(d, true, i) {
				return true
			}
		}
	}
	return m.match(path, isDir, i)
}

// Forget drops what the matcher read from dir's ignore files, so that the next
// question reads them again.
func (m *Matcher) Forget(dir string) {
	m.mu.Lock()
	delete(m.rules, filepath.Clean(dir))
	m.mu.Unlock()
}

// IgnoredIn reports whether path, absolute and clean, is ignored, its parent
// directory being known not to be: what a walk that descends only into the
// directories it keeps asks of each entry, without deciding every parent
// again as Ignored does.
func (m *Matcher) IgnoredIn(path string, isDir bool) bool {
	return m.match(path, isDir, m.rootIndex(path))
}

// Seed tells the matcher what a directory holds, as a walk read it, so that
// a directory without ignore files costs no failed opens.
func (m *Matcher) Seed(dir string, entries []dirent.Entry) {
	for _, e := range entries {
		if n := e.Name; n == GitignoreFile || n == PetsignoreFile {
			return // read them on first use
		}
	}
	m.mu.Lock()
	if _, ok := m.rules[dir]; !ok {
		m.rules[dir] = nil
	}
	m.mu.Unlock()
}

// rootIndex returns the index of the deepest root holding path, or -1.
func (m *Matcher) rootIndex(path string) int {
	best := -1
	for i, r := range m.roots {
		if within(path, r) && (best < 0 || len(r) > len(m.roots[best])) {
			best = i
		}
	}
	return best
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	if !strings.HasPrefix(path, dir) {
		return false
	}
	return strings.HasSuffix(dir, string(filepath.Separator)) || path[len(dir)] == filepath.Separator
}

// match decides path alone, assuming its parent directories are not ignored.
// root is the index of the root holding path, or -1.
func (m *Matcher) match(path string, isDir bool, root int) bool {
	if m.ignoredByName(path, filepath.Base(path)) {
		return true
	}
	if root < 0 {
		return false
	}
	base := m.bases[root]
	rel, err := filepath.Rel(base, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	comps := strings.Split(filepath.ToSlash(rel), "/")
	// Deepest directory first; within a directory, last pattern first.
	d := filepath.Dir(path)
	for {
		if ignored, decided := verdict(m.load(d, base), comps, isDir); decided {
			return ignored
		}
		if d == base || !within(d, base) {
			return false
		}
		d = filepath.Dir(d)
	}
}

// Dir is what deciding the entries of one directory takes, worked out
// once for them all (Matcher.Dir): the directory's root, its path below
// the root's base, and the patterns of it and of each directory above it
// up to the base, deepest first, as match reads them.
type Dir struct {
	m     *Matcher
	root  int
	below bool     // the directory lies within its root's base
	comps []string // its path below the base, in components
	chain [][]gitignore.Pattern
	entry []string // comps and an entry's name: Ignored's, reused (a Dir serves one goroutine)
}

// Dir prepares the decisions on dir's entries (dir clean, not ignored),
// for one goroutine.
func (m *Matcher) Dir(dir string) *Dir {
	d := &Dir{m: m, root: m.rootIndex(dir)}
	if d.root < 0 {
		return d
	}
	base := m.bases[d.root]
	if !within(dir, base) {
		return d
	}
	d.below = true
	if rel, err := filepath.Rel(base, dir); err == nil && rel != "." {
		d.comps = strings.Split(filepath.ToSlash(rel), "/")
	}
	for p := dir; ; p = filepath.Dir(p) {
		d.chain = append(d.chain, m.load(p, base))
		if p == base || !within(p, base) {
			break
		}
	}
	return d
}

// Ignored is Matcher.IgnoredIn(path, isDir) for path, the entry name of
// the directory d was made for.
func (d *Dir) Ignored(path, name string, isDir bool) bool {
	m := d.m
	if len(m.roots) > 1 {
		if i := m.rootIndex(path); i != d.root {
			return m.match(path, isDir, i) // path is a root itself
		}
	}
	if !d.below {
		return m.match(path, isDir, d.root)
	}
	if m.ignoredByName(path, name) {
		return true
	}
	d.entry = append(append(d.entry[:0], d.comps...), name)
	comps := d.entry
	for _, ps := range d.chain {
		if ignored, decided := verdict(ps, comps, isDir); decided {
			return ignored
		}
	}
	return false
}

// ignoredByName says whether path (whose base name is name) is ignored
// whatever the ignore files say: a name always ignored, or a glob.
func (m *Matcher) ignoredByName(path, name string) bool {
	if AlwaysIgnored(name) {
		return true
	}
	if len(m.globs) > 0 {
		sp := filepath.ToSlash(path)
		for _, g := range m.globs {
			if ok, _ := doublestar.Match(g, sp); ok {
				return true
			}
		}
	}
	return false
}

// verdict is what one directory's patterns ps say of comps (a path below
// the base, in components): the last that matches decides; decided is
// false if none does.
func verdict(ps []gitignore.Pattern, comps []string, isDir bool) (ignored, decided bool) {
	for j := len(ps) - 1; j >= 0; j-- {
		switch ps[j].Match(comps, isDir) {
		case gitignore.Exclude:
			return true, true
		case gitignore.Include:
			return false, true
		}
	}
	return false, false
}

// load returns dir's patterns, reading its ignore files the first time.
func (m *Matcher) load(dir, base string) []gitignore.Pattern {
	m.mu.Lock()
	ps, ok := m.rules[dir]
	m.mu.Unlock()
	if ok {
		return ps
	}
	var domain []string
	if rel, err := filepath.Rel(base, dir); err == nil && rel != "." {
		domain = strings.Split(filepath.ToSlash(rel), "/")
	}
	for _, name := range []string{GitignoreFile, PetsignoreFile} {
		got, err := readPatterns(filepath.Join(dir, name), domain)
		if err != nil && m.warn != nil {
			m.warn(err)
		}
		ps = append(ps, got...)
	}
	m.mu.Lock()
	m.rules[dir] = ps
	m.mu.Unlock()
	return ps
}

// readPatterns reads one gitignore-format file; a missing file has no patterns.
func readPatterns(file string, domain []string) ([]gitignore.Pattern, error) {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ignore file: %w", err)
	}
	defer f.Close()
	var ps []gitignore.Pattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	if err := sc.Err(); err != nil {
		return ps, fmt.Errorf("read ignore file %s: %w", file, err)
	}
	return ps, nil
}

// errNotDir is what opening dir/.gitignore returns when dir is no longer a directory.
var errNotDir error = syscall.ENOTDIR

// vcsDirs are the version-control metadata directories (or, for git worktrees
// and submodules, files) never watched.
var vcsDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".bzr": true, "_darcs": true, ".jj": true,
}

// AlwaysIgnored reports whether a base name is one the watcher always ignores,
// whatever the ignore files say: version-control directories and the swap,
// backup and temporary files that editors and tools write next to a file while
// saving it. The list, by writer:
//
//	.git .hg .svn .bzr _darcs .jj    version control
//	.x.swp .x.swo ... .x.swa         vim swap files (.swp, then .swo, .swn, ... on clashes)
//	.x.swx .x.swpx                   vim's probes when creating a swap file
//	4913 5036 5159 ...               vim's "can I create a file here" probe (4913 + 123k)
//	x~                               vim writebackup/backup, emacs backup (also x.~1~)
//	#x#  .#x                         emacs auto-save file and lock symlink
//	x___jb_tmp___ x___jb_old___      JetBrains IDEs' "safe write"
//	x.tmp x.tmp.<pid>.<hex>          atomic save via a .tmp file (many editors and agents)
//	x.vsctmp                         VS Code atomic writes
//	x.crswap                         Chromium-based editors (File System Access API)
//	.x.kate-swp                      Kate swap file
//	.goutputstream-XXXXXX            GLib/GIO g_file_replace (gedit and GNOME apps)
//	sedXXXXXX                        sed -i temp file
//	.DS_Store ._x                    macOS Finder metadata, AppleDouble files
//	.pets-barrier-<pid>-<n>          a Watcher's barrier sentinels (see Watcher.Barrier)
func AlwaysIgnored(name string) bool {
	if vcsDirs[name] {
		return true
	}
	n := len(name)
	switch {
	case n == 0:
		return false
	case name == ".DS_Store", strings.HasPrefix(name, "._"):
		return true
	case isSentinel(name):
		return true
	case name[n-1] == '~':
		return true
	case n > 2 && name[0] == '#' && name[n-1] == '#':
		return true
	case strings.HasPrefix(name, ".#"):
		return true
	case strings.HasSuffix(name, "___jb_tmp___"), strings.HasSuffix(name, "___jb_old___"):
		return true
	case strings.HasSuffix(name, ".tmp"), strings.HasSuffix(name, ".vsctmp"), strings.HasSuffix(name, ".crswap"):
		return true
	case strings.HasPrefix(name, ".goutputstream-"):
		return true
	case name[0] == '.' && strings.HasSuffix(name, ".kate-swp"):
		return true
	}
	return vimSwap(name) || vimProbe(name) || sedTemp(name) || tmpPidHex(name)
}

// vimSwap matches ".x.swp" and the names vim falls back to (.swo ... .swa), plus
// the .swx and .swpx probes.
func vimSwap(name string) bool {
	if name[0] != '.' {
		return false
	}
	if strings.HasSuffix(name, ".swpx") || strings.HasSuffix(name, ".swx") {
		return len(name) > 5
	}
	n := len(name)
	return n > 5 && name[n-4:n-1] == ".sw" && name[n-1] >= 'a' && name[n-1] <= 'p'
}

// vimProbe matches the file vim creates and removes to test whether it may
// write in a directory: 4913, or 4913+123k if that exists (vim's bufwrite.c).
func vimProbe(name string) bool {
	if len(name) < 4 || len(name) > 6 || name[0] == '0' {
		return false
	}
	for _, c := range []byte(name) {
		if c < '0' || c > '9' {
			return false // not a number (and no error to allocate)
		}
	}
	i, err := strconv.Atoi(name)
	return err == nil && i >= 4913 && (i-4913)%123 == 0
}

// sedTemp matches "sed" plus six random letters or digits (GNU sed -i uses
// mkostemp's sedXXXXXX). Six lower-case letters are left alone, so that words
// like "seduction" are not taken for one; 99.5% of real names have an upper-case
// letter or a digit.
func sedTemp(name string) bool {
	if len(name) != 9 || !strings.HasPrefix(name, "sed") {
		return false
	}
	mixed := false
	for _, c := range name[3:] {
		switch {
		case 'a' <= c && c <= 'z':
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			mixed = true
		default:
			return false
		}
	}
	return mixed
}

// tmpPidHex matches "x.tmp.<digits>.<hex>", the atomic-write names of several
// coding agents and Node tools (write-file-atomic and friends).
func tmpPidHex(name string) bool {
	i := strings.LastIndex(name, ".tmp.")
	if i <= 0 {
		return false
	}
	rest := name[i+len(".tmp."):]
	if rest == "" {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == '.') {
			return false
		}
	}
	return true
}
