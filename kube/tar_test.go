package kube

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestCleanRel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.txt", "a.txt"},
		{"dir/a.txt", "dir/a.txt"},
		{"./dir//a.txt", "dir/a.txt"},
		{"a/../b", "b"},
		{"..a", "..a"}, // a name starting with dots is fine
		{"a/..b/c", "a/..b/c"},
		{"../x", ""},
		{"a/../../x", ""},
		{"..", ""},
		{"/etc/passwd", ""},
		{".", ""},
		{"a/..", ""},
		{"", ""},
	} {
		got, err := CleanRel(tc.in)
		if tc.want == "" {
			var ue *UnsafePathError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafePath) || ue.Path != tc.in {
				t.Errorf("CleanRel(%q) = %q, %v; want an *UnsafePathError", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CleanRel(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

type entry struct {
	typ      byte
	mode     int64
	body     string
	linkname string
}

func readTar(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	got := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		got[h.Name] = entry{typ: h.Typeflag, mode: h.Mode, body: string(body), linkname: h.Linkname}
	}
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatal(err)
	}
}

func TestWriteTar(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("modes and symlinks differ on Windows")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "www/index.html"), "<h1>hi</h1>\n", 0o644)
	writeFile(t, filepath.Join(root, "bin/run.sh"), "#!/bin/sh\necho run\n", 0o755)
	writeFile(t, filepath.Join(root, "secret.txt"), "s\n", 0o600)
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink("index.html", filepath.Join(root, "www/home.html")))
	must(t, os.Symlink("../bin/run.sh", filepath.Join(root, "www/run")))
	must(t, os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(root, "www/abs-inside")))
	must(t, os.Symlink("www", filepath.Join(root, "site"))) // a directory link inside root

	var buf bytes.Buffer
	files := []string{"www/index.html", "bin/run.sh", "secret.txt", "empty", "www/home.html", "www/run", "www/abs-inside", "site/index.html", "./bin/../bin/run.sh"}
	if err := WriteTar(&buf, root, files); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, buf.Bytes())
	want := map[string]entry{
		"www/index.html":  {typ: tar.TypeReg, mode: 0o644, body: "<h1>hi</h1>\n"},
		"bin/run.sh":      {typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\necho run\n"},
		"secret.txt":      {typ: tar.TypeReg, mode: 0o600, body: "s\n"},
		"empty/":          {typ: tar.TypeDir, mode: 0o750},
		"www/home.html":   {typ: tar.TypeSymlink, mode: 0o777, linkname: "index.html"},
		"www/run":         {typ: tar.TypeSymlink, mode: 0o777, linkname: "../bin/run.sh"},
		"www/abs-inside":  {typ: tar.TypeSymlink, mode: 0o777, linkname: "../secret.txt"}, // made relative
		"site/index.html": {typ: tar.TypeReg, mode: 0o644, body: "<h1>hi</h1>\n"},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (present %v), want %+v", name, g, ok, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected entry %s", name)
		}
	}
}

