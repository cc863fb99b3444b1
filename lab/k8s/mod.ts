/**
 * `skein lab up --kubernetes`: a real Kubernetes cluster in the lab (control plane in
 * `<lab>-cp`, containerd + kubelet per node in the node's network namespace and a private mount
 * namespace).
 *
 * @module
 */
export * from "./types.ts";
