/**
 * GC's leaked host veths: the ones of attachments the runtime no longer lists
 * (`cni.dev/valid-attachments`) that are provably this network's. Several networks may share a
 * bridge (the default `cni0`), and the host veth name says nothing about the network, so
 * bridge mode takes only veths whose attachment holds a reservation in this network's IPAM
 * directory (skein's or host-local's: the same files), read before IPAM GC releases them.
 * Routed mode goes by the host routes into this network's subnets.
 *
 * @module
 */
import { type NetHandle, SKEIN_CNI_ROUTE_PROTOCOL, SKEIN_ROUTE_PROTOCOL } from "../net/mod.ts";
import { type Cidr, contains, parseCidr, tryParseCidr, tryParseIp } from "../net/cidr.ts";
import { hostVethName, isHostVethName } from "../node/veth_name.ts";
import { parseReservation } from "../node/reservation_file.ts";
import { readBoundedFile } from "../node/bounded_read.ts";
import type { IpamCall } from "./ipam_driver.ts";

/** Where host-local keeps its networks when `ipam.dataDir` is not set. */
const HOST_LOCAL_DATA_DIR = "/var/lib/cni/networks";

/** A reservation file is `<containerID>\r\n<ifname>`: a few hundred bytes at most. */
const MAX_RESERVATION = 4096;

/**
 * The host veth names of the attachments holding a reservation in this network's IPAM
 * directory (skein IPAM or host-local; empty for any other IPAM, or an unreadable directory).
 * A legacy record (container id only) names no interface and so no veth.
 */
export async function reservedHostVeths(call: IpamCall): Promise<Set<string>> {
  const dir = await reservationDir(call);
  const out = new Set<string>();
  if (dir === undefined) return out;
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  } catch {
    return out; // no directory: nothing reserved
  }
  for (const name of names) {
    if (!tryParseIp(name)) continue; // lock, last_reserved_ip.N, temporary files
    try {
      const rec = parseReservation(readBoundedFile(`${dir}/${name}`, MAX_RESERVATION));
      if (rec.kind === "current") out.add(hostVethName(rec.id, rec.ifName));
    } catch {
      // released meanwhile, or not a plain small file: not evidence of ownership
    }
  }
  return out;
}

async function reservationDir(call: IpamCall): Promise<string | undefined> {
  const ipam = call.conf.ipam;
  if (ipam?.type === "host-local") {
    const d = ipam.dataDir;
    return `${typeof d === "string" && d !== "" ? d : HOST_LOCAL_DATA_DIR}/${call.conf.name}`;
  }
  if (ipam?.type !== "skein") return undefined;
  try {
    const { parseIpamConfig } = await import("./ipam/mod.ts");
    const cfg = await parseIpamConfig(call.conf.raw);
    return `${cfg.dataDir}/${cfg.networkName}`;
  } catch {
    return undefined; // IPAM GC reports a bad config itself
  }
}

/**
 * Bridge-mode host veths of attachments no longer valid: skein-named ports of this network's
 * bridge whose attachment is in `reserved` (reservedHostVeths()) and not in `keep`.
 */
export function bridgeLeaks(
  host: NetHandle,
  bridge: string,
  keep: Set<string>,
  reserved: Set<string>,
): string[] {
  const br = host.linkFind(bridge);
  if (!br) return [];
  return host.linkList()
    .filter((l) =>
      l.masterIndex === br.index && isHostVethName(l.name) && !keep.has(l.name) &&
      reserved.has(l.name)
    )
    .map((l) => l.name);
}

/**
 * Routed-mode host veths that belong to no valid attachment: skein-named veths whose skein
 * host route points into one of this network's subnets: protocol 101, or 100 for a pod an older
 * version (before SKEIN_CNI_ROUTE_PROTOCOL) wired.
 */
export function routedLeaks(host: NetHandle, subnets: Cidr[], keep: Set<string>): string[] {
  if (!subnets.length) return [];
  const out: string[] = [];
  for (const l of host.linkList()) {
    if (!isHostVethName(l.name) || keep.has(l.name) || l.kind !== "veth") continue;
    const routes = [4, 6].flatMap((family) =>
      host.routeList({ family: family as 4 | 6, dev: l.index }).filter((r) =>
        r.protocol === SKEIN_CNI_ROUTE_PROTOCOL || r.protocol === SKEIN_ROUTE_PROTOCOL
      )
    );
    const mine = routes.some((r) => {
      const c = tryParseCidr(r.dst);
      return c !== undefined && subnets.some((s) => contains(s, c.ip));
    });
    if (mine) out.push(l.name);
  }
  return out;
}

/** The subnets of this network's skein IPAM ranges (empty for a delegated IPAM). */
export async function networkSubnets(call: IpamCall): Promise<Cidr[]> {
  if (call.conf.ipam?.type !== "skein") return [];
  try {
    const { parseIpamConfig } = await import("./ipam/mod.ts");
    const cfg = await parseIpamConfig(call.conf.raw);
    return cfg.ranges.flat().map((r) => parseCidr(r.subnet));
  } catch {
    return []; // IPAM GC reports a bad config itself
  }
}
