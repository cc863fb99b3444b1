/**
 * Runs the check families over a collected Diagnosis and builds the ranked Report. A family
 * that throws does not stop the others: it becomes one `<family>.error` warning with the message.
 *
 * @module
 */
import { type CheckResult, type EndpointInfo, type Report, verdictOf, warn } from "./check.ts";
import type { Diagnosis, Endpoint } from "./context.ts";
import type { Family } from "./family.ts";
import { FAMILIES } from "./families/mod.ts";
import { Kernel } from "./kernel.ts";
import { rankChecks } from "./rank.ts";

function applies(f: Family, backends: Set<string>): boolean {
  return !f.appliesTo || f.appliesTo.some((b) => backends.has(b));
}

function info(e: Endpoint): EndpointInfo {
  const i: EndpointInfo = { query: e.query, ip: e.ip };
  if (e.node) i.node = e.node.name;
  if (e.netns) i.netns = e.netns;
  if (e.containerId) i.containerId = e.containerId;
  return i;
}

/** Runs every applicable family; closes the kernels it opened for pods. */
export async function runDiagnosis(
  d: Diagnosis,
  families: readonly Family[] = FAMILIES,
  started = performance.now(),
): Promise<Report> {
  const checks: CheckResult[] = [];
  const nodes = d.pair ? d.pair.nodes : d.nodes;
  const backends = new Set(nodes.map((n) => n.facts.backend));
  try {
    for (const f of families) {
      if (!applies(f, backends)) continue;
      try {
        if (d.pair) {
          if (f.pair) checks.push(...await f.pair(d, d.pair));
        } else if (f.node) {
          for (const n of d.nodes) checks.push(...await f.node(d, n));
        }
      } catch (e) {
        checks.push(
          warn(
            `${f.name}.error`,
            "-",
            `the ${f.name} checks could not finish: ${(e as Error).message}`,
            {
              evidence: { error: String((e as Error).stack ?? e) },
            },
          ),
        );
      }
    }
  } finally {
    for (const [k, v] of d.memo) if (k.startsWith("podkernel|") && v instanceof Kernel) v.close();
  }
  const ranked = rankChecks(checks, nodes.map((n) => n.name));
  // Key order as documented: schemaVersion, verdict, from, to, checks, durationMs.
  return {
    schemaVersion: 1,
    verdict: verdictOf(ranked),
    ...(d.pair ? { from: info(d.pair.from), to: info(d.pair.to) } : {}),
    checks: ranked,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
  };
}
