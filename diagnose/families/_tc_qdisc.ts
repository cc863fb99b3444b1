/**
 * `tc.qdisc`: the queueing disciplines on the devices the flow crosses. skein sets none; one left
 * by a chaos test or a shaping script can drop every packet while routes, neighbours, firewall
 * rules and tc filters are all right: a fifo that holds no packet (`pfifo limit 0`), a token
 * bucket at a few bits per second, netem losing every packet. Those fail; partial loss or a slow
 * rate warns; each harmful qdisc's drop counter is evidence.
 *
 * @module
 */
import type { TcQdisc } from "../../net/types.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Kernel } from "../kernel.ts";

/** Whose devices are looked at (tc.ts' Place, without the packets). */
export interface QdiscPlace {
  label: string;
  who: string;
  k: Kernel;
  exec: string;
  devices: { name: string }[];
}

/** What a qdisc does to every packet (sure) or some (not sure); undefined: nothing harmful. */
export function qdiscHarm(q: TcQdisc): { text: string; sure: boolean } | undefined {
  if ((q.kind === "pfifo" || q.kind === "pfifo_head_drop") && q.limit === 0) {
    return { text: "holds no packet (limit 0): it drops every packet", sure: true };
  }
  if (q.kind === "bfifo" && q.limit !== undefined && q.limit < 1500) {
    return {
      text: `holds ${q.limit} bytes: it drops every packet larger`,
      sure: q.limit < 100,
    };
  }
  if (q.kind === "netem") {
    if (q.limit === 0) {
      return { text: "holds no packet (limit 0): it drops every packet", sure: true };
    }
    if (q.lossPct !== undefined && q.lossPct >= 99.99) {
      return { text: "loses every packet (loss 100%)", sure: true };
    }
    if (q.corruptPct !== undefined && q.corruptPct >= 99.99) {
      return { text: "corrupts every packet (corrupt 100%): the receiver drops them", sure: true };
    }
    if (q.lossPct) return { text: `loses ${q.lossPct.toFixed(1)}% of packets`, sure: false };
    if (q.corruptPct) {
      return { text: `corrupts ${q.corruptPct.toFixed(1)}% of packets`, sure: false };
    }
    if (q.delayMs !== undefined && q.delayMs >= 1000) {
      return {
        text: `delays every packet by ${Math.round(q.delayMs)} ms: pings time out`,
        sure: false,
      };
    }
    if (q.rateBytes !== undefined && q.rateBytes < 1250) {
      return { text: `shapes to ${q.rateBytes * 8} bit/s`, sure: true };
    }
  }
  if (q.kind === "tbf") {
    if (q.limit === 0) {
      return { text: "holds no packet (limit 0): it drops every packet", sure: true };
    }
    const r = q.rateBytes;
    if (r !== undefined && r < 125_000) {
      return {
        text: `shapes to ${r * 8} bit/s: packets beyond its burst are dropped`,
        sure: r < 1250,
      };
    }
  }
  return undefined;
}

/** `tc qdisc show` words for one qdisc. */
function qdiscText(dev: string, q: TcQdisc): string {
  const o = q.kind === "tbf" && q.rateBytes !== undefined
    ? ` rate ${q.rateBytes * 8}bit limit ${q.limit}`
    : q.kind === "netem"
    ? ` limit ${q.limit} loss ${q.lossPct?.toFixed(1)}%${
      q.corruptPct ? ` corrupt ${q.corruptPct.toFixed(1)}%` : ""
    }${q.delayMs ? ` delay ${Math.round(q.delayMs)}ms` : ""}${
      q.rateBytes ? ` rate ${q.rateBytes * 8}bit` : ""
    }`
    : q.limit !== undefined
    ? ` limit ${q.limit}`
    : "";
  return `${q.kind} dev ${dev} ${q.root ? "root" : `parent ${q.parent}`}${o}${
    q.drops ? ` (dropped ${q.drops})` : ""
  }`;
}

/** A harmful qdisc found: its words, what it does, the command that removes it. */
export interface QdiscFound {
  text: string;
  harm: { text: string; sure: boolean };
  fix: string;
}

/**
 * The harmful qdiscs on `devices` of a namespace (`exec`: its command prefix), the ones that drop
 * every packet first; throws when the qdiscs cannot be read.
 */
export function harmfulQdiscs(k: Kernel, devices: readonly string[], exec: string): QdiscFound[] {
  const all = k.qdiscs();
  const found: QdiscFound[] = [];
  for (const dev of devices) {
    const link = k.link(dev);
    for (const q of all.filter((x) => x.ifindex === link?.index)) {
      const harm = qdiscHarm(q);
      if (!harm) continue;
      found.push({
        text: qdiscText(dev, q),
        harm,
        fix: `${exec}tc qdisc del dev ${dev} ${
          q.root ? "root" : `parent ${q.parent}`
        }  # after checking who added it`,
      });
    }
  }
  return found.sort((a, b) => Number(b.harm.sure) - Number(a.harm.sure));
}

/** The tc.qdisc check of one namespace's devices on the path. */
export function qdiscCheck(p: QdiscPlace): CheckResult {
  const devices = p.devices.map((x) => x.name);
  let found: QdiscFound[];
  try {
    found = harmfulQdiscs(p.k, devices, p.exec);
  } catch (e) {
    return skip("tc.qdisc", p.label, `cannot read ${p.who}'s qdiscs: ${(e as Error).message}`);
  }
  const worst = found[0];
  if (!worst) {
    return pass("tc.qdisc", p.label, `${p.who}: no qdisc on the path's devices drops the flow`, {
      evidence: { devices },
    });
  }
  return (worst.harm.sure ? fail : warn)(
    "tc.qdisc",
    p.label,
    `${p.who}: qdisc ${worst.text} ${worst.harm.text}`,
    { evidence: { devices, qdiscs: found.map((f) => f.text) }, fix: worst.fix },
  );
}
