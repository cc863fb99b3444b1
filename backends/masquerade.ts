/**
 * Masquerade (SNAT to the outgoing interface's address) for pod traffic leaving the cluster
 * network, in one nftables table the daemon owns: `table inet skein-masq` (the CNI plugin's
 * per-pod `ipMasq` lives in its own `table inet skein`; the two never touch each other's table).
 * The rules follow flannel's:
 *
 * ```
 * ip saddr @cluster4 ip daddr @cluster4 return                 # pod → pod: keep pod addresses
 * ip saddr != @cluster4 ip daddr @pods4 return                 # host/outside → this node's pods
 * ip saddr @cluster4 ip daddr != 224.0.0.0/4 masquerade fully-random   # pods → outside
 * ip saddr != @cluster4 ip daddr @cluster4 masquerade fully-random     # host → remote pods
 * ```
 * (and the same for IPv6 with ff00::/8). Nothing else on the system is touched.
 *
 * Applied with node/nft.ts's nftSync() as ONE atomic transaction (`nft -f FILE`: the kernel
 * applies the whole file or nothing), run inside the node's namespace with `nsenter --net=<path>`
 * when a namespace is given. The transaction creates the table if absent, deletes it, and re-adds it
 * with the current rules, so a call is idempotent and never leaves a half-written table;
 * `enabled: false` deletes the table.
 *
 * @module
 */
import { canonicalCidr, parseCidr } from "../net/cidr.ts";
import type { NetnsRef } from "../net/types.ts";
import { NftError, nftSync } from "../node/nft.ts";

/** The table the daemon's masquerade owns (`nft list table inet skein-masq`). */
export const MASQ_TABLE = "skein-masq";

/** Options for ensureMasquerade(). */
export interface MasqueradeOptions {
  /** The namespace to apply the rules in (path or pid); undefined: this process's. */
  netns?: NetnsRef;
  /** The cluster networks (IPv4 and/or IPv6), e.g. ["10.244.0.0/16"]. */
  clusterNetworks: string[];
  /** This node's pod subnets, e.g. ["10.244.1.0/24"]. */
  podSubnets: string[];
  /** false removes skein's table. */
  enabled: boolean;
}

/** `nft` failed, or an option was invalid (then nothing was run). */
export class MasqueradeError extends Error {
  /**
   * Creates the error.
   * @param message what failed and why (nft's own message included)
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MasqueradeError";
  }
}

function split(field: string, cidrs: string[]): { v4: string[]; v6: string[] } {
  const out = { v4: [] as string[], v6: [] as string[] };
  if (!Array.isArray(cidrs)) throw new MasqueradeError(`Invalid ${field}: not a list of CIDRs`);
  for (const c of cidrs) {
    let parsed;
    try {
      parsed = parseCidr(c);
    } catch {
      throw new MasqueradeError(`Invalid ${field} entry ${JSON.stringify(c)}: not a CIDR prefix`);
    }
    if (!String(c).includes("/")) {
      throw new MasqueradeError(`Invalid ${field} entry ${JSON.stringify(c)}: needs a /prefix`);
    }
    (parsed.family === 4 ? out.v4 : out.v6).push(canonicalCidr(c));
  }
  return out;
}

/**
 * The nft script for `opts` (pure): `add table` + `delete table` (+ the new table when enabled),
 * which `nft -f` applies as one transaction. Throws MasqueradeError on an invalid CIDR.
 */
export function masqueradeScript(opts: Omit<MasqueradeOptions, "netns">): string {
  const cluster = split("clusterNetworks", opts.clusterNetworks);
  const pods = split("podSubnets", opts.podSubnets);
  const lines = [`add table inet ${MASQ_TABLE}`, `delete table inet ${MASQ_TABLE}`];
  if (!opts.enabled) return lines.join("\n") + "\n";
  if (cluster.v4.length === 0 && cluster.v6.length === 0) {
    throw new MasqueradeError("Invalid clusterNetworks: at least one CIDR is needed to masquerade");
  }
  const body: string[] = [];
  const rules: string[] = [];
  const fam = [
    { ip: "ip", t: "ipv4_addr", n: "4", mc: "224.0.0.0/4", cluster: cluster.v4, pods: pods.v4 },
    { ip: "ip6", t: "ipv6_addr", n: "6", mc: "ff00::/8", cluster: cluster.v6, pods: pods.v6 },
  ];
  for (const f of fam) {
    if (f.cluster.length === 0) continue;
    body.push(
      `  set cluster${f.n} {`,
      `    type ${f.t}; flags interval;`,
      `    elements = { ${f.cluster.join(", ")} }`,
      `  }`,
    );
    rules.push(`    ${f.ip} saddr @cluster${f.n} ${f.ip} daddr @cluster${f.n} return`);
    if (f.pods.length) {
      body.push(
        `  set pods${f.n} {`,
        `    type ${f.t}; flags interval;`,
        `    elements = { ${f.pods.join(", ")} }`,
        `  }`,
      );
      rules.push(`    ${f.ip} saddr != @cluster${f.n} ${f.ip} daddr @pods${f.n} return`);
    }
    rules.push(
      `    ${f.ip} saddr @cluster${f.n} ${f.ip} daddr != ${f.mc} masquerade fully-random`,
      `    ${f.ip} saddr != @cluster${f.n} ${f.ip} daddr @cluster${f.n} masquerade fully-random`,
    );
  }
  lines.push(
    `table inet ${MASQ_TABLE} {`,
    ...body,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    ...rules,
    `  }`,
    `}`,
  );
  return lines.join("\n") + "\n";
}

/**
 * Makes skein's masquerade table match `opts` in one atomic `nft -f` transaction (see the module
 * doc). Idempotent. Throws MasqueradeError (with nft's message) when nft fails; invalid options
 * throw before anything runs.
 */
export function ensureMasquerade(opts: MasqueradeOptions): void {
  const script = masqueradeScript(opts);
  try {
    nftSync({ script, netns: opts.netns });
  } catch (e) {
    if (!(e instanceof NftError)) throw e;
    if (e.exitCode === undefined) throw new MasqueradeError(e.message, { cause: e.cause });
    throw new MasqueradeError(
      `Cannot ${
        opts.enabled ? "apply" : "remove"
      } masquerade table inet ${MASQ_TABLE}: nft exited ${e.exitCode}: ${e.stderr}`,
    );
  }
}
