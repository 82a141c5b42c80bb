package kube

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoConfig means no kubeconfig was found (no KUBECONFIG, no ~/.kube/config, no explicit path).
var ErrNoConfig = errors.New("kube: no kubeconfig found")

// LoadOptions chooses a kubeconfig and context the way kubectl's flags do.
type LoadOptions struct {
	// Kubeconfig is an explicit kubeconfig file (kubectl --kubeconfig). Empty: the files listed
	// in $KUBECONFIG (merged, first wins), else ~/.kube/config.
	Kubeconfig string
	// Context overrides the current-context (kubectl --context).
	Context string
	// Namespace overrides the context's namespace (kubectl --namespace).
	Namespace string
}

// Config is a loaded kubeconfig context, not yet connected to anything.
type Config struct {
	Context   string // the chosen context's name
	Cluster   string // the cluster entry it names
	Server    string // that cluster's server URL
	Namespace string // the namespace to use when a manifest or selector names none ("default" if unset)
	Rest      *rest.Config
}

// LoadConfig reads kubeconfig as kubectl does and returns the chosen context. It talks to no
// server: check the context with [CheckContext] before calling [New].
func LoadConfig(opts LoadOptions) (*Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	overrides.Context.Namespace = opts.Namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)

	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	name := raw.CurrentContext
	if opts.Context != "" {
		name = opts.Context
	}
	if len(raw.Contexts) == 0 {
		where := strings.Join(rules.GetLoadingPrecedence(), ", ")
		if opts.Kubeconfig != "" {
			where = opts.Kubeconfig
		}
		return nil, fmt.Errorf("%w (looked in %s): set KUBECONFIG or start a local cluster (make cluster-up, minikube start, kind create cluster)", ErrNoConfig, where)
	}
	if name == "" {
		return nil, fmt.Errorf("load kubeconfig: no current-context set: pass a context or run `kubectl config use-context NAME` (contexts: %s)", contextNames(raw.Contexts))
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("load kubeconfig: context %q not found (contexts: %s)", name, contextNames(raw.Contexts))
	}
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig context %q: %w", name, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig context %q: %w", name, err)
	}
	if ns == "" {
		ns = "default"
	}
	server := restCfg.Host
	if cl, ok := raw.Clusters[kctx.Cluster]; ok && cl.Server != "" {
		server = cl.Server
	}
	// Exec, watches and port-forwards are long-lived; a sync issues bursts of small requests.
	restCfg.QPS = 50
	restCfg.Burst = 100
	restCfg.UserAgent = "pets"
	return &Config{Context: name, Cluster: kctx.Cluster, Server: server, Namespace: ns, Rest: restCfg}, nil
}

func contextNames[V any](m map[string]V) string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Client is a connection to one cluster (one kubeconfig context). Safe for concurrent use.
type Client struct {
	Config    *Config
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

// New connects to the cluster of cfg. It does not check the context: call [CheckContext] first.
// No request is sent until one is needed.
func New(cfg *Config) (*Client, error) {
	cs, err := kubernetes.NewForConfig(cfg.Rest)
	if err != nil {
		return nil, fmt.Errorf("connect to context %q: %w", cfg.Context, err)
	}
	dyn, err := dynamic.NewForConfig(cfg.Rest)
	if err != nil {
		return nil, fmt.Errorf("connect to context %q: %w", cfg.Context, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg.Rest)
	if err != nil {
		return nil, fmt.Errorf("connect to context %q: %w", cfg.Context, err)
	}
	return &Client{
		Config:    cfg,
		Clientset: cs,
		Dynamic:   dyn,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
	}, nil
}

// namespace returns ns, or the context's default namespace when ns is empty.
func (c *Client) namespace(ns string) string {
	if ns != "" {
		return ns
	}
	return c.Config.Namespace
}
