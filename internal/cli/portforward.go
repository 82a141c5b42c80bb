package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newPortForwardCmd(g *globals) *cobra.Command {
	var o PortForward
	cmd := &cobra.Command{
		Use:   "port-forward SELECTOR LOCAL:REMOTE",
		Short: "Forward 127.0.0.1:LOCAL to port REMOTE of a ready pod (what k8s_port_forward runs)",
		Long: `Forward 127.0.0.1:LOCAL to port REMOTE of a ready pod matching the label
SELECTOR, following replacement pods, until interrupted. The Petsfile's
k8s_port_forward() runs this as a tracked server; it is usable alone too.
Only contexts that look local are used unless allowed with --allow-context.`,
		Example: `  pets port-forward app=backend 8080:8080 --namespace dev`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, r, ok := strings.Cut(args[1], ":")
			local, err1 := strconv.Atoi(l)
			remote, err2 := strconv.Atoi(r)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("ports %q: want LOCAL:REMOTE, e.g. 8080:80", args[1])
			}
			o.Selector, o.Local, o.Remote = args[0], local, remote
			return g.kube.PortForward(cmd.Context(), g.stderr, o)
		},
	}
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the pods (default: the context's)")
	cmd.Flags().StringArrayVar(&o.Allowed, "allow-context", nil, "allow a context that does not look local (as allow_k8s_contexts in a Petsfile)")
	return cmd
}
