/**
 * `offload` (warn only): TX checksum offload on the tunnel device. Kernels before 5.7 corrupt
 * the checksum of VXLAN packets kube-proxy marks for SNAT when TX checksum offload is on (the
 * "63-second delay": kubernetes/kubernetes#88986, flannel-io/flannel#1279); the workaround is
 * turning it off on the VXLAN device.
 *
 * @module
 */
import { txChecksumOffload } from "../../net/mod.ts";
import { type CheckResult, pass, skip, warn } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";

/** True for kernel releases before 5.7 ("5.4.0-42-generic"). */
export function affectedKernel(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj < 5 || (maj === 5 && min < 7);
}

function check(node: NodeView): CheckResult[] {
  const dev = node.facts.device;
  const k = node.kernel;
  if (!dev || !k) return [];
  if (!k.link(dev)) {
    return [
      skip(
        "offload.tx_checksum",
        node.name,
        `${dev} is missing (see the ${node.facts.backend} checks)`,
      ),
    ];
  }
  let on: boolean;
  try {
    on = txChecksumOffload(dev, k.netns ? { netns: k.netns } : {});
  } catch (e) {
    return [
      skip(
        "offload.tx_checksum",
        node.name,
        `cannot read ${dev}'s offloads: ${(e as Error).message}`,
      ),
    ];
  }
  const release = Deno.osRelease();
  const ev = { device: dev, "tx-checksumming": on ? "on" : "off", kernel: release };
  if (on && node.facts.backend === "vxlan" && affectedKernel(release)) {
    return [
      warn(
        "offload.tx_checksum",
        node.name,
        `TX checksum offload is on for ${dev} on kernel ${release}: the VXLAN checksum bug of kernels before 5.7 (the 63-second delay) can hit`,
        {
          evidence: ev,
          fix: `${nsExec(node)}ethtool -K ${dev} tx-checksum-ip-generic off`,
        },
      ),
    ];
  }
  return [
    pass(
      "offload.tx_checksum",
      node.name,
      `TX checksum offload ${
        on ? "on" : "off"
      } for ${dev}; kernel ${release} has no known offload bug`,
      { evidence: ev },
    ),
  ];
}

/** The offload family. */
export const offloadFamily: Family = {
  name: "offload",
  appliesTo: ["vxlan", "ipip"],
  pair: (_d, pair) => pair.nodes.flatMap(check),
  node: (_d, node) => check(node),
};
