//go:build !windows

package control

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func ok(context.Context, Request, func(Reply) error) error { return nil }

func TestSocketFileIs0600WhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0) // the widest a bind could create it with: 0777
	defer syscall.Umask(old)
	dir := t.TempDir()
	s, err := Listen(dir, HandlerFunc(ok))
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(dir, "watch-"+strconv.Itoa(os.Getpid())+".sock"); s.Path() != want {
		t.Errorf("Path() = %s, want %s", s.Path(), want)
	}
	fi, err := os.Lstat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file mode %v, want a socket with 0600", fi.Mode())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("state directory holds %q, want only the socket (no staging directory left)", names)
	}
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

// longDir returns a state directory whose socket path cannot fit sun_path,
// and points TMPDIR at a fresh short directory (t.TempDir's names grow with
// the test's).
func longDir(t *testing.T) (dir, tmp string) {
	tmp, err := os.MkdirTemp("", "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	dir = filepath.Join(t.TempDir(), strings.Repeat("a-rather-long-directory-name-", 5))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if fits(filepath.Join(dir, "watch-1.sock")) {
		t.Fatalf("%s is not too long for a socket", dir)
	}
	return dir, tmp
}

func TestLongDirFallsBackToPrivateDir(t *testing.T) {
	dir, tmp := longDir(t)
	s, err := Listen(dir, HandlerFunc(ok))
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(tmp, "pets-"+strconv.Itoa(os.Geteuid()))
	if filepath.Dir(s.Path()) != priv {
		t.Errorf("Path() = %s, want a socket in %s", s.Path(), priv)
	}
	if !fits(s.Path()) {
		t.Errorf("fallback path %s does not fit a socket address", s.Path())
	}
	fi, err := os.Lstat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("fallback directory mode %v, want a 0700 directory", fi.Mode())
	}
	if fi, err := os.Lstat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file: %v, %v; want mode 0600", fi, err)
	}
	if err := Do(context.Background(), s.Path(), Request{Op: "list"}, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
	// The same directory and pid: the same path; another dir: another one.
	if p, _, _ := socketPath(dir, os.Getpid()); p != s.Path() {
		t.Errorf("socketPath again = %s, want %s", p, s.Path())
	}
	if p, _, _ := socketPath(dir+"x", os.Getpid()); p == s.Path() {
		t.Errorf("two state directories share the fallback socket %s", p)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(s.Path()); !os.IsNotExist(err) {
		t.Errorf("socket file after Close: %v", err)
	}
}

func TestFallbackDirRefusedUnlessPrivate(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, priv string)
		want  string
	}{
		{"group and others may use it", func(t *testing.T, priv string) {
			mkdir(t, priv, 0o755)
		}, "not 0700"},
		{"another owner", func(t *testing.T, priv string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			mkdir(t, priv, 0o700)
			if err := os.Chown(priv, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, "belongs to uid 65534"},
		{"a symlink to a directory", func(t *testing.T, priv string) {
			target := t.TempDir()
			if err := os.Chmod(target, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, priv); err != nil {
				t.Fatal(err)
			}
		}, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, tmp := longDir(t)
			c.setup(t, filepath.Join(tmp, "pets-"+strconv.Itoa(os.Geteuid())))
			s, err := Listen(dir, HandlerFunc(ok))
			if err == nil {
				s.Close()
				t.Fatal("Listen used a fallback directory that is not private")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Listen: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func mkdir(t *testing.T, d string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(d, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, perm); err != nil {
		t.Fatal(err)
	}
}
