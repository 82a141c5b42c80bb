// Command pets-kube is pets with Kubernetes: the same commands, linked with
// client-go. pets hands it what needs a cluster (live sync, k8s_apply,
// port-forward); it is built and installed beside pets.
package main

import (
	"os"

	"github.com/windmilleng/pets/internal/cli"
	"github.com/windmilleng/pets/internal/kubecli"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(cli.Main(cli.Options{Version: version, Kube: kubecli.New()})) }
