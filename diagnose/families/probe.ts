/**
 * `probe` (with `--probe`): ICMP echo from inside the source pod to the destination (a few
 * packets, then DF-sized ones at the largest size the path budget allows), with each path
 * device's counters read before and after: the first device in path order that did not see the
 * packets is where they stop. Adds nothing to the kernel (ping runs in the pod's namespace).
 *
 * @module
 */
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, Endpoint, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import { pathHops, remoteDevOf, uplinkOf } from "../path.ts";
import { nft } from "../../node/nft.ts";
import { ruleCounters } from "../nft_eval.ts";
import { ICMP_MEANING, icmpErrors, ping } from "./_ping.ts";
import { underlayPingOf } from "./underlay.ts";
import { ignoresEcho } from "./pod.ts";
import { podLink } from "./_pod_kernel.ts";
import { pathBudget } from "./mtu.ts";

/** One counter the probe watches, in path order. */
interface Tap {
  node: NodeView;
  dev: string;
  /** Which counter grows when the probe passes this point. */
  dir: "rx" | "tx";
}

/** The devices a forward packet crosses, in order, with the counter that sees it. */
function taps(d: Diagnosis, pair: Pair): Tap[] {
  const out: Tap[] = [];
  const hops = pathHops(d, pair).filter((h) => h.direction === "forward");
  const src = pair.from.node, dst = pair.to.node;
  const hostVeth = (e: Endpoint) => {
    const eth0 = podLink(d, e);
    return eth0?.parentIndex !== undefined
      ? e.node?.kernel?.link(eth0.parentIndex)?.name
      : undefined;
  };
  const a = hostVeth(pair.from), b = hostVeth(pair.to);
  if (src?.kernel && a) out.push({ node: src, dev: a, dir: "rx" });
  for (const h of hops) {
    const remote = remoteDevOf(h.node), up = uplinkOf(h.node)?.name;
    if (h.node === src && src !== dst && remote) {
      out.push({ node: src, dev: remote, dir: "tx" });
      if (up && up !== remote) out.push({ node: src, dev: up, dir: "tx" });
    }
    if (h.node === dst && src !== dst && remote) {
      if (up && up !== remote) out.push({ node: dst, dev: up, dir: "rx" });
      out.push({ node: dst, dev: remote, dir: "rx" });
    }
  }
  if (dst?.kernel && b) out.push({ node: dst, dev: b, dir: "tx" });
  return out;
}

/** Each tap's packet counter and its device's rx+tx drop counter, -1 when unreadable. */
function read(tapList: Tap[]): { packets: number[]; drops: number[] } {
  const fresh = new Map<NodeView, ReturnType<NonNullable<NodeView["kernel"]>["stats"]>>();
  const packets: number[] = [], drops: number[] = [];
  for (const t of tapList) {
    const k = t.node.kernel!;
    let s = fresh.get(t.node);
    if (!s) {
      s = k.stats(true);
      fresh.set(t.node, s);
    }
    const l = k.link(t.dev);
    const st = l ? s.get(l.index) : undefined;
    packets.push(st ? (t.dir === "rx" ? st.rxPackets : st.txPackets) : -1);
    drops.push(st ? st.rxDropped + st.txDropped : -1);
  }
  return { packets, drops };
}

/** Devices whose drop counters grew during the probe, "node:dev" -> growth. */
function dropGrowth(tapList: Tap[], before: number[], after: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  tapList.forEach((t, i) => {
    const dlt = after[i]! - before[i]!;
    if (before[i]! >= 0 && after[i]! >= 0 && dlt > 0) out[`${t.node.name}:${t.dev}`] = dlt;
  });
  return out;
}

