/**
 * RFC 6793 between a 4-octet AS speaker (skein, "NEW") and a peer that did not advertise the
 * 4-octet AS capability ("OLD"), pure:
 *
 * - sending (§4.2.2): AS_PATH goes out 2-octet with AS_TRANS (23456) for every AS above 65535,
 *   so the real path rides along in AS4_PATH (without confederation segments); an AGGREGATOR
 *   with such an AS goes out as AS_TRANS with AS4_AGGREGATOR beside it. `withAs4Attributes()`
 *   adds them (codec_update.ts calls it when encoding for a 2-octet session).
 * - receiving (§4.2.3): `mergeAs4()` rebuilds the path: an AGGREGATOR whose AS is not AS_TRANS
 *   (an OLD speaker aggregated) makes AS4_PATH and AS4_AGGREGATOR ignored; an AS4_PATH longer
 *   than AS_PATH is ignored; otherwise the leading ASes of AS_PATH that AS4_PATH does not cover
 *   are prepended to AS4_PATH. AS4_* from a 4-octet peer are never looked at (they must not be
 *   sent between NEW speakers).
 *
 * @module
 */

import { AS_TRANS, type AsPathSegment, attributeCode, type PathAttribute } from "./codec_attrs.ts";

/** The AS_PATH length RFC 4271 and RFC 6793 count: an AS_SET is 1, confederation segments 0. */
export function pathLength(segments: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segments) n += s.type === 2 ? s.asns.length : s.type === 1 ? 1 : 0;
  return n;
}

function wide(segments: readonly AsPathSegment[]): boolean {
  return segments.some((s) => s.asns.some((n) => n > 0xffff));
}

/** Inserts `a` before the first attribute with a higher type code (the order BIRD sends). */
function insertByCode(attrs: PathAttribute[], a: PathAttribute): void {
  const code = attributeCode(a);
  const i = attrs.findIndex((x) => attributeCode(x) > code);
  if (i < 0) attrs.push(a);
  else attrs.splice(i, 0, a);
}

/**
 * The attributes to send to a 2-octet peer: `attrs` plus AS4_PATH when AS_PATH holds an AS
 * above 65535 and AS4_AGGREGATOR when AGGREGATOR does (unless already there).
 */
export function withAs4Attributes(attrs: readonly PathAttribute[]): PathAttribute[] {
  const out = [...attrs];
  const path = attrs.find((a) => a.type === "as-path");
  const agg = attrs.find((a) => a.type === "aggregator");
  if (
    path?.type === "as-path" && wide(path.segments) && !attrs.some((a) => a.type === "as4-path")
  ) {
    const segments = path.segments.filter((s) => s.type === 1 || s.type === 2);
    insertByCode(out, { type: "as4-path", segments });
  }
  if (
    agg?.type === "aggregator" && agg.asNumber > 0xffff &&
    !attrs.some((a) => a.type === "as4-aggregator")
  ) {
    insertByCode(out, { type: "as4-aggregator", asNumber: agg.asNumber, address: agg.address });
  }
  return out;
}

/** What a 2-octet peer's UPDATE means in 4-octet terms. */
export interface MergedAs4 {
  asPath: AsPathSegment[];
  aggregator?: { asNumber: number; address: string };
}

/** Rebuilds AS_PATH and AGGREGATOR from an OLD peer's AS4_PATH / AS4_AGGREGATOR (module doc). */
export function mergeAs4(attrs: readonly PathAttribute[]): MergedAs4 {
  let asPath: AsPathSegment[] = [];
  let as4Path: AsPathSegment[] | undefined;
  let agg: { asNumber: number; address: string } | undefined;
  let agg4: { asNumber: number; address: string } | undefined;
  for (const a of attrs) {
    if (a.type === "as-path") asPath = a.segments;
    else if (a.type === "as4-path") {
      as4Path = a.segments.filter((s) => s.type === 1 || s.type === 2);
    } else if (a.type === "aggregator") agg = { asNumber: a.asNumber, address: a.address };
    else if (a.type === "as4-aggregator") agg4 = { asNumber: a.asNumber, address: a.address };
  }
  if (agg && agg.asNumber !== AS_TRANS) return { asPath, aggregator: agg };
  const aggregator = agg && agg4 ? agg4 : agg;
  const base = aggregator ? { aggregator } : {};
  if (!as4Path) return { asPath, ...base };
  let keep = pathLength(asPath) - pathLength(as4Path);
  if (keep < 0) return { asPath, ...base };
  const lead: AsPathSegment[] = [];
  for (const s of asPath) {
    if (keep <= 0 && s.type <= 2) break;
    if (s.type === 2) {
      const n = Math.min(keep, s.asns.length);
      lead.push({ type: 2, asns: s.asns.slice(0, n) });
      keep -= n;
    } else {
      lead.push(s);
      if (s.type === 1) keep -= 1;
    }
  }
  const last = lead.at(-1), first = as4Path[0];
  if (last?.type === 2 && first?.type === 2 && last.asns.length + first.asns.length <= 255) {
    return {
      asPath: [
        ...lead.slice(0, -1),
        { type: 2, asns: [...last.asns, ...first.asns] },
        ...as4Path.slice(1),
      ],
      ...base,
    };
  }
  return { asPath: [...lead, ...as4Path], ...base };
}
