/**
 * A node's (or a pod's) nftables ruleset for the netfilter checks: `nft -j list ruleset` run
 * inside the namespace (nsenter --net; node/nft.ts: the one place skein runs the nft binary, as
 * DESIGN.md allows for nftables) once per diagnosis. Read-only. iptables-nft rules are part of it.
 *
 * @module
 */
import { nft } from "../node/nft.ts";
import type { Diagnosis, Endpoint, NodeView } from "./context.ts";
import { parseIptablesSave, parseNetdevDevices, parseRuleset, type Ruleset } from "./nft_eval.ts";

/** The ruleset, or why it could not be read. */
export type RulesetAnswer = { ok: true; ruleset: Ruleset; text: string } | {
  ok: false;
  reason: string;
};

/** The node's ruleset (memoised per diagnosis). */
export function rulesetOf(d: Diagnosis, node: NodeView): Promise<RulesetAnswer> {
  if (!node.kernel) {
    return Promise.resolve({ ok: false, reason: `no kernel access to ${node.name}` });
  }
  return memoised(d, `ruleset|${node.name}`, node.kernel.netns);
}

/** The ruleset of pod `e`'s own namespace (memoised per diagnosis). */
export function podRulesetOf(d: Diagnosis, e: Endpoint): Promise<RulesetAnswer> {
  if (!e.netns) {
    return Promise.resolve({ ok: false, reason: `pod ${e.ip}'s namespace is not known` });
  }
  return memoised(d, `ruleset|pod|${e.netns}`, e.netns);
}

/** The ruleset of any namespace (a lab's router or segment), memoised per diagnosis. */
export function rulesetIn(d: Diagnosis, netns: string): Promise<RulesetAnswer> {
  return memoised(d, `ruleset|ns|${netns}`, netns);
}

function memoised(d: Diagnosis, key: string, netns: string | undefined): Promise<RulesetAnswer> {
  let p = d.memo.get(key) as Promise<RulesetAnswer> | undefined;
  if (!p) {
    p = read(netns);
    d.memo.set(key, p);
  }
  return p;
}

async function read(netns: string | undefined): Promise<RulesetAnswer> {
  try {
    const text = await nft({ args: ["-j", "list", "ruleset"], ...(netns ? { netns } : {}) });
    // iptables-nft rules with xt matches (kube-proxy's conntrack states): their arguments are
    // only in iptables' own listing.
    const xt = text.includes('"xt"');
    const save = xt ? await xtSave(netns, ["iptables-nft-save", "iptables-save"]) : undefined;
    // ebtables-nft's IPv4 match (--ip-src, ...) likewise, in the bridge tables.
    const eb = xt && text.includes('"bridge"')
      ? await xtSave(netns, ["ebtables-nft-save", "ebtables-save"])
      : undefined;
    // netdev chains' devices: nft 1.0's JSON leaves them out, its text has them.
    const netdev = /"family":\s*"netdev"/.test(text)
      ? parseNetdevDevices(await nft({ args: ["list", "ruleset"], ...(netns ? { netns } : {}) }))
      : undefined;
    const ruleset = parseRuleset(text, save, eb, netdev);
    // NFQUEUE: which queues a program listens on decides whether queued packets are dropped.
    if (/"NFQUEUE"|"queue":/.test(text)) ruleset.boundQueues = await boundQueues(netns);
    return { ok: true, ruleset, text };
  } catch (e) {
    return { ok: false, reason: `cannot read the nftables ruleset: ${(e as Error).message}` };
  }
}

/**
 * `iptables-save` or `ebtables-save` (the nft variant: the first of `bins` that runs) inside the
 * namespace, parsed; undefined when none can run.
 */
async function xtSave(
  netns: string | undefined,
  bins: readonly string[],
): Promise<Map<string, string[]> | undefined> {
  for (const bin of bins) {
    try {
      const o = await new Deno.Command("nsenter", {
        args: [...(netns ? [`--net=${netns}`] : []), bin],
        stdout: "piped",
        stderr: "null",
      }).output();
      if (o.success) return parseIptablesSave(new TextDecoder().decode(o.stdout));
    } catch { /* not installed: try the next, then judge without */ }
  }
  return undefined;
}

/**
 * The NFQUEUE queue numbers a program is bound to in the namespace (the first column of
 * /proc/net/netfilter/nfnetlink_queue, read by a process inside it); empty when none or unreadable.
 */
async function boundQueues(netns: string | undefined): Promise<Set<number>> {
  try {
    const o = await new Deno.Command("nsenter", {
      args: [...(netns ? [`--net=${netns}`] : []), "cat", "/proc/net/netfilter/nfnetlink_queue"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = o.success ? new TextDecoder().decode(o.stdout) : "";
    return new Set(
      text.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter((x) => x && /^\d+$/.test(x))
        .map(Number),
    );
  } catch {
    return new Set();
  }
}
