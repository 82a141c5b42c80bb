package petsfile_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/windmilleng/pets/petsfile"
)

func TestReadEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // nil with err
		err       string   // the error after "<path>:"
	}{
		{"empty", "", nil, ""},
		{"plain", "A=1\nB=two words\n", []string{"A=1", "B=two words"}, ""},
		{"file order, duplicates kept", "B=1\nA=2\nB=3", []string{"B=1", "A=2", "B=3"}, ""},
		{"comments and blank lines", "# top\n\n  # indented\nA=1\n\t\nB=2\n", []string{"A=1", "B=2"}, ""},
		{"export", "export A=1\nexport\tB=2\n", []string{"A=1", "B=2"}, ""},
		{"export as a name", "export=1\nexported=2", []string{"export=1", "exported=2"}, ""},
		{"spaces around =", "A = 1 \n  B=  2", []string{"A=1", "B=2"}, ""},
		{"empty value", "A=\nB=''\nC=\"\"", []string{"A=", "B=", "C="}, ""},
		{"= in the value", "URL=postgres://u:p@h/db?sslmode=disable", []string{"URL=postgres://u:p@h/db?sslmode=disable"}, ""},
		{"inline comment", "A=1 # one\nB=2\t# two\nC=x#y\nD=#z\nE= # nothing", []string{"A=1", "B=2", "C=x#y", "D=#z", "E="}, ""},
		{"single quotes are literal", `A='it is $HOME \n "x" # not a comment'`, []string{`A=it is $HOME \n "x" # not a comment`}, ""},
		{"double quote escapes", `A="line1\nline2\ttab \"q\" back\\slash \$HOME \x"`, []string{"A=line1\nline2\ttab \"q\" back\\slash $HOME \\x"}, ""},
		{"comment after quotes", `A="x y" # note` + "\nB='z' #", []string{"A=x y", "B=z"}, ""},
		{"quoted keeps spaces", `A="  padded  "`, []string{"A=  padded  "}, ""},
		{"multi-line double quotes", "KEY=\"-----BEGIN\nabc\n-----END\"\nB=1", []string{"KEY=-----BEGIN\nabc\n-----END", "B=1"}, ""},
		{"multi-line single quotes", "A='1\n2'\n", []string{"A=1\n2"}, ""},
		{"no interpolation", "A=$HOME\nB=${X:-y}\nC=\"$HOME\"", []string{"A=$HOME", "B=${X:-y}", "C=$HOME"}, ""},
		{"crlf", "A=1\r\nB=\"2\"\r\n", []string{"A=1", "B=2"}, ""},
		{"bom", "\ufeffA=1", []string{"A=1"}, ""},
		{"names", "a_b.c-d=1\n_X=2", []string{"a_b.c-d=1", "_X=2"}, ""},

		{"no =", "A=1\nJUST_A_NAME\n", nil, `2: want NAME=value, got "JUST_A_NAME" (pets does not copy a variable from its own environment: give the value)`},
		{"bad name", "A=1\n\n1X=2", nil, `3: "1X" is not a variable name: use letters, digits, '_', '.' and '-', starting with a letter or '_'`},
		{"space in name", "MY VAR=1", nil, `1: "MY VAR" is not a variable name: use letters, digits, '_', '.' and '-', starting with a letter or '_'`},
		{"empty name", "=1", nil, `1: "" is not a variable name: use letters, digits, '_', '.' and '-', starting with a letter or '_'`},
		{"junk after quotes", "A=1\nB=\"x\"y", nil, `2: unexpected "y" after the closing quote of B; put a space and '#' before a comment`},
		{"unclosed double quote", "A=1\nB=\"x\nC=2\n", nil, `2: the value of B opens a " quote that never closes`},
		{"unclosed single quote", "A='x", nil, `1: the value of A opens a ' quote that never closes`},
		{"escaped quote does not close", `A="x\"`, nil, `1: the value of A opens a " quote that never closes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(p, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := petsfile.ReadEnvFile(p)
			if tc.err != "" {
				var ee *petsfile.EnvFileError
				if err == nil || err.Error() != p+":"+tc.err || !errors.As(err, &ee) || ee.Path != p {
					t.Fatalf("ReadEnvFile(%q) = %q, %v; want the error %s:%s", tc.src, got, err, p, tc.err)
				}
				return
			}
			if err != nil || strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
				t.Fatalf("ReadEnvFile(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
			}
		})
	}
	if _, err := petsfile.ReadEnvFile(filepath.Join(t.TempDir(), "missing.env")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadEnvFile of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// envHost records the env of every command.
type envHost struct{ starts, runs, probes [][]string }

func (h *envHost) Start(_ context.Context, c petsfile.Command) (petsfile.Process, error) {
	h.starts = append(h.starts, c.Env)
	return petsfile.Process{PID: 42}, nil
}

func (h *envHost) Run(_ context.Context, c petsfile.Command) error {
	h.runs = append(h.runs, c.Env)
	return nil
}

func (h *envHost) Ready(_ context.Context, _ petsfile.Key, _ petsfile.Process, r petsfile.Readiness) error {
	if r.Command != nil {
		h.probes = append(h.probes, r.Command.Env)
	}
	return nil
}

// The env files are read each time the provider runs: an edit takes effect
// at the next start, a file removed since the load fails the start, naming it.
func TestEnvFilesAreReadAtEachStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.env", "A=1\nSHARED=from-a\n")
	write("b.env", "SHARED=from-b\n")
	write("Petsfile", `
def api_local():
  run("migrate", env={"ONLY_RUN": "x"})
  return service(start("api", env={"SHARED": "from-env="}), cmd="probe")
register("api", "local", api_local, env_files=["a.env", "b.env"])
`)
	ctx := context.Background()
	p, err := petsfile.Load(ctx, filepath.Join(dir, "Petsfile"), petsfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := petsfile.Key{Name: "api", Tier: "local"}
	svc, _ := p.Service(k)
	if want := []string{filepath.Join(dir, "a.env"), filepath.Join(dir, "b.env")}; strings.Join(svc.EnvFiles, " ") != strings.Join(want, " ") {
		t.Errorf("EnvFiles = %q, want %q", svc.EnvFiles, want)
	}
	if svc.RestartPolicy != petsfile.RestartOnFailure {
		t.Errorf("RestartPolicy = %q, want the default %q", svc.RestartPolicy, petsfile.RestartOnFailure)
	}

	provide := func() (*envHost, error) {
		h := &envHost{}
		_, err := p.Provide(ctx, k, nil, h)
		return h, err
	}
	h, err := provide()
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got [][]string, want string) {
		t.Helper()
		if len(got) != 1 || strings.Join(got[0], " ") != want {
			t.Errorf("%s env = %q, want [%s]", what, got, want)
		}
	}
	check("run", h.runs, "A=1 SHARED=from-a SHARED=from-b ONLY_RUN=x")
	check("start", h.starts, "A=1 SHARED=from-a SHARED=from-b SHARED=from-env=")
	check("cmd=", h.probes, "A=1 SHARED=from-a SHARED=from-b")

	write("a.env", "A=2\n")
	if h, err = provide(); err != nil {
		t.Fatal(err)
	}
	check("start after an edit", h.starts, "A=2 SHARED=from-b SHARED=from-env=")

	if err := os.Remove(filepath.Join(dir, "b.env")); err != nil {
		t.Fatal(err)
	}
	_, err = provide()
	var pe *petsfile.ProviderError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "Petsfile:5:9: env file of api-local: open "+filepath.Join(dir, "b.env")) {
		t.Errorf("provide without b.env: %v; want a ProviderError naming the register() call and the file", err)
	}
	if _, err := svc.ReadEnvFiles(); err == nil {
		t.Error("ReadEnvFiles succeeded without b.env")
	}
}
