/**
 * IP masquerade for pod traffic leaving its subnet (the reference bridge's `ipMasq`), with
 * nftables. Uses node/nft.ts's nft() with one atomic `nft -f -` transaction per change, in a
 * skein-owned table:
 *
 * ```
 * table inet skein {
 *   map masq4 { type ipv4_addr : verdict }   # pod address → jump to its network's chain
 *   map masq6 { type ipv6_addr : verdict }
 *   chain postrouting { type nat hook postrouting priority srcnat; ip saddr vmap @masq4; ip6 saddr vmap @masq6 }
 *   chain m4-<hash> { ip daddr <pod subnet> return; ip daddr 224.0.0.0/4 return; masquerade }
 * }
 * ```
 *
 * Each map element carries the comment "skein <network> <containerId> <ifName>", so DEL and
 * GC find an attachment's entries without knowing its address (like the reference plugin's
 * per-container comments). nftables keeps at most 128 bytes of comment: an owner whose comment
 * would be longer (a 128-character container id, a long network name), or whose interface name
 * holds characters a quoted nft string cannot (`"`, `\`), is written as
 * "skein #<hash of network> #<hash of containerId/ifName>".
 *
 * @module
 */
import { sha256Hex } from "../node/sha256.ts";
import { CniCode, CniError } from "./errors.ts";
import { canonicalCidr, parseCidr } from "../net/cidr.ts";
import { nft } from "../node/nft.ts";

const TABLE = "inet skein";

/** One masqueraded pod address. */
export interface MasqEntry {
  /** Pod address with its subnet prefix, "10.244.1.5/24". */
  address: string;
}

/** Who owns a masquerade entry. */
export interface MasqOwner {
  /** Network name. */
  network: string;
  /** CNI_CONTAINERID. */
  containerId: string;
  /** CNI_IFNAME: the interface name inside the pod. */
  ifName: string;
}

/** nftables' limit on a comment (NFT_USERDATA_MAXLEN). */
const MAX_COMMENT = 128;

/** What the readable comment form may hold: network names and container ids already match it. */
const PLAIN = /^[A-Za-z0-9_.\-]+$/;

function networkHash(network: string): string {
  return `#${sha256Hex(network).slice(0, 16)}`;
}

/**
 * The element comment for an owner: "skein <network> <containerId> <ifName>" when that fits
 * nftables' 128 bytes and holds only plain characters, else
 * "skein #<16 hex of sha256(network)> #<32 hex of sha256(containerId/ifName)>".
 */
export function masqComment(o: MasqOwner): string {
  const full = `skein ${o.network} ${o.containerId} ${o.ifName}`;
  if (
    full.length <= MAX_COMMENT && PLAIN.test(o.network) && PLAIN.test(o.containerId) &&
    PLAIN.test(o.ifName)
  ) return full;
  const attachment = sha256Hex(`${o.containerId}/${o.ifName}`).slice(0, 32);
  return `skein ${networkHash(o.network)} #${attachment}`;
}

/** True when `comment` is an element comment of network `network`, in either form. */
function ofNetwork(comment: string, network: string): boolean {
  return comment.startsWith(`skein ${network} `) ||
    comment.startsWith(`skein ${networkHash(network)} `);
}

function chainName(family: 4 | 6, network: string, subnet: string): string {
  const h = sha256Hex(`${network}/${subnet}`).slice(0, 12);
  return `m${family}-${h}`;
}

