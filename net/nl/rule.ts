/**
 * Policy routing rule messages (RTM_GETRULE): the dump behind `ip rule show` and the decoder to
 * skein's `Rule`. Read-only: skein adds no rules.
 *
 * @module
 */
import type { Rule } from "../types.ts";
import { getNum, getStr } from "./attr.ts";
import * as C from "./consts.ts";
import type { NlMessage } from "./message.ts";

/** `ip -4 rule show` (`ip -6 rule show` with family AF_INET6). */
export function ruleDumpRequest(family: number = C.AF_INET): NlMessage {
  return {
    type: C.RTM_GETRULE,
    flags: C.NLM_F_REQUEST | C.NLM_F_DUMP,
    seq: 0,
    pid: 0,
    header: {
      family,
      dstLen: 0,
      srcLen: 0,
      tos: 0,
      table: 0,
      res1: 0,
      res2: 0,
      action: 0,
      flags: 0,
    },
    attrs: [],
  };
}

/** Reads a RTM_NEWRULE message (struct fib_rule_hdr + FRA_*) as skein's Rule. */
export function ruleFromMessage(m: NlMessage): Rule {
  const h = m.header;
  const fam = h["family"] === C.AF_INET6 ? 6 : 4;
  const any = fam === 4 ? "0.0.0.0" : "::";
  const action = h["action"] ?? 0;
  const out: Rule = {
    family: fam,
    priority: getNum(m.attrs, C.FRA_PRIORITY) ?? 0,
    action: C.RULE_ACTIONS[action] ?? String(action),
    table: getNum(m.attrs, C.FRA_TABLE) ?? h["table"] ?? 0,
    src: `${getStr(m.attrs, C.FRA_SRC) ?? any}/${h["srcLen"] ?? 0}`,
    dst: `${getStr(m.attrs, C.FRA_DST) ?? any}/${h["dstLen"] ?? 0}`,
    invert: ((h["flags"] ?? 0) & C.FIB_RULE_INVERT) !== 0,
  };
  const opt = {
    iif: getStr(m.attrs, C.FRA_IIFNAME),
    oif: getStr(m.attrs, C.FRA_OIFNAME),
    fwmark: getNum(m.attrs, C.FRA_FWMARK),
    fwmask: getNum(m.attrs, C.FRA_FWMASK),
    ipProto: getNum(m.attrs, C.FRA_IP_PROTO),
    goto: getNum(m.attrs, C.FRA_GOTO),
    l3mdev: getNum(m.attrs, C.FRA_L3MDEV),
  };
  if (h["tos"]) out.tos = h["tos"];
  // The kernel reports suppress_prefixlength -1 (0xffffffff) when the rule has none.
  const sup = getNum(m.attrs, C.FRA_SUPPRESS_PREFIXLEN);
  if (sup !== undefined && sup !== 0xffffffff && sup !== -1) out.suppressPrefixlen = sup;
  for (const [k, v] of Object.entries(opt)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
