/**
 * A node's nftables ruleset for the netfilter checks: `nft -j list ruleset` run inside the
 * node's namespace (nsenter --net; node/nft.ts: the one place skein runs the nft binary, as
 * DESIGN.md allows for nftables) once per diagnosis. Read-only. iptables-nft rules are part of it.
 *
 * @module
 */
import { nft } from "../node/nft.ts";
import type { Diagnosis, NodeView } from "./context.ts";
import { parseRuleset, type Ruleset } from "./nft_eval.ts";

/** The ruleset, or why it could not be read. */
export type RulesetAnswer = { ok: true; ruleset: Ruleset; text: string } | {
  ok: false;
  reason: string;
};

/** The node's ruleset (memoised per diagnosis). */
export async function rulesetOf(d: Diagnosis, node: NodeView): Promise<RulesetAnswer> {
  const key = `ruleset|${node.name}`;
  const memo = d.memo.get(key) as Promise<RulesetAnswer> | undefined;
  if (memo) return await memo;
  const p = read(node);
  d.memo.set(key, p);
  return await p;
}

async function read(node: NodeView): Promise<RulesetAnswer> {
  if (!node.kernel) return { ok: false, reason: `no kernel access to ${node.name}` };
  try {
    const text = await nft({
      args: ["-j", "list", "ruleset"],
      ...(node.kernel.netns ? { netns: node.kernel.netns } : {}),
    });
    return { ok: true, ruleset: parseRuleset(text), text };
  } catch (e) {
    return { ok: false, reason: `cannot read the nftables ruleset: ${(e as Error).message}` };
  }
}
