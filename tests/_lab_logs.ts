/**
 * What a failed `lab up` in a test prints: the matrix, then each node's daemon log tail, so a
 * failure seen once in a full run can be explained afterwards (the lab is gone by then).
 *
 * @module
 */
import type { UpResult } from "../lab/mod.ts";

/** The matrix of `r` followed by the last `lines` lines of every node's daemon log. */
export function upFailure(r: Pick<UpResult, "lab" | "matrixText">, lines = 25): string {
  const logs = r.lab.plan.nodes.map((n) => {
    let text: string;
    try {
      text = Deno.readTextFileSync(n.logFile).trimEnd().split("\n").slice(-lines).join("\n");
    } catch (e) {
      text = `(cannot read ${n.logFile}: ${(e as Error).message})`;
    }
    return `--- ${n.name}'s daemon log (last ${lines} lines) ---\n${text}`;
  });
  return [r.matrixText, ...logs].join("\n");
}