/** The `nft -f -` script that masquerades `entries` for `owner` (exported for unit tests). */
export function masqAddScript(owner: MasqOwner, entries: readonly MasqEntry[]): string {
  const lines = [
    `add table ${TABLE}`,
    `add map ${TABLE} masq4 { type ipv4_addr : verdict; }`,
    `add map ${TABLE} masq6 { type ipv6_addr : verdict; }`,
    `add chain ${TABLE} postrouting { type nat hook postrouting priority srcnat; policy accept; }`,
    // Re-created in the same transaction so concurrent ADDs never leave duplicate rules.
    `flush chain ${TABLE} postrouting`,
    `add rule ${TABLE} postrouting ip saddr vmap @masq4`,
    `add rule ${TABLE} postrouting ip6 saddr vmap @masq6`,
  ];
  const comment = masqComment(owner);
  for (const e of entries) {
    const c = parseCidr(e.address);
    const subnet = canonicalCidr(e.address);
    const chain = chainName(c.family, owner.network, subnet);
    const fam = c.family === 4 ? "ip" : "ip6";
    const mcast = c.family === 4 ? "224.0.0.0/4" : "ff00::/8";
    const addr = e.address.split("/")[0]!;
    lines.push(
      `add chain ${TABLE} ${chain}`,
      `flush chain ${TABLE} ${chain}`,
      `add rule ${TABLE} ${chain} ${fam} daddr ${subnet} return`,
      `add rule ${TABLE} ${chain} ${fam} daddr ${mcast} return`,
      `add rule ${TABLE} ${chain} masquerade`,
      `add element ${TABLE} masq${c.family} { ${addr} comment "${comment}" : jump ${chain} }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Masquerades traffic from the pod addresses that leaves their subnet. */
export async function masqAdd(owner: MasqOwner, entries: readonly MasqEntry[]): Promise<void> {
  if (!entries.length) return;
  try {
    await nft({ script: masqAddScript(owner, entries) });
  } catch (e) {
    throw new CniError(CniCode.Internal, "cannot set up ipMasq", (e as Error).message);
  }
}

/** The masquerade map elements as (family, address, comment). */
export async function masqList(): Promise<{ family: 4 | 6; address: string; comment: string }[]> {
  const out: { family: 4 | 6; address: string; comment: string }[] = [];
  for (const family of [4, 6] as const) {
    let text: string;
    try {
      text = await nft({ args: ["-j", "list", "map", "inet", "skein", `masq${family}`] });
    } catch {
      continue; // no table or map yet: nothing masqueraded
    }
    out.push(...parseMapElements(text, family));
  }
  return out;
}

/** Extracts (address, comment) pairs from `nft -j list map` output (exported for tests). */
export function parseMapElements(
  json: string,
  family: 4 | 6,
): { family: 4 | 6; address: string; comment: string }[] {
  const out: { family: 4 | 6; address: string; comment: string }[] = [];
  const doc = JSON.parse(json) as { nftables?: { map?: { elem?: unknown[] } }[] };
  for (const item of doc.nftables ?? []) {
    for (const el of item.map?.elem ?? []) {
      const key = Array.isArray(el) ? el[0] : undefined;
      const inner = (key as { elem?: { val?: unknown; comment?: unknown } } | undefined)?.elem;
      if (inner && typeof inner.val === "string") {
        out.push({
          family,
          address: inner.val,
          comment: typeof inner.comment === "string" ? inner.comment : "",
        });
      } else if (typeof key === "string") {
        out.push({ family, address: key, comment: "" });
      }
    }
  }
  return out;
}

/** Removes the masquerade entries whose comment `drop` returns true for; returns how many. */
async function masqPrune(drop: (comment: string) => boolean): Promise<number> {
  const doomed = (await masqList()).filter((e) => drop(e.comment));
  if (!doomed.length) return 0;
  const script = doomed.map((e) => `delete element ${TABLE} masq${e.family} { ${e.address} }`)
    .join("\n") + "\n";
  try {
    await nft({ script });
  } catch {
    // A concurrent DEL may have removed one already: retry one by one, ignoring "missing".
    for (const d of doomed) {
      try {
        await nft({ script: `delete element ${TABLE} masq${d.family} { ${d.address} }\n` });
      } catch {
        // already gone
      }
    }
  }
  return doomed.length;
}

/** Removes the masquerade entries of one attachment (idempotent). */
export async function masqDel(owner: MasqOwner): Promise<void> {
  const comment = masqComment(owner);
  await masqPrune((c) => c === comment);
}

/**
 * GC: removes network `network`'s masquerade entries that belong to none of `valid` (the
 * attachments a GC call lists); returns how many.
 */
export async function masqGc(
  network: string,
  valid: readonly { containerId: string; ifName: string }[],
): Promise<number> {
  const keep = new Set(valid.map((a) => masqComment({ network, ...a })));
  return await masqPrune((c) => ofNetwork(c, network) && !keep.has(c));
}
