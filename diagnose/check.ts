/**
 * The result of one diagnose check and the report that collects them (the `--json` schema,
 * version 1). A check's id is `family.name` (`route.missing`, `sysctl.ip_forward`); its status
 * is `pass`, `warn`, `fail` or `skip` (skip always says why in its summary).
 *
 * @module
 */

/** How a check came out. */
export type CheckStatus = "pass" | "warn" | "fail" | "skip";

/** The overall verdict of a report: the worst status of any check (skip counts as pass). */
export type Verdict = "pass" | "warn" | "fail";

/** One check's outcome, exactly as `--json` prints it. */
export interface CheckResult {
  /** `family.name`, e.g. "sysctl.ip_forward". */
  id: string;
  status: CheckStatus;
  /** The node the check looked at ("n1", a node name, or "-" for pair-wide checks). */
  node: string;
  /** One line: what was found. */
  summary: string;
  /** The exact kernel objects and values that prove it. */
  evidence: Record<string, unknown>;
  /** A command that fixes it (failures and warnings). */
  fix?: string;
}

/** One end of the diagnosed flow as the report shows it. */
export interface EndpointInfo {
  /** What the user typed. */
  query: string;
  ip?: string;
  /** The node holding the pod's subnet. */
  node?: string;
  /** The pod's namespace, when known. */
  netns?: string;
  containerId?: string;
}

/** A whole diagnosis (`--json` prints exactly this). */
export interface Report {
  schemaVersion: 1;
  verdict: Verdict;
  /** Absent for `--node`. */
  from?: EndpointInfo;
  to?: EndpointInfo;
  /** Ranked: failures first, likely causes before their consequences. */
  checks: CheckResult[];
  durationMs: number;
}

/** The families a check id may start with, in causal order (a cause before what it breaks). */
export const FAMILY_ORDER = [
  "daemon",
  "lease",
  "sysctl",
  "pod",
  "underlay",
  "vxlan",
  "ipip",
  "bgp",
  "udp",
  "route",
  "mtu",
  "netfilter",
  "xfrm",
  "tc",
  "ipam",
  "conntrack",
  "offload",
  "probe",
  "trace",
] as const;

/** A family name. */
export type FamilyName = typeof FAMILY_ORDER[number];

/** Options of the check constructors. */
export interface CheckFields {
  evidence?: Record<string, unknown>;
  fix?: string;
}

function make(
  status: CheckStatus,
  id: string,
  node: string,
  summary: string,
  f: CheckFields = {},
): CheckResult {
  const c: CheckResult = { id, status, node, summary, evidence: f.evidence ?? {} };
  if (f.fix !== undefined) c.fix = f.fix;
  return c;
}

/** A passing check. */
export function pass(id: string, node: string, summary: string, f?: CheckFields): CheckResult {
  return make("pass", id, node, summary, f);
}

/** A warning (does not change the exit code). */
export function warn(id: string, node: string, summary: string, f?: CheckFields): CheckResult {
  return make("warn", id, node, summary, f);
}

/** A failure (exit code 1). */
export function fail(id: string, node: string, summary: string, f?: CheckFields): CheckResult {
  return make("fail", id, node, summary, f);
}

/** A check that could not run; `reason` says why (never a guess). */
export function skip(id: string, node: string, reason: string, f?: CheckFields): CheckResult {
  return make("skip", id, node, reason, f);
}

/** The verdict of a list of checks. */
export function verdictOf(checks: readonly CheckResult[]): Verdict {
  if (checks.some((c) => c.status === "fail")) return "fail";
  if (checks.some((c) => c.status === "warn")) return "warn";
  return "pass";
}

/** The family part of a check id ("route" of "route.missing"). */
export function familyOf(id: string): string {
  const dot = id.indexOf(".");
  return dot < 0 ? id : id.slice(0, dot);
}