/** Packet counters of every nft rule with a counter on the nodes, keyed "node: rule". */
async function nftCounters(nodes: NodeView[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await Promise.all(nodes.map(async (n) => {
    if (!n.kernel) return;
    try {
      const text = await nft({
        args: ["-j", "list", "ruleset"],
        ...(n.kernel.netns ? { netns: n.kernel.netns } : {}),
      });
      for (const [k, v] of ruleCounters(text)) out.set(`${n.name}: ${k}`, v);
    } catch { /* no nft: interface counters only */ }
  }));
  return out;
}

function where(
  tapList: Tap[],
  before: number[],
  after: number[],
  sent: number,
): { deltas: Record<string, number>; stop?: string } {
  const deltas: Record<string, number> = {};
  let stop: string | undefined;
  tapList.forEach((t, i) => {
    const dlt = before[i]! < 0 || after[i]! < 0 ? -1 : after[i]! - before[i]!;
    const name = `${t.node.name}:${t.dev}:${t.dir}`;
    deltas[name] = dlt;
    if (!stop && dlt >= 0 && dlt < sent) {
      const prev = i > 0 ? `${tapList[i - 1]!.node.name} ${tapList[i - 1]!.dev}` : "the pod";
      stop = `between ${prev} and ${t.node.name} ${t.dev} (${t.dir} +${dlt} of ${sent})`;
      // An XDP program on either device sees them first and may be what drops them (tc.xdp).
      const xdp = [tapList[i - 1], t].filter((x) => x !== undefined)
        .map((x) => ({ x: x!, l: x!.node.kernel?.link(x!.dev) })).find((y) => y.l?.xdp);
      if (xdp) {
        stop += `; ${xdp.x.node.name} ${xdp.x.dev} runs XDP program ${xdp.l!.xdp!.progId ?? "?"}`;
      }
    }
  });
  return stop ? { deltas, stop } : { deltas };
}

/** DF pings at the path budget, after small ones got through. */
async function dfProbe(
  d: Diagnosis,
  pair: Pair,
  label: string,
  timeoutS: number,
): Promise<CheckResult | undefined> {
  const budget = pathBudget(pair.nodes);
  const podMtu = podLink(d, pair.from)?.mtu;
  const mtu = Math.min(budget ?? Infinity, podMtu ?? Infinity);
  if (!Number.isFinite(mtu)) return undefined;
  const size = mtu - 28;
  const df = await ping(pair.from.netns!, pair.to.ip, { count: 2, size, timeoutS });
  const ev = {
    command: `nsenter --net=${pair.from.netns} ping -M do -s ${size} -c 2 ${pair.to.ip}`,
    mtu,
    sent: df.sent,
    received: df.received,
    output: df.out.split("\n").slice(-2).join(" "),
  };
  if (df.received > 0) {
    return pass("mtu.probe", label, `DF packets of ${mtu} bytes reach ${pair.to.ip}`, {
      evidence: ev,
    });
  }
  return fail(
    "mtu.probe",
    label,
    `DF packets of ${mtu} bytes (the path budget) do not reach ${pair.to.ip}, small ones do: an MTU black hole`,
    {
      evidence: ev,
      fix: "lower the pod and tunnel MTU to what the underlay carries (see the mtu.* checks)",
    },
  );
}

/** Rule counters that grew between two readings. */
function grown(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const rules: Record<string, number> = {};
  for (const [k, v] of after) {
    const dlt = v - (before.get(k) ?? 0);
    if (dlt > 0) rules[k] = dlt;
  }
  return rules;
}

/**
 * Where the probe's pings were lost, in words for the summary (": ..." or ""): an ICMP error a
 * hop sent back says most; then a dropping nft rule that counted the probes; else the counters.
 */
function whyLost(
  pair: Pair,
  o: {
    errors: { from: string; text: string }[];
    rules: Record<string, number>;
    sent: number;
    stop?: string;
    tapList: Tap[];
  },
): string {
  const e = o.errors[0];
  if (e) {
    return `: ${e.from} answered "${e.text}"${
      ICMP_MEANING.find(([re]) => re.test(e.text))?.[1] ?? ""
    }`;
  }
  const dropper = Object.entries(o.rules).find(([k, n]) => k.endsWith(" drop") && n >= o.sent);
  if (dropper) return `: dropped by nft rule ${dropper[0].replace(/ drop$/, "")} (+${dropper[1]})`;
  if (o.stop) return `: packets stop ${o.stop}`;
  return o.tapList.some((t) => t.node === pair.to.node && t.dir === "tx")
    ? `: they reached pod ${pair.to.podName ?? pair.to.ip}'s veth and no reply came back ` +
      "(the pod dropped them, or the replies were lost on the way back)"
    : "";
}

async function icmp(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const label = pair.from.node?.name ?? "-";
  if (!pair.from.netns) {
    const why = "the source pod's namespace is not known on this node: cannot send from inside it";
    return [skip("probe.icmp", label, why)];
  }
  const tapList = taps(d, pair);
  const nftBefore = await nftCounters(pair.nodes);
  const before = read(tapList);
  const timeoutS = Math.max(1, Math.min(3, Math.round(d.options.timeoutMs / 1000)));
  const r = await ping(pair.from.netns, pair.to.ip, { count: 3, timeoutS });
  const after = read(tapList);
  const rules = grown(nftBefore, await nftCounters(pair.nodes));
  const w = where(tapList, before.packets, after.packets, r.sent);
  const evidence: Record<string, unknown> = {
    command: `nsenter --net=${pair.from.netns} ping -c 3 ${pair.to.ip}`,
    sent: r.sent,
    received: r.received,
    counters: w.deltas,
  };
  if (Object.keys(rules).length) evidence.nftRuleCounters = rules;
  const dropped = dropGrowth(tapList, before.drops, after.drops);
  if (Object.keys(dropped).length) evidence.deviceDrops = dropped;
  if (r.received > 0) {
    const ok = pass(
      "probe.icmp",
      label,
      `${r.received}/${r.sent} pings from ${pair.from.ip} answered by ${pair.to.ip}`,
      { evidence },
    );
    const df = await dfProbe(d, pair, label, timeoutS);
    return df ? [ok, df] : [ok];
  }
  if (w.stop) evidence.stopsAt = w.stop;
  if (!w.stop && ignoresEcho(d, pair.to)) {
    return [
      warn(
        "probe.icmp",
        label,
        `no reply from ${pair.to.ip} to ${r.sent} pings, but they reached its veth and the pod ` +
          "ignores ICMP echo (see pod.icmp): ping cannot prove this path",
        { evidence, fix: "test with TCP (the application's own port)" },
      ),
    ];
  }
  // The nodes' own path next: when one node cannot reach the other's node IP, the network
  // between them is the cause, and the counters of their shared uplinks only mislead (unless
  // the packets stop where an XDP program runs: that names the cause more closely).
  const under = pair.from.node && pair.to.node
    ? underlayPingOf(d, pair.from.node, pair.to.node)
    : undefined;
  if (under && under.status !== "pass" && !w.stop?.includes("runs XDP program")) {
    return [
      fail(
        "probe.icmp",
        label,
        `no reply from ${pair.to.ip} to ${r.sent} pings: the nodes themselves do not reach each other (underlay.ping)`,
        { evidence, fix: under.fix ?? "" },
      ),
    ];
  }
  const errors = icmpErrors(r.out);
  if (errors.length) evidence.icmpErrors = errors.map((e) => `${e.from}: ${e.text}`);
  const at = whyLost(pair, { errors, rules, sent: r.sent, stop: w.stop, tapList });
  return [
    fail("probe.icmp", label, `no reply from ${pair.to.ip} to ${r.sent} pings${at}`, {
      evidence,
      fix: w.stop?.includes("runs XDP program")
        ? "where they stop an XDP program runs (tc.xdp): check what it returns, or detach it"
        : "the first failing check above names the cause; the counters show where the packets stop",
    }),
  ];
}

/** The probe family (runs only with --probe). */
export const probeFamily: Family = {
  name: "probe",
  pair: (d, pair) => d.options.probe ? icmp(d, pair) : [],
};
