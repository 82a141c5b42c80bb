package petsfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// LockName is the file, beside the root Petsfile, that pins go-get:// loads.
const LockName = "Petsfile.lock"

// lockFile pins module versions: one "module version" line each.
type lockFile struct {
	path     string
	versions map[string]string
	dirty    bool
}

func readLock(path string) (*lockFile, error) {
	lf := &lockFile{path: path, versions: map[string]string{}}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return lf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", LockName, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"module version\", got %q", path, n, line)
		}
		lf.versions[f[0]] = f[1]
	}
	return lf, nil
}

func (lf *lockFile) write() error {
	if !lf.dirty {
		return nil
	}
	mods := make([]string, 0, len(lf.versions))
	for m := range lf.versions {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	var b strings.Builder
	b.WriteString("# Versions of go-get:// loads, pinned by pets. Delete a line to re-resolve @latest.\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "%s %s\n", m, lf.versions[m])
	}
	tmp := lf.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", LockName, err)
	}
	return os.Rename(tmp, lf.path)
}

type goModDownload struct {
	Path    string
	Version string
	Dir     string
	Error   string
}

// goGet fetches the module holding importPath into the module cache and
// returns the directory of importPath inside it.
func (l *loader) goGet(importPath string) (string, error) {
	importPath = strings.Trim(importPath, "/")
	if importPath == "" || strings.Contains(importPath, "@") || strings.Contains(importPath, "..") {
		return "", fmt.Errorf("load \"go-get://%s\": want go-get://host/path (the version is pinned in %s, not in the path)", importPath, LockName)
	}
	if l.lock == nil {
		lf, err := readLock(filepath.Join(l.root, LockName))
		if err != nil {
			return "", err
		}
		l.lock = lf
	}
	// The module may be importPath itself or a prefix of it.
	var firstErr error
	elems := strings.Split(importPath, "/")
	for n := len(elems); n >= 1; n-- {
		mod := strings.Join(elems[:n], "/")
		dir, err := l.download(mod)
		if err == nil {
			return filepath.Join(append([]string{dir}, elems[n:]...)...), nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if _, pinned := l.lock.versions[mod]; pinned {
			break // a pinned module that fails to download is the answer
		}
	}
	return "", firstErr
}

func (l *loader) download(mod string) (string, error) {
	version, pinned := l.lock.versions[mod]
	if !pinned {
		version = "latest"
	}
	tmp, err := os.MkdirTemp("", "pets-go-get-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Run outside any module so the user's go.mod does not interfere; the
	// environment (GOPROXY, GOFLAGS, GOPRIVATE, ...) is inherited.
	cmd := exec.CommandContext(l.ctx, l.goCmd, "mod", "download", "-json", mod+"@"+version)
	cmd.Dir = tmp
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res goModDownload
	_ = json.Unmarshal(stdout.Bytes(), &res)
	if runErr != nil || res.Error != "" || res.Dir == "" {
		msg := strings.TrimSpace(res.Error)
		if s := strings.TrimSpace(stderr.String()); s != "" {
			if msg != "" {
				msg += "\n"
			}
			msg += s
		}
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return "", fmt.Errorf("load \"go-get://%s\": go mod download %s@%s failed:\n%s", mod, mod, version, msg)
	}
	if !pinned {
		l.lock.versions[mod] = res.Version
		l.lock.dirty = true
		if err := l.lock.write(); err != nil {
			return "", err
		}
	}
	return res.Dir, nil
}
