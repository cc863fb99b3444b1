/**
 * Traffic-control filter messages (RTM_GETTFILTER dumps): the request for one hook of a device,
 * and the decoder to skein's `TcFilter` (`tc -j filter show dev DEV ingress|egress`). Read only:
 * skein installs no tc filters; diagnose looks for ones that drop or redirect pod traffic.
 *
 * @module
 */
import type { TcAction, TcFilter, TcHook, TcQdisc } from "../types.ts";
import { type Attr, decodeAttrs, getAttr, getNested, getNum, getStr, RAW_SCHEMA } from "./attr.ts";
import * as C from "./consts.ts";
import type { NlMessage } from "./message.ts";

/** The tcm_parent of a filter dump for each hook. */
const HOOK_PARENT: Record<TcHook, number> = {
  ingress: C.TC_H_INGRESS_HOOK,
  egress: C.TC_H_EGRESS_HOOK,
  root: C.TC_H_ROOT_QDISC,
};

/** `tc filter show dev INDEX ingress|egress` (root: the root qdisc's filters). */
export function tcFilterDumpRequest(ifindex: number, hook: TcHook): NlMessage {
  return {
    type: C.RTM_GETTFILTER,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family: 0, ifindex, handle: 0, parent: HOOK_PARENT[hook], info: 0 },
    attrs: [],
  };
}

/** `tc qdisc show` (every link's qdiscs; the kernel dumps them all). */
export function tcQdiscDumpRequest(): NlMessage {
  return {
    type: C.RTM_GETQDISC,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: { family: 0, ifindex: 0, handle: 0, parent: 0, info: 0 },
    attrs: [],
  };
}

/** A RTM_NEWQDISC message's link and kind ("clsact", "ingress", "noqueue", "tbf", ...). */
export function tcQdiscFromMessage(m: NlMessage): { ifindex: number; kind: string } {
  return { ifindex: m.header["ifindex"] ?? 0, kind: getStr(m.attrs, C.TCA_KIND) ?? "" };
}

/**
 * A RTM_NEWQDISC message as skein's TcQdisc: kind, whether it is the root, the options that can
 * drop everything (a fifo's limit: struct tc_fifo_qopt; tbf's rate and limit: TCA_TBF_PARMS'
 * struct tc_tbf_qopt, TCA_TBF_RATE64; netem's limit and loss: struct tc_netem_qopt) and the drop
 * counter (TCA_STATS: struct tc_stats).
 */
export function tcQdiscInfoFromMessage(m: NlMessage): TcQdisc {
  const kind = getStr(m.attrs, C.TCA_KIND) ?? "";
  const parent = (m.header["parent"] ?? 0) >>> 0;
  const q: TcQdisc = {
    ifindex: m.header["ifindex"] ?? 0,
    kind,
    root: parent === C.TC_H_ROOT,
    parent: parent === C.TC_H_ROOT
      ? "root"
      : `${(parent >>> 16).toString(16)}:${(parent & 0xffff).toString(16)}`,
  };
  const stats = getAttr(m.attrs, C.TCA_STATS);
  if (stats instanceof Uint8Array && stats.length >= 16) q.drops = u32At(stats, 12);
  const opts = getAttr(m.attrs, C.TCA_OPTIONS);
  if (!(opts instanceof Uint8Array)) return q;
  if ((kind === "pfifo" || kind === "bfifo" || kind === "pfifo_head_drop") && opts.length >= 4) {
    q.limit = u32At(opts, 0);
  } else if (kind === "netem" && opts.length >= 24) {
    netemOptions(q, opts);
  } else if (kind === "tbf") {
    const a = decodeAttrs(opts, RAW_SCHEMA, { family: 0 });
    const parms = getAttr(a, C.TCA_TBF_PARMS);
    if (parms instanceof Uint8Array && parms.length >= 28) {
      q.rateBytes = u32At(parms, 8); // struct tc_ratespec rate: ..., rate at 8
      q.limit = u32At(parms, 24);
    }
    const r64 = getAttr(a, C.TCA_TBF_RATE64);
    if (r64 instanceof Uint8Array && r64.length >= 8) {
      q.rateBytes = Number(new DataView(r64.buffer, r64.byteOffset, 8).getBigUint64(0, true));
    }
  }
  return q;
}

/**
 * netem's TCA_OPTIONS: struct tc_netem_qopt (latency, limit, loss, gap, duplicate, jitter), then
 * attributes: TCA_NETEM_CORRUPT (probability, correlation), TCA_NETEM_RATE (bytes per second),
 * TCA_NETEM_LATENCY64 (ns).
 */
function netemOptions(q: TcQdisc, opts: Uint8Array): void {
  const pct = (v: number) => (v / 0xffffffff) * 100;
  q.limit = u32At(opts, 4);
  q.lossPct = pct(u32At(opts, 8));
  let a: Attr[] = [];
  try {
    a = decodeAttrs(opts.subarray(24), RAW_SCHEMA, { family: 0 });
  } catch { /* no attributes: the struct alone */ }
  const corrupt = getAttr(a, C.TCA_NETEM_CORRUPT);
  if (corrupt instanceof Uint8Array && corrupt.length >= 4) q.corruptPct = pct(u32At(corrupt, 0));
  const rate = getAttr(a, C.TCA_NETEM_RATE);
  if (rate instanceof Uint8Array && rate.length >= 4 && u32At(rate, 0)) {
    q.rateBytes = u32At(rate, 0);
  }
  const lat = getAttr(a, C.TCA_NETEM_LATENCY64);
  if (lat instanceof Uint8Array && lat.length >= 8) {
    q.delayMs = Number(new DataView(lat.buffer, lat.byteOffset, 8).getBigInt64(0, true)) / 1e6;
  }
}

