/**
 * Adj-RIB-Out: what a peer was last sent, and the UPDATE messages that bring it to what it
 * should have now (pure). Announcements sharing attributes go into one UPDATE, packed to the
 * RFC 4271 4,096-octet limit; IPv6 goes in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760).
 *
 * @module
 */

import { AFI, type PathAttribute, SAFI_UNICAST } from "./codec_attrs.ts";
import { encodeMessage, MAX_MESSAGE_LEN } from "./codec.ts";
import { BgpEncodeError } from "./errors.ts";
import type { UpdateMessage } from "./codec_update.ts";
import type { ExportRoute } from "./rib.ts";

/** Bytes a prefix takes at most in NLRI (length octet + address). */
const PREFIX_MAX = { 4: 5, 6: 17 } as const;

/** What one peer was sent: prefix → attribute key. */
export class AdjRibOut {
  #sent = new Map<string, { key: string; family: 4 | 6 }>();
  /**
   * Prefixes the last sync() found it cannot send (each reported once per attribute set):
   * their attributes and one prefix do not fit in 4,096 octets (RFC 4271 §9.2: not advertised;
   * withdrawn if an earlier version was sent).
   */
  tooLarge: string[] = [];
  /** Prefixes refused as too large, with the attribute key they had (reported once). */
  #refused = new Map<string, string>();

  /** Number of prefixes the peer currently has from us. */
  get size(): number {
    return this.#sent.size;
  }

  /** Forgets everything (the session went down: the next one starts from scratch). */
  clear(): void {
    this.#sent.clear();
    this.#refused.clear();
  }

  /**
   * The UPDATEs that turn what was sent into `want`, and records `want` as sent. Empty when
   * nothing changed.
   */
  sync(want: Map<string, ExportRoute>, as4: boolean): UpdateMessage[] {
    const groups = new Map<string, { route: ExportRoute; prefixes: string[] }>();
    const gone: Record<4 | 6, string[]> = { 4: [], 6: [] };
    for (const [prefix, old] of this.#sent) {
      if (!want.has(prefix)) {
        gone[old.family].push(prefix);
        this.#sent.delete(prefix);
      }
    }
    this.tooLarge = [];
    for (const p of this.#refused.keys()) if (!want.has(p)) this.#refused.delete(p);
    const fit = new Map<string, boolean>();
    for (const r of want.values()) {
      const key = `${r.family}|${r.nextHop}|${attributeKey(r.attributes)}`;
      if (this.#sent.get(r.prefix)?.key === key) continue;
      let fits = fit.get(key);
      if (fits === undefined) fit.set(key, fits = fitsOneUpdate(r, as4));
      if (!fits) {
        if (this.#refused.get(r.prefix) !== key) this.tooLarge.push(r.prefix);
        this.#refused.set(r.prefix, key);
        const old = this.#sent.get(r.prefix);
        if (old) gone[old.family].push(r.prefix);
        this.#sent.delete(r.prefix);
        continue;
      }
      this.#sent.set(r.prefix, { key, family: r.family });
      const g = groups.get(key);
      if (g) g.prefixes.push(r.prefix);
      else groups.set(key, { route: r, prefixes: [r.prefix] });
    }
    const out = [...withdrawals(gone[4], 4), ...withdrawals(gone[6], 6)];
    for (const g of groups.values()) out.push(...announcements(g.route, g.prefixes, as4));
    return out;
  }
}

/** Whether `r`'s attributes with one prefix fit in one UPDATE (as encoded for this session). */
function fitsOneUpdate(r: ExportRoute, as4: boolean): boolean {
  try {
    for (const m of announcements(r, [r.prefix], as4)) encodeMessage(m, { as4 });
    return true;
  } catch (e) {
    if (e instanceof BgpEncodeError) return false;
    throw e;
  }
}

function attributeKey(attrs: PathAttribute[]): string {
  return JSON.stringify(attrs, (_k, v) => v instanceof Uint8Array ? Array.from(v) : v);
}

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

function withdrawals(prefixes: string[], family: 4 | 6): UpdateMessage[] {
  const per = Math.floor((MAX_MESSAGE_LEN - 19 - 4 - 8) / PREFIX_MAX[family]);
  return chunks(prefixes, per).map((ps) =>
    family === 4 ? { type: "update", withdrawn: ps, attributes: [], nlri: [] } : {
      type: "update",
      withdrawn: [],
      attributes: [{ type: "mp-unreach", afi: AFI.IPV6, safi: SAFI_UNICAST, withdrawn: ps }],
      nlri: [],
    }
  );
}

function announcements(route: ExportRoute, prefixes: string[], as4: boolean): UpdateMessage[] {
  const base: UpdateMessage = {
    type: "update",
    withdrawn: [],
    attributes: route.attributes,
    nlri: [],
  };
  const mpOverhead = route.family === 6 ? 4 + 5 + 32 : 0;
  const fixed = encodeMessage(base, { as4 }).length + mpOverhead;
  const per = Math.max(1, Math.floor((MAX_MESSAGE_LEN - fixed) / PREFIX_MAX[route.family]));
  return chunks(prefixes, per).map((ps): UpdateMessage =>
    route.family === 4 ? { ...base, nlri: ps } : {
      ...base,
      attributes: [
        {
          type: "mp-reach",
          afi: AFI.IPV6,
          safi: SAFI_UNICAST,
          nextHops: [route.nextHop],
          nlri: ps,
        },
        ...route.attributes,
      ],
    }
  );
}
