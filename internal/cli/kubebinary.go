package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/petsfile"
	"github.com/windmilleng/pets/rebuild"
)

// kubeBinary is the Kube of the pets binary: pets-kube does the work. A
// command whose Petsfile live-syncs is handed over whole when it loads the
// Petsfile (loadProject); an apply or a question about pods runs one of
// pets-kube's hidden `kube` commands; port-forward is handed over.
type kubeBinary struct{}

func (kubeBinary) Syncer([]string, func(petsfile.Key, string)) (rebuild.Syncer, error) {
	// Reached only when a reload adds the first sync rule: pets started
	// without one, and what it started cannot be handed over.
	return nil, fmt.Errorf("%w: live sync starts with the next pets up (it runs as %s then)", errNoKube, KubeBinary)
}

func (kubeBinary) Apply(ctx context.Context, manifests []byte, ns string, wait bool, allowed []string, progress func(string)) (string, error) {
	args := []string{"kube", "apply", "--namespace", ns}
	if wait {
		args = append(args, "--wait")
	}
	for _, a := range allowed {
		args = append(args, "--allow-context", a)
	}
	var r kubeReply
	err := runKube(ctx, args, bytes.NewReader(manifests), progress, &r)
	if err == nil && r.Error != "" {
		err = errors.New(r.Error)
	}
	return r.Summary, err
}

func (kubeBinary) Unseeded(ctx context.Context, holding []string) ([]string, error) {
	var r kubeReply
	err := runKube(ctx, append([]string{"kube", "unseeded", "--"}, holding...), nil, nil, &r)
	if err == nil && r.Error != "" {
		err = errors.New(r.Error)
	}
	return r.Pods, err
}

func (kubeBinary) PortForward(context.Context, io.Writer, PortForward) error { return handOver() }

// kubeReply is what a hidden `kube` command prints on stdout: its
// result, or the error to say (its stderr is progress lines).
type kubeReply struct {
	Summary string   `json:"summary,omitempty"`
	Pods    []string `json:"pods,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// runKube runs pets-kube with args, stdin (may be nil), each line of its
// stderr told to progress (nil: dropped), and decodes its reply.
func runKube(ctx context.Context, args []string, stdin io.Reader, progress func(string), reply *kubeReply) error {
	exe, err := kubeBeside()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	diesWithPets(cmd)
	cmd.Stdin = stdin
	var out bytes.Buffer
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var last string
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		last = sc.Text()
		if progress != nil {
			progress(last)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s: %w %s", KubeBinary, args[1], err, last)
	}
	if err := json.Unmarshal(out.Bytes(), reply); err != nil {
		return fmt.Errorf("%s %s: %w", KubeBinary, args[1], err)
	}
	return nil
}

// newKubeCmd is what kubeBinary runs in pets-kube: one apply, or which
// pods have not had their files.
func newKubeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "kube", Hidden: true, Short: "Kubernetes for the pets binary (pets-kube's side)"}
	var (
		ns      string
		wait    bool
		allowed []string
	)
	apply := &cobra.Command{
		Use:  "apply",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			manifests, err := io.ReadAll(os.Stdin)
			if err != nil {
				return err
			}
			var r kubeReply
			r.Summary, err = g.kube.Apply(cmd.Context(), manifests, ns, wait, allowed, func(line string) {
				fmt.Fprintln(g.stderr, strings.ReplaceAll(line, "\n", " "))
			})
			return reply(g.stdout, r, err)
		},
	}
	apply.Flags().StringVar(&ns, "namespace", "", "")
	apply.Flags().BoolVar(&wait, "wait", false, "")
	apply.Flags().StringArrayVar(&allowed, "allow-context", nil, "")
	unseeded := &cobra.Command{
		Use: "unseeded [HOLDING...]",
		RunE: func(cmd *cobra.Command, holding []string) error {
			var r kubeReply
			var err error
			r.Pods, err = g.kube.Unseeded(cmd.Context(), holding)
			return reply(g.stdout, r, err)
		},
	}
	cmd.AddCommand(apply, unseeded)
	return cmd
}

// reply prints r, with err as its Error.
func reply(w io.Writer, r kubeReply, err error) error {
	if err != nil {
		r.Error = err.Error()
	}
	return json.NewEncoder(w).Encode(r)
}