function u32At(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

/** One action (TCA_ACT_*): its kind, a mirred's target, a gact's verdict. */
function actionOf(a: Attr[]): TcAction {
  const kind = getStr(a, C.TCA_ACT_KIND) ?? "";
  const out: TcAction = { kind };
  const opts = getNested(a, C.TCA_ACT_OPTIONS);
  const parms = opts ? getAttr(opts, C.TCA_MIRRED_PARMS) : undefined; // = TCA_GACT_PARMS
  if (!(parms instanceof Uint8Array) || parms.length < 20) return out;
  const dv = new DataView(parms.buffer, parms.byteOffset, parms.byteLength);
  out.verdict = dv.getInt32(8, true); // struct tc_gen: index, capab, action, refcnt, bindcnt
  if (kind === "mirred" && parms.length >= 28) {
    const e = dv.getInt32(20, true);
    out.mirred = {
      redirect: e === C.TCA_EGRESS_REDIR || e === C.TCA_INGRESS_REDIR,
      ingress: e === C.TCA_INGRESS_REDIR || e === C.TCA_INGRESS_MIRROR,
      ifindex: dv.getUint32(24, true),
    };
  }
  return out;
}

/** TC_U32_VAROFFSET: the selector's offsets depend on the packet (nexthdr+). */
const TC_U32_VAROFFSET = 4;

/**
 * A u32 selector (struct tc_u32_sel: flags, offshift, nkeys, pad, offmask, off, offoff, hoff,
 * hmask, then nkeys struct tc_u32_key: mask, val (network order), off, offmask).
 */
function u32Selector(sel: Uint8Array): NonNullable<TcFilter["u32"]> | undefined {
  if (sel.length < 16) return undefined;
  const dv = new DataView(sel.buffer, sel.byteOffset, sel.byteLength);
  const nkeys = sel[2]!;
  const keys: NonNullable<TcFilter["u32"]>["keys"] = [];
  for (let i = 0; i < nkeys; i++) {
    const at = 16 + i * 16;
    if (at + 16 > sel.length) return undefined;
    keys.push({
      mask: dv.getUint32(at, false),
      value: dv.getUint32(at + 4, false),
      offset: dv.getInt32(at + 8, true),
      offmask: dv.getInt32(at + 12, true),
    });
  }
  return { keys, variableOffset: (sel[0]! & TC_U32_VAROFFSET) !== 0 };
}

/**
 * Reads a RTM_NEWTFILTER message of a dump for `hook` as skein's TcFilter; undefined for the
 * messages that are no filter of their own (a u32 hash table, a classifier with no options).
 */
export function tcFilterFromMessage(m: NlMessage, hook: TcHook): TcFilter | undefined {
  const h = m.header;
  const kind = getStr(m.attrs, C.TCA_KIND);
  const opts = getNested(m.attrs, C.TCA_OPTIONS);
  if (!kind || !opts) return undefined;
  const info = h["info"] ?? 0;
  const f: TcFilter = {
    ifindex: h["ifindex"] ?? 0,
    hook,
    kind,
    prio: info >>> 16,
    protocol: ((info & 0xff) << 8) | ((info >>> 8) & 0xff), // network order in the low 16 bits
    handle: h["handle"] ?? 0,
    actions: [],
  };
  const chain = getNum(m.attrs, C.TCA_CHAIN);
  if (chain !== undefined) f.chain = chain;
  const actAttr = kind === "u32"
    ? C.TCA_U32_ACT
    : kind === "bpf"
    ? C.TCA_BPF_ACT
    : kind === "matchall"
    ? C.TCA_MATCHALL_ACT
    : kind === "flower"
    ? C.TCA_FLOWER_ACT
    : undefined;
  const acts = actAttr !== undefined ? getNested(opts, actAttr) : undefined;
  for (const a of acts ?? []) if (Array.isArray(a.value)) f.actions.push(actionOf(a.value));
  if (kind === "u32") {
    const sel = getAttr(opts, C.TCA_U32_SEL);
    if (!(sel instanceof Uint8Array)) return undefined; // the hash table, not a filter
    const u = u32Selector(sel);
    if (u) {
      f.u32 = u;
      f.matchAll = !u.variableOffset && u.keys.every((k) => k.mask === 0);
    }
    const classid = getNum(opts, C.TCA_U32_CLASSID);
    if (classid !== undefined) f.classid = classid;
  } else if (kind === "matchall") {
    f.matchAll = true;
  } else if (kind === "bpf") {
    const flags = getNum(opts, C.TCA_BPF_FLAGS) ?? 0;
    const b: NonNullable<TcFilter["bpf"]> = {
      directAction: (flags & C.TCA_BPF_FLAG_ACT_DIRECT) !== 0,
    };
    const name = getStr(opts, C.TCA_BPF_NAME);
    if (name !== undefined) b.name = name;
    const id = getNum(opts, C.TCA_BPF_ID);
    if (id !== undefined) b.id = id;
    f.bpf = b;
  }
  return f;
}
