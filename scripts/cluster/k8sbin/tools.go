//go:build tools

// Package k8sbin only exists so that `go mod tidy` keeps the four server commands
// (and everything they import) in go.mod/go.sum. build-bins.sh builds them with
// `go build k8s.io/kubernetes/cmd/...`.
package k8sbin

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