func TestWriteTarRefusesEscapes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges on Windows")
	}
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), "outside\n", 0o644)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "ok.txt"), "ok\n", 0o644)
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "passwd")))
	must(t, os.Symlink("../"+filepath.Base(outside)+"/secret", filepath.Join(root, "rel-out")))
	must(t, os.Symlink(outside, filepath.Join(root, "outdir")))
	must(t, os.Symlink("hop2", filepath.Join(root, "hop1"))) // a chain: hop1 -> hop2 -> /etc
	must(t, os.Symlink("/etc", filepath.Join(root, "hop2")))

	for _, tc := range []struct {
		file string
		why  string
	}{
		{"../x", "climbs out of its root"},
		{"a/../../x", "climbs out of its root"},
		{"/etc/passwd", "absolute path"},
		{"passwd", "symlink to /etc/passwd, outside"},
		{"rel-out", "symlink to ../"},
		{"outdir", "symlink to " + outside},
		{"outdir/secret", "its directory leads out of"}, // never read through a link out of root
		{"hop1", "which leads to /etc"},
		{"hop1/passwd", "its directory leads out of"},
	} {
		var buf bytes.Buffer
		err := WriteTar(&buf, root, []string{"ok.txt", tc.file})
		var ue *UnsafePathError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafePath) {
			t.Errorf("WriteTar(%q) = %v, want an *UnsafePathError", tc.file, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("WriteTar(%q) = %q, want it to say %q", tc.file, err, tc.why)
		}
		if strings.Contains(buf.String(), "outside\n") {
			t.Errorf("WriteTar(%q) wrote the outside file's content", tc.file)
		}
	}

	var buf bytes.Buffer
	if err := WriteTar(&buf, root, []string{"missing.txt"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestSyncCommand(t *testing.T) {
	argv, err := SyncCommand("/app/www/", []string{"old.txt", "./gone/dir"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sh", "-c", syncScript, "sh", "/app/www", "old.txt", "gone/dir"}; !slices.Equal(argv, want) {
		t.Errorf("argv = %q, want %q", argv, want)
	}
	if _, err := SyncCommand("app", nil); err == nil {
		t.Error("relative container dir accepted")
	}
	for _, bad := range []string{"../etc/passwd", "/etc/passwd", ".", ""} {
		if _, err := SyncCommand("/app", []string{bad}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("delete %q: %v, want ErrUnsafePath", bad, err)
		}
	}
	long := make([]string, 0, 3000)
	for range 3000 {
		long = append(long, strings.Repeat("x", 30))
	}
	if _, err := SyncCommand("/app", long); !errors.Is(err, ErrTooManyDeletes) {
		t.Errorf("90 KB of deletes: %v, want ErrTooManyDeletes", err)
	}
}

// TestSyncScriptWithBusybox runs the container-side command locally with busybox, the
// shell and tar of the test cluster's image, to pin down what it does with the tar WriteTar
// makes and with hostile names WriteTar would never make.
func TestSyncScriptWithBusybox(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on PATH (apt-get install busybox-static)")
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "new/a.txt"), "new a\n", 0o640)
	writeFile(t, filepath.Join(src, "b.sh"), "#!/bin/sh\n", 0o755)

	base := t.TempDir()
	dest := filepath.Join(base, "app", "www") // does not exist yet: the script creates it
	writeFile(t, filepath.Join(dest, "old.txt"), "old\n", 0o644)
	writeFile(t, filepath.Join(dest, "olddir/x"), "x\n", 0o644)
	writeFile(t, filepath.Join(dest, "keep.txt"), "keep\n", 0o644)
	writeFile(t, filepath.Join(base, "victim"), "victim\n", 0o644)

	var tarball bytes.Buffer
	must(t, WriteTar(&tarball, src, []string{"new/a.txt", "b.sh"}))
	run := func(dir string, deletes []string, stdin []byte) (string, error) {
		argv, err := SyncCommand(dir, deletes)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(busybox, argv...)
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Env = []string{"PATH=" + busyboxPath(t, busybox)}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(dest, []string{"old.txt", "olddir", "never-existed"}, tarball.Bytes()); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	for path, want := range map[string]string{"new/a.txt": "new a\n", "b.sh": "#!/bin/sh\n", "keep.txt": "keep\n"} {
		b, err := os.ReadFile(filepath.Join(dest, path))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", path, b, err, want)
		}
	}
	for path, mode := range map[string]os.FileMode{"new/a.txt": 0o640, "b.sh": 0o755} {
		if fi, err := os.Stat(filepath.Join(dest, path)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, mode)
		}
	}
	for _, gone := range []string{"old.txt", "olddir"} {
		if _, err := os.Lstat(filepath.Join(dest, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s not deleted: %v", gone, err)
		}
	}

	// A hand-made hostile tar (WriteTar refuses to make one): busybox tar strips "../", and
	// defers a link out until after the other members, so nothing lands outside dest. (It
	// does follow such a link in a later tar: the Go side is the real guard.)
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	for _, h := range []*tar.Header{
		{Name: "../victim", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "../../victim", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "../..", Mode: 0o777},
	} {
		must(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte("evil\n"))
			must(t, err)
		}
	}
	must(t, tw.Close())
	out, err := run(dest, nil, evil.Bytes())
	t.Logf("busybox tar on hostile names: err=%v output=%q", err, out)
	if b, _ := os.ReadFile(filepath.Join(base, "victim")); string(b) != "victim\n" {
		t.Errorf("busybox tar wrote outside dest: victim = %q", b)
	}
	if _, err := os.Lstat(filepath.Join(base, "app", "victim")); err == nil {
		t.Errorf("busybox tar wrote outside dest: %s", filepath.Join(base, "app", "victim"))
	}
}

