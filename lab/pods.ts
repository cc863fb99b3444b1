/**
 * Attaching pods through the skein CNI plugin, exactly as a container runtime would: the plugin
 * runs as a process in the node's namespace (`nsenter --net=/run/netns/<node>`) with the CNI_*
 * environment and the network config on stdin.
 *
 * @module
 */
import { tryReadLeaseFile } from "../node/lease_file.ts";
import { nsenterArgs } from "../node/nsenter.ts";
import { runCommand } from "./_proc.ts";
import { type NodePlan, POD_IFNAME, type PodPlan } from "./plan.ts";
import { skeinArgv, skeinCommand } from "./skein_bin.ts";

/** Where the runtime looks for delegated plugins. */
export const LAB_CNI_PATH = "/opt/cni/bin:/usr/lib/cni";

/** The netconf a lab node's pods are attached with (skein in bridge mode, IPAM from the lease). */
export function podNetconf(node: NodePlan, mtu?: number): Record<string, unknown> {
  return {
    cniVersion: "1.0.0",
    name: "skein-lab",
    type: "skein",
    mode: "bridge",
    bridge: "cni0",
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: false,
    ...(mtu ? { mtu } : {}),
    ipam: { type: "skein", subnet: "auto", leaseFile: node.leaseFile, dataDir: node.ipamDir },
  };
}

/** The pod MTU from the node's lease file (written by the daemon), if it says one. */
export function leaseMtu(node: NodePlan): number | undefined {
  return tryReadLeaseFile(node.leaseFile)?.mtu;
}

/** A failed CNI call, with the plugin's error JSON when it printed one. */
export class CniCallError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = "CniCallError";
  }
}

/** Runs the skein CNI plugin with `command` for a pod; returns its parsed stdout. */
export async function cniCall(
  command: "ADD" | "DEL" | "CHECK",
  node: NodePlan,
  pod: PodPlan,
  netconf: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const [cmd, args] = skeinArgv(skeinCommand(), []);
  const r = await runCommand([...nsenterArgs(node.netns), cmd, ...args], {
    stdin: JSON.stringify(netconf),
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: `/run/netns/${pod.netns}`,
      CNI_IFNAME: POD_IFNAME,
      CNI_PATH: LAB_CNI_PATH,
    },
  });
  let out: Record<string, unknown> = {};
  if (r.stdout.trim()) {
    try {
      out = JSON.parse(r.stdout);
    } catch {
      throw new CniCallError(
        `CNI ${command} for pod ${pod.name} printed no JSON (exit ${r.code}): ${r.stdout.trim()} ${r.stderr.trim()}`,
      );
    }
  }
  if (!r.success) {
    const msg = typeof out.msg === "string" ? out.msg : r.stderr.trim();
    const details = typeof out.details === "string" && out.details ? ` (${out.details})` : "";
    throw new CniCallError(
      `CNI ${command} for pod ${pod.name} on node ${node.name} failed with code ${
        out.code ?? r.code
      }: ${msg}${details}`,
      typeof out.code === "number" ? out.code : undefined,
    );
  }
  return out;
}

/** Attaches one pod (CNI ADD); returns its IPv4 address without prefix. */
export async function attachPod(node: NodePlan, pod: PodPlan): Promise<string> {
  const result = await cniCall("ADD", node, pod, podNetconf(node, leaseMtu(node)));
  const ips = (result.ips ?? []) as { address?: string }[];
  const v4 = ips.map((i) => i.address ?? "").find((a) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(a));
  if (!v4) {
    throw new CniCallError(
      `CNI ADD for pod ${pod.name} returned no IPv4 address: ${JSON.stringify(result)}`,
    );
  }
  return v4.split("/")[0]!;
}
