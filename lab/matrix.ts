/**
 * The connectivity matrix: every pod pings every other pod; this file holds the pure parts
 * (which pairs, and how the result is printed).
 *
 * @module
 */

/** A pod as the matrix sees it. */
export interface MatrixPod {
  /** Short name, e.g. "n1-p1". */
  name: string;
  /** Its address, e.g. "10.244.1.2". */
  ip: string;
  /** Namespace path to ping from. */
  netnsPath: string;
}

/** One ping from `from` to `to` (indexes into the pod list). */
export interface MatrixPair {
  from: number;
  to: number;
}

/** One result cell. */
export interface MatrixResult extends MatrixPair {
  ok: boolean;
  /** Round-trip time in ms when ok. */
  rttMs?: number;
  /** Why it failed (ping's output tail), when not ok. */
  error?: string;
}

/** Every ordered pair of distinct pods. */
export function matrixPairs(count: number): MatrixPair[] {
  const pairs: MatrixPair[] = [];
  for (let from = 0; from < count; from++) {
    for (let to = 0; to < count; to++) {
      if (from !== to) pairs.push({ from, to });
    }
  }
  return pairs;
}

/** Counts of a run. */
export interface MatrixSummary {
  total: number;
  ok: number;
  failed: number;
}

/** Counts ok and failed pairs. */
export function summarize(results: readonly MatrixResult[]): MatrixSummary {
  const ok = results.filter((r) => r.ok).length;
  return { total: results.length, ok, failed: results.length - ok };
}

/**
 * Renders the matrix as text: one row per source pod, one column per destination, "ok" or
 * "FAIL" in each cell ("-" on the diagonal), then one line per failed pair with the reason.
 *
 * ```
 * from \ to      n1-p1  n2-p1
 * n1-p1 10.244.1.2   -     ok
 * ```
 */
export function formatMatrix(
  pods: readonly Pick<MatrixPod, "name" | "ip">[],
  results: readonly MatrixResult[],
): string {
  const cell = new Map<string, MatrixResult>();
  for (const r of results) cell.set(`${r.from}>${r.to}`, r);
  const head = pods.map((p) => `${p.name} ${p.ip}`);
  const rowW = Math.max("from \\ to".length, ...head.map((h) => h.length));
  const colW = Math.max(4, ...pods.map((p) => p.name.length));
  const lines: string[] = [];
  lines.push(["from \\ to".padEnd(rowW), ...pods.map((p) => p.name.padStart(colW))].join("  "));
  pods.forEach((_, i) => {
    const cells = pods.map((_, j) => {
      if (i === j) return "-".padStart(colW);
      const r = cell.get(`${i}>${j}`);
      return (r === undefined ? "?" : r.ok ? "ok" : "FAIL").padStart(colW);
    });
    lines.push([head[i]!.padEnd(rowW), ...cells].join("  "));
  });
  const s = summarize(results);
  lines.push("");
  lines.push(`${s.ok}/${s.total} pairs reachable${s.failed ? `, ${s.failed} FAILED` : ""}`);
  for (const r of results) {
    if (r.ok) continue;
    const from = pods[r.from], to = pods[r.to];
    lines.push(
      `  FAIL ${from?.name} -> ${to?.name} (${to?.ip})${r.error ? `: ${r.error}` : ""}`,
    );
  }
  return lines.join("\n");
}
