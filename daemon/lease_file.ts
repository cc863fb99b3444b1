/**
 * The files the daemon writes for the CNI plugin, atomically (temp file + rename):
 * skein's JSON lease file and a flannel-style `subnet.env`.
 *
 * @module
 */
import { formatIp, nthIp, parseCidr } from "../net/cidr.ts";
import { atomicWriteFile } from "../node/atomic_write.ts";

/** What the CNI plugin learns about this node (the JSON lease file). */
export interface NodeLeaseFile {
  node: string;
  network: string;
  subnet: string;
  network6?: string;
  subnet6?: string;
  mtu: number;
  ipMasq: boolean;
  backend: string;
}

/** The JSON lease file's text. */
export function leaseFileText(l: NodeLeaseFile): string {
  const o: Record<string, unknown> = { node: l.node, network: l.network, subnet: l.subnet };
  if (l.network6) o.network6 = l.network6;
  if (l.subnet6) o.subnet6 = l.subnet6;
  Object.assign(o, { mtu: l.mtu, ipMasq: l.ipMasq, backend: l.backend });
  return JSON.stringify(o, null, 2) + "\n";
}

/** The first host address with the subnet's length, as flannel writes FLANNEL_SUBNET ("10.244.1.1/24"). */
export function gatewayForm(subnet: string): string {
  const c = parseCidr(subnet);
  return `${formatIp(nthIp(c, 1))}/${c.prefix}`;
}

/** flannel's subnet.env text. */
export function subnetEnvText(l: NodeLeaseFile): string {
  const lines = [`FLANNEL_NETWORK=${l.network}`, `FLANNEL_SUBNET=${gatewayForm(l.subnet)}`];
  if (l.network6) lines.push(`FLANNEL_IPV6_NETWORK=${l.network6}`);
  if (l.subnet6) lines.push(`FLANNEL_IPV6_SUBNET=${gatewayForm(l.subnet6)}`);
  lines.push(`FLANNEL_MTU=${l.mtu}`, `FLANNEL_IPMASQ=${l.ipMasq}`);
  return lines.join("\n") + "\n";
}

/** Writes `text` to `path` atomically (creating the directory); readers never see half a file. */
export function writeFileAtomic(path: string, text: string): void {
  atomicWriteFile(path, text, { mkdir: true });
}

/** Reads the subnet of a previous lease file, if there is a readable one (for reuse after restart). */
export function readPreviousSubnet(path: string): string | undefined {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    return typeof v?.subnet === "string" ? v.subnet : undefined;
  } catch {
    return undefined;
  }
}

/** Writes both files; the env file first, so the JSON file (which the plugin prefers) lands last. */
export function writeLeaseFiles(
  l: NodeLeaseFile,
  paths: { leaseFile: string; subnetEnv: string },
): void {
  writeFileAtomic(paths.subnetEnv, subnetEnvText(l));
  writeFileAtomic(paths.leaseFile, leaseFileText(l));
}
