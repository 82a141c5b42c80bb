package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/windmilleng/pets/kube"
)

func newPortForwardCmd(g *globals) *cobra.Command {
	var (
		namespace string
		allowed   []string
	)
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
			c, cfg, err := kubeClient(allowed)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			f, err := c.PortForward(ctx, kube.ForwardOptions{
				Pods:      kube.PodSelector{Namespace: namespace, Selector: args[0]},
				LocalPort: local, RemotePort: remote, Log: g.stderr,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Forwarding %s to port %d of pods %q (context %s)\n", f.Addr(), remote, args[0], cfg.Context)
			<-ctx.Done()
			return f.Close()
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the pods (default: the context's)")
	cmd.Flags().StringArrayVar(&allowed, "allow-context", nil, "allow a context that does not look local (as allow_k8s_contexts in a Petsfile)")
	return cmd
}
