// Package kube is pets' adapter to Kubernetes, on client-go (no kubectl needed).
//
// It does the cluster side of live-sync and of the Kubernetes builtins, and nothing else:
//
//   - [LoadConfig] reads kubeconfig as kubectl does (KUBECONFIG as a list of files, an explicit
//     path, a --context override) and reports the chosen context, its server and default
//     namespace; [New] then connects.
//   - [CheckContext] is the safety gate: contexts that look local (minikube, kind-*, k3d-*,
//     docker-desktop, the project's pets-test, any server on a loopback address, ...) are
//     allowed; any other must be listed in the Petsfile's allow_k8s_contexts([...]), and the
//     refusal ([*ContextError]) says which line to add.
//   - [Client.Pods], [Client.ReadyPods] and [Client.WatchPods] find the pods of a label selector
//     and notice when one is replaced (a new pod UID, or a restarted container: its files are
//     gone either way).
//   - [Client.Exec] runs a command in a container with streamed stdin/stdout/stderr, over
//     WebSocket with a fallback to SPDY for older API servers. A non-zero exit is an
//     [*ExitError] carrying the code. [Advise] turns exec and tar failures into an
//     [*AdviceError]: what failed, why it usually happens, what to do.
//   - [WriteTar] and [SyncCommand] are the two halves of a sync: a tar of chosen files under a
//     local root (nothing outside it, symlinks only if they stay inside it) and the command that
//     deletes paths and unpacks that tar inside one container directory. [SyncScript] does
//     the same and then, in the same exec, runs commands and a last one (the restart), each
//     only if the step before succeeded: one exec round trip per sync instead of one per step.
//   - [Client.PortForward] forwards a local port on 127.0.0.1 to a pod of a selector, as a
//     long-running server that re-targets a replacement pod. Forwards share one connection to
//     the pod; after the pod side fails one (its port refused, its server not up yet), each
//     gets a connection of its own until one succeeds, and a stream whose creation gets no
//     reply within 3 s (a pod being deleted) is given up and the forward tried again.
//   - [Client.Apply] applies multi-document YAML with server-side apply (field manager "pets");
//     [Client.WaitRollout] waits like `kubectl rollout status`, reports every [ReportEvery]
//     what it waits for (a [Waiting]), and names what stuck pods wait for when it gives up.
//     [Client.NotReady] says what the pods of a selector that are not ready wait for.
//   - [Client.MeasureExec] times a bare exec round trip, the floor under any sync (`make bench`).
//
// Every goroutine this package starts belongs to a value with a Close method ([*PodWatch],
// [*Forwarder]) that stops it and waits for it; cancelling the context passed at creation
// stops it too (Close must still be called to wait).
//
// Caveats: a server on a loopback address counts as local, which includes an SSH tunnel or
// `kubectl proxy` to a remote cluster; list such a context in allow_k8s_contexts knowingly.
// The container side of a sync needs sh, mkdir, rm and tar in the image (busybox has them);
// [Advise] says so when they are missing. tar in the container follows symlinks already
// present under the target directory (see [SyncCommand]).
//
// Logging: nothing here logs unless given a writer, but client-go logs through klog to
// stderr (reflector warnings, "Unhandled Error", WebSocket stream notices). cmd/pets routes
// that with [RouteClientGoLogs] to its slog logger (discarding unless PETS_DEBUG=1).
//
// Tests run against the project's cluster (make cluster-up; see internal/testcluster), and
// skip without it unless CI=true.
package kube
