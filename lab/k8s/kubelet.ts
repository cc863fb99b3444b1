/**
 * kubelet v1.20.2's configuration and flags for a lab node (and for the tests' kubelets), as
 * measured on this machine (issue 18): the remote runtime (containerd's CRI), the cgroupfs
 * driver with no QoS cgroups and no node-allocatable enforcement (no cgroups of kubelet's own
 * in the host hierarchy), no swap check, no iptables chains, no read-only port,
 * `oomScoreAdj: 0` (root here lacks CAP_SYS_RESOURCE), no eviction thresholds, image GC off.
 *
 * @module
 */

/** What kubeletConfig() writes. */
export interface KubeletConfigInputs {
  /** The address kubelet serves on (the node's lab address; --address). */
  address: string;
  /** Its port (10250). */
  port?: number;
  /** Health endpoint port on 127.0.0.1 (10248; 0 turns it off). */
  healthzPort?: number;
  /** Flex volume plugins (kubelet creates it; keep it under the node's own paths). */
  volumePluginDir: string;
  /**
   * The CA that signs the apiserver's client certificate: x509 and webhook authentication,
   * webhook authorization (the lab). Absent: anonymous access allowed, AlwaysAllow (tests on
   * loopback only).
   */
  clientCaFile?: string;
}

/** The KubeletConfiguration (JSON, which kubelet reads as YAML). */
export function kubeletConfig(o: KubeletConfigInputs): string {
  const secured = o.clientCaFile !== undefined;
  return JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: o.address,
      port: o.port ?? 10250,
      readOnlyPort: 0,
      healthzPort: o.healthzPort ?? 10248,
      authentication: secured
        ? {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: o.clientCaFile },
        }
        : { anonymous: { enabled: true }, webhook: { enabled: false } },
      authorization: { mode: secured ? "Webhook" : "AlwaysAllow" },
      cgroupDriver: "cgroupfs",
      cgroupsPerQOS: false,
      enforceNodeAllocatable: [],
      failSwapOn: false,
      oomScoreAdj: 0,
      makeIPTablesUtilChains: false,
      evictionHard: {},
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      volumePluginDir: o.volumePluginDir,
      nodeStatusUpdateFrequency: "2s",
      syncFrequency: "5s",
      runtimeRequestTimeout: "60s",
      serializeImagePulls: false,
    },
    null,
    2,
  ) + "\n";
}

/** What kubeletArgs() needs. */
export interface KubeletArgsInputs {
  /** The KubeletConfiguration file (kubeletConfig()). */
  config: string;
  /** The kubeconfig kubelet registers and reports with. */
  kubeconfig: string;
  /** containerd's CRI socket path. */
  runtimeSocket: string;
  /** --root-dir (pods' volumes, plugins, checkpoints). */
  rootDir: string;
  /** --cert-dir (its self-signed serving certificate). */
  certDir: string;
  /** Node name (lower case). */
  nodeName: string;
  /** The node's address (--node-ip: the Node's InternalIP). */
  nodeIp: string;
  /** --log-file; absent: the log goes to stderr. */
  logFile?: string;
  /** Log verbosity (default 1). */
  v?: number;
}

/** kubelet's command-line flags for a node with containerd's CRI (remote runtime). */
export function kubeletArgs(o: KubeletArgsInputs): string[] {
  return [
    `--config=${o.config}`,
    `--kubeconfig=${o.kubeconfig}`,
    "--container-runtime=remote",
    `--container-runtime-endpoint=unix://${o.runtimeSocket}`,
    `--root-dir=${o.rootDir}`,
    `--cert-dir=${o.certDir}`,
    `--hostname-override=${o.nodeName}`,
    `--node-ip=${o.nodeIp}`,
    ...(o.logFile
      ? ["--logtostderr=false", "--alsologtostderr=false", `--log-file=${o.logFile}`]
      : ["--logtostderr=true"]),
    `--v=${o.v ?? 1}`,
  ];
}
