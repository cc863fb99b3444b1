/**
 * Node objects as leases, flannel's kube subnet manager model: the pod subnet is the Node's
 * `spec.podCIDR` (`podCIDRs` for dual-stack), the backend data are annotations under flannel's
 * keys. Pure: decoding, the merge patch of skein's keys, and the set of valid leases of a node
 * list (a subnet claimed by two nodes goes to the older one; the other is skipped).
 *
 * @module
 */
import { canonicalCidr, networkOf, parseCidr, tryParseCidr } from "../net/cidr.ts";
import { BadRecordError, decodeLeaseRecord, encodeLeaseRecord, subnetKey } from "./flannel.ts";
import type { Lease } from "./types.ts";

/** flannel's annotation keys (what `kubectl get node -o yaml` shows on a flannel cluster). */
export const NODE_ANNOTATIONS = {
  backendType: "flannel.alpha.coreos.com/backend-type",
  backendData: "flannel.alpha.coreos.com/backend-data",
  publicIP: "flannel.alpha.coreos.com/public-ip",
  publicIP6: "flannel.alpha.coreos.com/public-ipv6",
  subnetManager: "flannel.alpha.coreos.com/kube-subnet-manager",
} as const;

/** The most an annotation value skein reads may hold (bytes); larger ones are refused. */
export const MAX_ANNOTATION_BYTES = 16 * 1024;

