/**
 * Runs the check families over a collected Diagnosis and builds the ranked Report. A family
 * that throws does not stop the others: it becomes one `<family>.error` warning with the message.
 *
 * @module
 */
import { type CheckResult, type EndpointInfo, type Report, verdictOf, warn } from "./check.ts";
import type { DiagnoseOptions, Diagnosis, Endpoint, NodeView, StoreView } from "./context.ts";
import { writeBundle } from "./bundle.ts";
import { askDaemon } from "./daemon_client.ts";
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

function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs every applicable family; closes the kernels it opened for pods. */
export async function runDiagnosis(
  d: Diagnosis,
  families: readonly Family[] = FAMILIES,
  started = performance.now(),
): Promise<Report> {
  const checks: CheckResult[] = [];
  const nodes = d.pair ? d.pair.nodes : d.nodes;
  // A pod whose namespace is gone (deleted, its reservation left): judged as an address no
  // namespace holds, not as a namespace that cannot be opened by every family.
  for (const e of d.pair ? [d.pair.from, d.pair.to] : []) {
    if (e.netns && !pathExists(e.netns)) {
      e.goneNetns = e.netns;
      delete e.netns;
    }
  }
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

/** What runPairDiagnosis() needs: the two resolved endpoints and where the leases came from. */
export interface PairRun {
  from: Endpoint;
  to: Endpoint;
  /** The nodes to inspect (both endpoints' nodes). */
  nodes: NodeView[];
  store: StoreView;
  options: DiagnoseOptions;
  /** The longest wait for one daemon's /healthz, /readyz and /debug/state (ms). */
  daemonTimeoutMs: number;
  /** Daemons not to ask (e.g. one known to be stopped: it would only time out). */
  skipDaemon?: (n: NodeView) => boolean;
  /** Families run after FAMILIES (`skein lab diagnose`: the lab's own segments and router). */
  extraFamilies?: readonly Family[];
  started: number;
}

/**
 * A pair diagnosis on both endpoints' nodes: asks each node's daemon (when it listens), runs every
 * family, and writes the bundle when one is asked for. Used by `skein diagnose --from/--to` and
 * `skein lab diagnose`.
 */
export async function runPairDiagnosis(r: PairRun): Promise<Report> {
  const nodes = r.nodes;
  await Promise.all(nodes.map(async (n) => {
    if (!n.facts.listen || r.skipDaemon?.(n)) return;
    n.daemon = await askDaemon(n.facts.listen, {
      timeoutMs: Math.min(r.options.timeoutMs, r.daemonTimeoutMs),
      metrics: r.options.bundle !== undefined,
    });
  }));
  const d: Diagnosis = {
    nodes,
    store: r.store,
    options: r.options,
    pair: { from: r.from, to: r.to, nodes },
    memo: new Map(),
  };
  const report = await runDiagnosis(d, [...FAMILIES, ...r.extraFamilies ?? []], r.started);
  if (r.options.bundle) await writeBundle(r.options.bundle, d, report);
  return report;
}
