/**
 * Neighbour tables (`ip -s ntable show`): the dump request and the decoding of one table's
 * RTM_NEWNEIGHTBL message into its garbage-collection thresholds, its entry count and its
 * overflow counter. Bytes only.
 *
 * @module
 */
import { getAttr, getNum, getStr } from "./attr.ts";
import * as C from "./consts.ts";
import type { NlMessage } from "./message.ts";
import type { NeighTable } from "../types.ts";

/** `ip ntable show` of one family: RTM_GETNEIGHTBL dump (struct ndtmsg, no attributes). */
export function neighTableDumpRequest(family: number = C.AF_INET): NlMessage {
  return {
    type: C.RTM_GETNEIGHTBL,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family },
    attrs: [],
  };
}

/** struct ndt_config's ndtc_entries (u16 key_len, u16 entry_size, then u32 entries). */
const CONFIG_ENTRIES = 4;
/** struct ndt_stats's ndts_table_fulls: the eleventh u64. */
const STATS_TABLE_FULLS = 80;

function u32At(b: Uint8Array | undefined, off: number): number | undefined {
  if (!b || b.length < off + 4) return undefined;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

function u64At(b: Uint8Array | undefined, off: number): number | undefined {
  if (!b || b.length < off + 8) return undefined;
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true));
}

/**
 * Reads a table message (the one carrying NDTA_CONFIG; per-device parameter messages have none
 * and give undefined) as a NeighTable.
 */
export function neighTableFromMessage(m: NlMessage): NeighTable | undefined {
  const name = getStr(m.attrs, C.NDTA_NAME);
  const config = getAttr(m.attrs, C.NDTA_CONFIG);
  if (name === undefined || !(config instanceof Uint8Array)) return undefined;
  const stats = getAttr(m.attrs, C.NDTA_STATS);
  const out: NeighTable = {
    family: m.header["family"] === C.AF_INET6 ? 6 : 4,
    name,
    entries: u32At(config, CONFIG_ENTRIES) ?? 0,
  };
  const t1 = getNum(m.attrs, C.NDTA_THRESH1);
  const t2 = getNum(m.attrs, C.NDTA_THRESH2);
  const t3 = getNum(m.attrs, C.NDTA_THRESH3);
  if (t1 !== undefined) out.thresh1 = t1;
  if (t2 !== undefined) out.thresh2 = t2;
  if (t3 !== undefined) out.thresh3 = t3;
  const fulls = u64At(stats instanceof Uint8Array ? stats : undefined, STATS_TABLE_FULLS);
  if (fulls !== undefined) out.tableFulls = fulls;
  return out;
}
