// Command pets starts the servers a Petsfile describes, in dependency order,
// keeps track of them, and stops them again. What needs a Kubernetes
// cluster it hands to pets-kube beside it (see cli.Kube).
package main

import (
	"os"

	"github.com/windmilleng/pets/internal/cli"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

func main() { os.Exit(cli.Main(cli.Options{Version: version})) }
