/**
 * A check family: the checks of one subject (`sysctl`, `route`, `vxlan`, ...). A family is one
 * file under `families/` exporting a `Family`; `families/mod.ts` lists them. New backends (`bgp`,
 * `udp`) plug in as one more file with `appliesTo` naming the backend.
 *
 * @module
 */
import type { CheckResult } from "./check.ts";
import type { Diagnosis, NodeView, Pair } from "./context.ts";

/** What a family's check functions return. */
export type Checks = CheckResult[] | Promise<CheckResult[]>;

/** One check family. */
export interface Family {
  /** The id prefix of its checks. */
  name: string;
  /** Backends it applies to (undefined: every backend). */
  appliesTo?: readonly string[];
  /** Checks of a pair diagnosis (`--from/--to`, `lab diagnose`). */
  pair?(d: Diagnosis, pair: Pair): Checks;
  /** Node-wide checks (`--node`). */
  node?(d: Diagnosis, node: NodeView): Checks;
}