/** The parts of a v1 Node skein reads. */
export interface KubeNode {
  metadata: {
    name: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
  };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

/**
 * Whether two versions of a Node give the same lease and the same order among Nodes: name,
 * creation time, podCIDR(s) and skein's (flannel's) annotations are equal. A status-only update
 * (kubelet heartbeats, conditions, labels) changes nothing here.
 */
export function sameLeaseInputs(a: KubeNode, b: KubeNode): boolean {
  if (a.metadata.name !== b.metadata.name) return false;
  if (a.metadata.creationTimestamp !== b.metadata.creationTimestamp) return false;
  if (a.spec?.podCIDR !== b.spec?.podCIDR) return false;
  const pa = a.spec?.podCIDRs ?? [], pb = b.spec?.podCIDRs ?? [];
  if (pa.length !== pb.length || pa.some((c, i) => c !== pb[i])) return false;
  const aa = a.metadata.annotations ?? {}, ab = b.metadata.annotations ?? {};
  return Object.values(NODE_ANNOTATIONS).every((k) => aa[k] === ab[k]);
}

/** The pod subnets of a Node's spec (v4 and optional v6), canonical; undefined when unset. */
export function nodePodCidrs(node: KubeNode): { subnet: string; subnet6?: string } | undefined {
  const list = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : [node.spec?.podCIDR ?? ""];
  let subnet: string | undefined;
  let subnet6: string | undefined;
  for (const text of list) {
    if (!text) continue;
    const c = text.includes("/") ? tryParseCidr(text) : undefined;
    if (!c) {
      throw new BadRecordError(node.metadata.name, `podCIDR ${JSON.stringify(text)} is not a CIDR`);
    }
    if (c.family === 4) subnet ??= canonicalCidr(text);
    else subnet6 ??= canonicalCidr(text);
  }
  if (!subnet) return undefined;
  return subnet6 ? { subnet, subnet6 } : { subnet };
}

/**
 * The lease a Node announces, or undefined when it announces none yet (no podCIDR, or no
 * backend-type annotation: skein has not run there). Throws BadRecordError for a Node whose
 * annotations or podCIDR cannot be read.
 */
export function nodeLease(node: KubeNode, expiration: string): Lease | undefined {
  const ann = node.metadata.annotations ?? {};
  const type = ann[NODE_ANNOTATIONS.backendType];
  if (type === undefined) return undefined;
  const name = node.metadata.name;
  for (const k of Object.values(NODE_ANNOTATIONS)) {
    if ((ann[k]?.length ?? 0) > MAX_ANNOTATION_BYTES) {
      throw new BadRecordError(name, `annotation ${k} is over ${MAX_ANNOTATION_BYTES} bytes`);
    }
  }
  const cidrs = nodePodCidrs(node);
  if (!cidrs) return undefined;
  let data: unknown = null;
  const rawData = ann[NODE_ANNOTATIONS.backendData];
  if (rawData !== undefined && rawData !== "") {
    try {
      data = JSON.parse(rawData);
    } catch {
      throw new BadRecordError(name, `annotation ${NODE_ANNOTATIONS.backendData} is not JSON`);
    }
  }
  if (!/^[a-z0-9-]{1,32}$/.test(type)) {
    throw new BadRecordError(
      name,
      `annotation ${NODE_ANNOTATIONS.backendType} ${
        JSON.stringify(type.slice(0, 40))
      } is not a backend name`,
    );
  }
  const lease = decodeLeaseRecord(subnetKey(cidrs.subnet, cidrs.subnet6), {
    PublicIP: ann[NODE_ANNOTATIONS.publicIP],
    PublicIPv6: ann[NODE_ANNOTATIONS.publicIP6] || undefined, // flannel may leave it empty
    BackendType: type,
    BackendData: data,
    Node: name,
  }, expiration);
  return lease;
}

/**
 * The merge patch that puts `lease`'s backend data on its Node: only skein's (flannel's)
 * annotation keys, so other annotations stay as they are.
 */
export function annotationPatch(
  lease: Lease,
): { metadata: { annotations: Record<string, string | null> } } {
  const rec = encodeLeaseRecord(lease);
  return {
    metadata: {
      annotations: {
        [NODE_ANNOTATIONS.backendType]: lease.backendType,
        [NODE_ANNOTATIONS.backendData]: JSON.stringify(rec.BackendData ?? null),
        [NODE_ANNOTATIONS.publicIP]: lease.publicIP,
        [NODE_ANNOTATIONS.publicIP6]: lease.publicIP6 ?? null,
        [NODE_ANNOTATIONS.subnetManager]: "true",
      },
    },
  };
}

/** The merge patch that takes skein's annotations off a Node (release). */
export function annotationRemovalPatch(): { metadata: { annotations: Record<string, null> } } {
  return {
    metadata: {
      annotations: Object.fromEntries(Object.values(NODE_ANNOTATIONS).map((k) => [k, null])),
    },
  };
}

/** True when the Node already carries exactly `lease`'s annotations. */
export function annotationsMatch(node: KubeNode, lease: Lease): boolean {
  const want = annotationPatch(lease).metadata.annotations;
  const have = node.metadata.annotations ?? {};
  return Object.entries(want).every((
    [k, v],
  ) => (v === null ? have[k] === undefined : have[k] === v));
}

/** A Node left out of the leases, and why (for the log and skein_leases_invalid_total). */
export interface SkippedNode {
  node: string;
  reason: string;
}

/**
 * The valid leases of a set of Nodes by subnet key (`leaseKey`): undecodable Nodes are skipped,
 * and of Nodes whose subnets overlap, the oldest (creation time, then name) keeps its lease. A
 * lease `refuse` gives a reason for (a podCIDR that can never be routed: outside the cluster
 * network, not a node-sized block) takes no part in that vote: it is listed as it is (the
 * daemon refuses it, with its reason) and outvotes no one. `decode` may cache per
 * resourceVersion.
 */
export function nodeLeases(
  nodes: Iterable<KubeNode>,
  decode: (n: KubeNode) => Lease | undefined,
  refuse?: (l: Lease) => string | undefined,
): { leases: Map<string, Lease>; skipped: SkippedNode[] } {
  const ordered = [...nodes].sort((a, b) =>
    (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
    a.metadata.name.localeCompare(b.metadata.name)
  );
  const leases = new Map<string, Lease>();
  const skipped: SkippedNode[] = [];
  const held = new Map<string, string>(); // "network/prefix" → node, per prefix length in use
  const inside = new Map<string, string>(); // each shorter prefix holding a held subnet → node
  const lens = new Set<number>();
  for (const n of ordered) {
    let l: Lease | undefined;
    try {
      l = decode(n);
    } catch (e) {
      skipped.push({ node: n.metadata.name, reason: (e as Error).message });
      continue;
    }
    if (!l) continue;
    if (refuse?.(l)) {
      // Out of the vote, not out of the list: the daemon refuses it with its own reason.
      leases.set(subnetKey(l.subnet, l.subnet6), l);
      continue;
    }
    const c = parseCidr(l.subnet);
    const other = overlapping(c, held, inside, lens);
    if (other !== undefined) {
      skipped.push({
        node: n.metadata.name,
        reason: `podCIDR ${l.subnet} overlaps node ${other}'s`,
      });
      continue;
    }
    lens.add(c.prefix);
    held.set(`${networkOf(c).value}/${c.prefix}`, n.metadata.name);
    for (let p = 0; p < c.prefix; p++) {
      const k = `${networkOf({ ...c, prefix: p }).value}/${p}`;
      if (!inside.has(k)) inside.set(k, n.metadata.name);
    }
    leases.set(subnetKey(l.subnet, l.subnet6), l);
  }
  return { leases, skipped };
}

/**
 * The node holding a subnet that contains or lies inside `c`, if any: a held prefix of a length
 * in use that covers `c`, or a held longer one inside it (`inside` indexes every held subnet by
 * its shorter prefixes, so each Node costs a lookup per length, not a scan of the held ones).
 */
function overlapping(
  c: ReturnType<typeof parseCidr>,
  held: Map<string, string>,
  inside: Map<string, string>,
  lens: Set<number>,
): string | undefined {
  for (const p of lens) {
    if (p > c.prefix) continue;
    const hit = held.get(`${networkOf({ ...c, prefix: p }).value}/${p}`);
    if (hit !== undefined) return hit;
  }
  return inside.get(`${networkOf(c).value}/${c.prefix}`);
}
