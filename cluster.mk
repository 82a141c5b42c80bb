# Local single-node Kubernetes test cluster (see scripts/cluster/README.md).
# Included from the Makefile; also usable alone: make -f cluster.mk cluster-up
#
#   cluster-up       install Debian deps, build/cache binaries and images, start
#                    everything on 127.0.0.1, wait for the node to be Ready
#   cluster-down     stop everything, unmount, remove cgroups and state
#   cluster-status   show whether the cluster runs and the kubeconfig to use
#   cluster-smoke    end-to-end check of a running cluster (exec+tar, port-forward)
#
# State:      $(PETS_CLUSTER_STATE)  (default /var/tmp/pets-cluster)
# Cache:      $(PETS_CLUSTER_CACHE)  (default ~/.cache/pets-cluster)
# Kubeconfig: $(PETS_CLUSTER_STATE)/kubeconfig, context pets-test

CLUSTER_SCRIPTS := $(dir $(lastword $(MAKEFILE_LIST)))scripts/cluster

.PHONY: cluster-up cluster-down cluster-status cluster-smoke cluster-deps cluster-bins cluster-images

cluster-up:
	@$(CLUSTER_SCRIPTS)/up.sh

cluster-down:
	@$(CLUSTER_SCRIPTS)/down.sh

cluster-status:
	@$(CLUSTER_SCRIPTS)/status.sh

cluster-smoke:
	@$(CLUSTER_SCRIPTS)/smoke.sh

cluster-deps:
	@$(CLUSTER_SCRIPTS)/install-deps.sh

cluster-bins:
	@$(CLUSTER_SCRIPTS)/build-bins.sh -v

cluster-images:
	@$(CLUSTER_SCRIPTS)/build-images.sh
