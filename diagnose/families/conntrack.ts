/**
 * `conntrack`: the connection-tracking table's fill (nf_conntrack_count against
 * nf_conntrack_max: a full table drops new flows) and its drop statistics (insert_failed, drop,
 * early_drop from /proc/net/stat/nf_conntrack, summed over CPUs), read inside each node.
 *
 * @module
 */
import { type CheckResult, fail, pass, warn } from "../check.ts";
import type { NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { nsExec } from "../path.ts";

/** Sums the per-CPU hex columns of /proc/net/stat/nf_conntrack by column name. */
export function conntrackStats(text: string): Record<string, number> {
  const lines = text.trim().split("\n");
  const names = (lines[0] ?? "").trim().split(/\s+/);
  const out: Record<string, number> = {};
  for (const line of lines.slice(1)) {
    const vals = line.trim().split(/\s+/);
    names.forEach((n, i) => {
      if (n === "entries") out[n] = Number.parseInt(vals[i] ?? "0", 16); // global, same on every CPU
      else out[n] = (out[n] ?? 0) + Number.parseInt(vals[i] ?? "0", 16);
    });
  }
  return out;
}

/** The fill check: fail when full (new flows dropped), warn from 90 %. */
export function tableCheck(node: string, count: number, max: number, fix: string): CheckResult {
  const used = max ? Math.round((count / max) * 1000) / 10 : 0;
  const ev = { nf_conntrack_count: count, nf_conntrack_max: max, usedPercent: used };
  if (count >= max) {
    return fail(
      "conntrack.table",
      node,
      `${node}'s conntrack table is full (${count}/${max}): new flows are dropped`,
      { evidence: ev, fix },
    );
  }
  if (count >= max * 0.9) {
    return warn("conntrack.table", node, `${node}'s conntrack table is ${used} % full`, {
      evidence: ev,
      fix,
    });
  }
  return pass("conntrack.table", node, `${node}'s conntrack table holds ${count} of ${max}`, {
    evidence: ev,
  });
}

function check(node: NodeView): CheckResult[] {
  const k = node.kernel;
  if (!k) return [];
  k.readSysctls(["net.netfilter.nf_conntrack_count", "net.netfilter.nf_conntrack_max"]);
  const count = k.sysctl("net.netfilter.nf_conntrack_count");
  const max = k.sysctl("net.netfilter.nf_conntrack_max");
  if (count === undefined || max === undefined) {
    return [
      pass("conntrack.table", node.name, `connection tracking is not loaded on ${node.name}`, {
        evidence: { nf_conntrack: "absent" },
      }),
    ];
  }
  const c = Number(count), m = Number(max);
  const ev = {
    nf_conntrack_count: c,
    nf_conntrack_max: m,
    usedPercent: m ? Math.round((c / m) * 1000) / 10 : 0,
  };
  const out: CheckResult[] = [];
  const fix = `${nsExec(node)}sysctl -w net.netfilter.nf_conntrack_max=${Math.max(m * 2, 262144)}`;
  if (c >= m) {
    out.push(
      fail(
        "conntrack.table",
        node.name,
        `${node.name}'s conntrack table is full (${c}/${m}): new flows are dropped`,
        { evidence: ev, fix },
      ),
    );
  } else if (c >= m * 0.9) {
    out.push(
      warn(
        "conntrack.table",
        node.name,
        `${node.name}'s conntrack table is ${ev.usedPercent} % full`,
        { evidence: ev, fix },
      ),
    );
  } else {
    out.push(
      pass("conntrack.table", node.name, `${node.name}'s conntrack table holds ${c} of ${m}`, {
        evidence: ev,
      }),
    );
  }
  let stats: Record<string, number> | undefined;
  try {
    stats = conntrackStats(
      k.inside(() => Deno.readTextFileSync("/proc/thread-self/net/stat/nf_conntrack")),
    );
  } catch { /* not available */ }
  if (stats) {
    const drops = {
      insert_failed: stats.insert_failed ?? 0,
      drop: stats.drop ?? 0,
      early_drop: stats.early_drop ?? 0,
    };
    out.push(
      drops.insert_failed + drops.drop + drops.early_drop > 0
        ? warn(
          "conntrack.drops",
          node.name,
          `${node.name}'s conntrack dropped or failed to insert entries (insert_failed ${drops.insert_failed}, drop ${drops.drop}, early_drop ${drops.early_drop})`,
          {
            evidence: drops,
            fix:
              `${fix}  # insert_failed alone: the SNAT port race (use --random-fully masquerade)`,
          },
        )
        : pass("conntrack.drops", node.name, "no conntrack drops or insert failures", {
          evidence: drops,
        }),
    );
  }
  return out;
}

/** The conntrack family. */
export const conntrackFamily: Family = {
  name: "conntrack",
  pair: (_d, pair) => pair.nodes.flatMap(check),
  node: (_d, node) => check(node),
};
