/**
 * The report as text for a human (ranked; each failure and warning with its evidence and the
 * command that fixes it) and as the `--json` object (schema version 1).
 *
 * @module
 */
import type { CheckResult, EndpointInfo, Report } from "./check.ts";

const LABEL = { fail: "FAIL", warn: "WARN", skip: "SKIP", pass: "PASS" } as const;

function value(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) {
    return v.length ? v.join(", ") : "(none)";
  }
  return JSON.stringify(v);
}

/** "key=value; key=value" of an evidence object (undefined values left out). */
export function evidenceText(e: Record<string, unknown>): string {
  return Object.entries(e).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${value(v)}`)
    .join("; ");
}

function endpointText(e: EndpointInfo | undefined): string {
  if (!e) return "?";
  const parts = [e.ip ?? e.query];
  if (e.query !== e.ip) parts.push(`(${e.query})`);
  if (e.node) parts.push(`on ${e.node}`);
  return parts.join(" ");
}

function checkLines(c: CheckResult, detail: boolean): string[] {
  const out = [`${LABEL[c.status]} ${c.id} [${c.node}] ${c.summary}`];
  if (!detail) return out;
  const ev = evidenceText(c.evidence);
  if (ev) out.push(`     evidence: ${ev}`);
  if (c.fix) out.push(`     fix: ${c.fix}`);
  return out;
}

/** Counts of each status. */
export function counts(r: Report): Record<"fail" | "warn" | "pass" | "skip", number> {
  const n = { fail: 0, warn: 0, pass: 0, skip: 0 };
  for (const c of r.checks) n[c.status]++;
  return n;
}

/**
 * The human report. Failures and warnings show their evidence and fix; passes and skips one
 * line each (`verbose` shows evidence for every check).
 */
export function renderHuman(r: Report, opts: { verbose?: boolean } = {}): string {
  const n = counts(r);
  const head = r.from
    ? `skein diagnose: ${endpointText(r.from)} -> ${endpointText(r.to)}`
    : "skein diagnose --node";
  const lines = [
    `${head}: ${r.verdict.toUpperCase()} (${n.fail} failed, ${n.warn} warnings, ${n.pass} passed, ${n.skip} skipped) in ${
      Math.round(r.durationMs)
    } ms`,
    "",
  ];
  for (const c of r.checks) {
    lines.push(
      ...checkLines(c, opts.verbose === true || c.status === "fail" || c.status === "warn"),
    );
  }
  return lines.join("\n");
}

/** The `--json` text: exactly the Report object. */
export function renderJson(r: Report): string {
  return JSON.stringify(r, null, 2);
}
