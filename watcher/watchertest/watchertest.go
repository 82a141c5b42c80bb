// Package watchertest builds file trees and git fixtures for the watcher's
// tests and benchmarks, and reads the process's peak memory. It is imported by
// tests and by benchmark programs, never by pets itself.
package watchertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// MakeTree writes files files under dir, perDir to a directory, in
// directories nested two deep (dir/d0003/d0012/f0042.txt), and returns the
// number of directories it made, dir included.
func MakeTree(dir string, files, perDir int) (dirs int, err error) {
	if perDir <= 0 {
		return 0, errors.New("watchertest: perDir must be positive")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	dirs = 1
	made := map[string]bool{}
	for i := 0; i < files; i++ {
		n := i / perDir
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", n/32), fmt.Sprintf("d%04d", n%32))
		if !made[sub] {
			if !made[filepath.Dir(sub)] {
				made[filepath.Dir(sub)] = true
				dirs++
			}
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return dirs, err
			}
			made[sub] = true
			dirs++
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.txt", i)), []byte("x\n"), 0o644); err != nil {
			return dirs, err
		}
	}
	return dirs, nil
}

// GitRepo is a git work tree with two branches, "a" and "b", that differ in
// the contents of every file listed in Changed (absolute paths).
type GitRepo struct {
	Dir     string
	Changed []string
}

// MakeGitRepo makes a repository in dir with files files spread over
// directories of perDir files, commits them on branch "a", rewrites them all
// on branch "b", and leaves branch "a" checked out. It needs git in PATH.
func MakeGitRepo(dir string, files, perDir int) (*GitRepo, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, err
	}
	if _, err := MakeTree(dir, files, perDir); err != nil {
		return nil, err
	}
	r := &GitRepo{Dir: dir}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r.Changed = append(r.Changed, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	steps := [][]string{
		{"init", "-q", "-b", "a"},
		{"add", "-A"},
		{"commit", "-q", "-m", "a"},
		{"checkout", "-q", "-b", "b"},
	}
	for _, s := range steps {
		if err := r.git(s...); err != nil {
			return nil, err
		}
	}
	for _, p := range r.Changed {
		if err := os.WriteFile(p, []byte("y\n"), 0o644); err != nil {
			return nil, err
		}
	}
	for _, s := range [][]string{{"commit", "-q", "-am", "b"}, {"checkout", "-q", "a"}} {
		if err := r.git(s...); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Checkout runs git checkout of branch ("a" or "b").
func (r *GitRepo) Checkout(branch string) error { return r.git("checkout", "-q", branch) }

// Git runs git with args in the work tree, with a fixed identity and no
// user or system configuration, and returns its output.
func (r *GitRepo) Git(args ...string) (string, error) { return Git(r.Dir, args...) }

func (r *GitRepo) git(args ...string) error {
	_, err := Git(r.Dir, args...)
	return err
}

// Git runs git with args in dir, with a fixed identity and no user or system
// configuration, and returns its output.
func Git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=pets", "GIT_AUTHOR_EMAIL=pets@example.invalid",
		"GIT_COMMITTER_NAME=pets", "GIT_COMMITTER_EMAIL=pets@example.invalid",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_EDITOR=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ResetPeakRSS resets the process's peak resident set size (Linux 4.0+), so
// that PeakRSS measures from here on.
func ResetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM, Linux).
func PeakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("watchertest: no VmHWM in /proc/self/status")
}
