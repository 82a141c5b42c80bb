package kube

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrContextNotAllowed is what a [*ContextError] unwraps to.
var ErrContextNotAllowed = errors.New("kube: context not allowed")

// localContextNames are the context names local cluster tools write into kubeconfig.
var localContextNames = []string{
	"minikube",
	"docker-desktop",
	"docker-for-desktop",
	"rancher-desktop",
	"orbstack",
	"microk8s",
	"colima",
	"pets-test", // the project's test cluster (scripts/cluster)
}

// localContextPrefixes: kind-NAME, k3d-NAME, colima-PROFILE.
var localContextPrefixes = []string{"kind-", "k3d-", "colima-"}

// ContextError is the refusal of a context that does not look local and is not allowed by the
// Petsfile. Its message names the context, says why, and gives the line to add.
type ContextError struct {
	Context string
	Server  string
	Allowed []string // what the Petsfile allowed (may be empty)
}

func (e *ContextError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refusing Kubernetes context %q (server %s): it does not look like a local cluster", e.Context, orNone(e.Server))
	fmt.Fprintf(&b, " (its name is not %s, and its server is not a loopback address)", localNamesText())
	if len(e.Allowed) == 0 {
		b.WriteString(", and the Petsfile does not allow it.")
	} else {
		fmt.Fprintf(&b, ", and the Petsfile allows only %s.", quoteList(e.Allowed))
	}
	b.WriteString("\nIf pets may really deploy and sync there, add this line to your Petsfile:\n")
	fmt.Fprintf(&b, "    allow_k8s_contexts([%s])", quoteList(append(slices.Clone(e.Allowed), e.Context)))
	return b.String()
}

func (e *ContextError) Unwrap() error { return ErrContextNotAllowed }

// CheckContext allows a context that looks local (see [IsLocalContext]) or that is listed in
// allowed (the Petsfile's allow_k8s_contexts). Anything else is a [*ContextError].
func CheckContext(name, server string, allowed []string) error {
	if IsLocalContext(name, server) || slices.Contains(allowed, name) {
		return nil
	}
	return &ContextError{Context: name, Server: server, Allowed: slices.Clone(allowed)}
}

// IsLocalContext reports whether a context looks like a cluster on this machine: a name that
// a local cluster tool writes (minikube, docker-desktop, kind-*, k3d-*, ...) or a server whose
// host is a loopback address or localhost.
func IsLocalContext(name, server string) bool {
	if slices.Contains(localContextNames, name) {
		return true
	}
	for _, p := range localContextPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return isLoopbackServer(server)
}

func isLoopbackServer(server string) bool {
	if server == "" {
		return false
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func localNamesText() string {
	var names []string
	for _, n := range localContextNames {
		names = append(names, n)
	}
	for _, p := range localContextPrefixes {
		names = append(names, p+"*")
	}
	return strings.Join(names, ", ")
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
