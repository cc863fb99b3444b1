/**
 * A mesh session refused with Bad Peer AS (NOTIFICATION 2/2): every node of the full mesh expects
 * its peers in its own AS, so the node whose `backend.asNumber` differs from the others' is the one
 * to change. The fix names that node's config file and the AS to set.
 */
import type { CheckResult } from "../check.ts";
import type { Diagnosis, NodeView } from "../context.ts";

/** The daemon's default AS (backends/bgp/config.ts), which breaks a tie between two ASes. */
const DEFAULT_AS = 64512;

/** Nodes that report a bgp speaker, with the AS each runs. */
function speakers(d: Diagnosis): { node: NodeView; as: number }[] {
  return d.nodes.flatMap((node) => {
    const as = node.daemon?.debug?.bgp?.asNumber;
    return as === undefined ? [] : [{ node, as }];
  });
}

/**
 * The AS the mesh agrees on: the one most nodes run; a tie goes to the default AS when one side
 * runs it, else undefined (the report cannot tell which side was changed).
 */
export function meshAs(asOfNodes: number[]): number | undefined {
  const count = new Map<number, number>();
  for (const a of asOfNodes) count.set(a, (count.get(a) ?? 0) + 1);
  const top = Math.max(0, ...count.values());
  const best = [...count].filter(([, n]) => n === top).map(([a]) => a);
  if (best.length === 1) return best[0];
  return best.includes(DEFAULT_AS) ? DEFAULT_AS : undefined;
}

/** Whether `c` is a failed `bgp.sessions` with a mesh peer refused by Bad Peer AS. */
function badMeshAs(c: CheckResult): boolean {
  if (c.id !== "bgp.sessions" || c.status !== "fail") return false;
  const peers = (c.evidence.peers ?? []) as { source?: string; lastNotification?: string }[];
  return peers.some((p) => p.source === "mesh" && p.lastNotification?.includes("(2/2)"));
}

/**
 * `checks` with the fix of a mesh `bgp.sessions` refused by Bad Peer AS made exact:
 * `set backend.asNumber: <mesh AS> in <config of the odd node>` and restart its daemon.
 */
export function refineMeshAs(d: Diagnosis, checks: CheckResult[]): CheckResult[] {
  if (!checks.some(badMeshAs)) return checks;
  const all = speakers(d);
  const agreed = meshAs(all.map((s) => s.as));
  const runs = all.map((s) => `${s.node.name} AS ${s.as}`).join(", ");
  if (agreed === undefined) {
    const fix = `the mesh's nodes must share one AS (${runs}): set the same backend.asNumber in ` +
      `every node's daemon config and restart the daemons`;
    return checks.map((c) => badMeshAs(c) ? { ...c, fix } : c);
  }
  const odd = all.filter((s) => s.as !== agreed);
  if (!odd.length) return checks;
  const fix =
    odd.map((s) =>
      `set 'backend.asNumber: ${agreed}' in ${
        s.node.facts.configFile ?? `${s.node.name}'s daemon config`
      } and restart ${s.node.name}'s daemon`
    ).join("; ") + ` (the mesh's nodes share one AS: ${runs})`;
  return checks.map((c) => badMeshAs(c) ? { ...c, fix } : c);
}