// busyboxPath makes a directory of busybox applet links (sh, mkdir, rm, tar), as in the
// image, so the script finds nothing else of the machine's.
func busyboxPath(t *testing.T, busybox string) string {
	dir := t.TempDir()
	for _, applet := range []string{"sh", "mkdir", "rm", "tar"} {
		must(t, os.Symlink(busybox, filepath.Join(dir, applet)))
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSyncScriptStepsWithBusybox runs a whole SyncScript locally with busybox: the files,
// then the commands in order from the working directory, stopping at the first that fails,
// and Then only after all succeeded; each step's output and code come back by ParseSyncOutput.
func TestSyncScriptStepsWithBusybox(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on PATH (apt-get install busybox-static)")
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "a v2\n", 0o644)
	var tarball bytes.Buffer
	must(t, WriteTar(&tarball, src, []string{"a.txt"}))
	path := busyboxPath(t, busybox)
	for _, applet := range []string{"cat", "echo", "pwd", "touch", "false"} {
		must(t, os.Symlink(busybox, filepath.Join(path, applet)))
	}
	const mark = "5f0c1a2b3c4d5e6f"
	run := func(s SyncScript, stdin []byte) (SyncOutput, string, error) {
		t.Helper()
		argv, err := s.Command(mark)
		if err != nil {
			t.Fatal(err)
		}
		wd := t.TempDir()
		cmd := exec.Command(busybox, argv...)
		cmd.Dir = wd
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Env = []string{"PATH=" + path, "WD=" + wd}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		return ParseSyncOutput(stdout.Bytes(), mark, s.Dir != ""), stderr.String(), err
	}

	dest := filepath.Join(t.TempDir(), "www")
	writeFile(t, filepath.Join(dest, "old.txt"), "old\n", 0o644)
	out, stderr, err := run(SyncScript{
		Dir: dest, Deletes: []string{"old.txt"},
		// A command reads neither the tar nor Dir: its stdin is empty, its directory the exec's.
		Run:  []string{`cat; [ "$(pwd)" = "$WD" ] && cat ` + dest + `/a.txt && echo to stderr >&2`, "printf 'no newline'"},
		Then: []string{"sh", "-c", `echo "then: $0 $1"`, "one arg", "two words"},
	}, tarball.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !out.Files || len(out.Runs) != 2 ||
		string(out.Runs[0].Output) != "a v2\nto stderr\n" || out.Runs[0].Code != 0 ||
		string(out.Runs[1].Output) != "no newline" || out.Runs[1].Code != 0 ||
		string(out.Rest) != "then: one arg two words\n" {
		t.Errorf("output: files %v, runs %+v, rest %q", out.Files, out.Runs, out.Rest)
	}
	if _, err := os.Lstat(filepath.Join(dest, "old.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old.txt not deleted: %v", err)
	}

	// A failing command: its code and output; no later command, no Then.
	marker := filepath.Join(t.TempDir(), "ran")
	out, _, err = run(SyncScript{
		Dir:  dest,
		Run:  []string{"echo before; exit 7", "touch " + marker},
		Then: []string{"touch", marker},
	}, tarball.Bytes())
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("a failing command: %v, want exit code 7", err)
	}
	if !out.Files || len(out.Runs) != 1 || string(out.Runs[0].Output) != "before\n" || out.Runs[0].Code != 7 {
		t.Errorf("a failing command: output %+v", out)
	}
	if _, err := os.Lstat(marker); err == nil {
		t.Error("a command or Then ran after a command failed")
	}

	// A failing tar step (Dir is a file): its code and stderr, no step end, nothing run.
	notDir := filepath.Join(t.TempDir(), "file")
	writeFile(t, notDir, "x", 0o644)
	out, stderr, err = run(SyncScript{Dir: notDir, Run: []string{"touch " + marker}, Then: []string{"touch", marker}}, tarball.Bytes())
	if err == nil || out.Files || len(out.Runs) != 0 || stderr == "" {
		t.Errorf("a failing tar step: %v, output %+v, stderr %q", err, out, stderr)
	}
	if _, err := os.Lstat(marker); err == nil {
		t.Error("a command or Then ran after the tar step failed")
	}

	// No files: the commands and Then alone.
	out, _, err = run(SyncScript{Run: []string{"echo x"}, Then: []string{"false"}}, nil)
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !out.Files || len(out.Runs) != 1 || string(out.Runs[0].Output) != "x\n" {
		t.Errorf("commands and Then without files: %v, output %+v", err, out)
	}

	if _, err := (SyncScript{Dir: "/app", Deletes: []string{"../x"}}).Command(mark); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("an unsafe delete: %v", err)
	}
	if _, err := (SyncScript{Dir: "/app"}).Command("a b"); err == nil {
		t.Error("a mark with a space accepted")
	}
}
