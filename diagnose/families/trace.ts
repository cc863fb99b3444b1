/**
 * `trace` (with `--trace`): what the kernel itself logged for the flow while a few pings ran.
 *
 * - `trace.nftrace`: a temporary table (`inet skein-diag-<pid>`, deleted in a finally) with a
 *   prerouting rule at priority -350 that sets `meta nftrace` for the flow's two directions, in
 *   each node; `nft monitor trace` shows every rule and policy verdict the packets met.
 * - `trace.kfree_skb`: the `skb:kfree_skb` tracepoint through tracefs, in a temporary tracing
 *   instance (removed afterwards) of a tracefs mounted in a private mount namespace (`unshare
 *   --mount`; nothing is mounted on the host). The tracepoint cannot filter by flow or namespace:
 *   it reports every IPv4 drop on the machine during the window, by reason and kernel function.
 *
 * Where the kernel does not allow it (no nft, no tracefs, no unshare), the check says `skip`
 * with the reason.
 *
 * @module
 */
import { nft } from "../../node/nft.ts";
import { nsenterArgs } from "../../node/nsenter.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView, Pair } from "../context.ts";
import type { Family } from "../family.ts";
import { ping } from "./_ping.ts";

const TABLE = `skein-diag-${Deno.pid}`;

function nsArgs(node: NodeView): string[] {
  return node.kernel?.netns ? nsenterArgs(node.kernel.netns) : [];
}

/** The temporary nftrace table for the flow, in nft syntax. */
export function traceTable(a: string, b: string): string {
  return `table inet ${TABLE} {\n chain trace {\n  type filter hook prerouting priority -350; policy accept;\n` +
    `  ip saddr ${a} ip daddr ${b} meta nftrace set 1\n  ip saddr ${b} ip daddr ${a} meta nftrace set 1\n }\n}\n`;
}

/** A running `nft monitor trace`: its output when stopped. */
function monitor(node: NodeView): { stop(): Promise<string> } {
  // Line-buffered: nft buffers a pipe fully and SIGTERM would lose what it has not written.
  const argv = [...nsArgs(node), "stdbuf", "-oL", "nft", "monitor", "trace"];
  const child = new Deno.Command(argv[0]!, { args: argv.slice(1), stdout: "piped", stderr: "null" })
    .spawn();
  return {
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      return new TextDecoder().decode((await child.output()).stdout);
    },
  };
}

/** The verdict lines of a trace, without the lines of skein's own trace table. */
export function traceVerdicts(text: string): string[] {
  return text.split("\n").filter((l) =>
    /\(verdict \w+\)|\bpolicy \w+|verdict drop/.test(l) && !l.includes(` ${TABLE} `)
  ).map((l) => l.replace(/^trace id \S+ /, "").trim());
}

/** Starts the tracepoint capture; resolves once it records; `stop()` gives its lines. */
async function tracepoint(): Promise<{ stop(): Promise<string> } | { error: string }> {
  const script = `set -e
d=$(mktemp -d /tmp/skein-trace.XXXXXX)
mount -t tracefs nodev "$d"
i="$d/instances/skein-diag-$$"
mkdir "$i"
trap 'echo 0 > "$i/events/skb/kfree_skb/enable" 2>/dev/null; rmdir "$i" 2>/dev/null; umount "$d"; rmdir "$d"' EXIT
echo 'protocol == 2048' > "$i/events/skb/kfree_skb/filter"
echo 1 > "$i/events/skb/kfree_skb/enable"
echo ready
read _ || true
cat "$i/trace"
`;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("unshare", {
      args: ["--mount", "--propagation", "private", "sh", "-c", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return { error: `cannot run unshare: ${(e as Error).message}` };
  }
  const reader = child.stdout.getReader();
  const first = await reader.read();
  const head = new TextDecoder().decode(first.value ?? new Uint8Array());
  if (!head.startsWith("ready")) {
    reader.releaseLock();
    await child.stdin.close().catch(() => {});
    const o = await child.output().catch(() => undefined);
    return {
      error: `the kernel does not allow it: ${
        new TextDecoder().decode(o?.stderr ?? new Uint8Array()).trim() || "tracefs not available"
      }`,
    };
  }
  return {
    async stop() {
      await child.stdin.close();
      let out = head.slice(6);
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        out += new TextDecoder().decode(r.value);
      }
      await child.status;
      return out;
    },
  };
}

/** How many distinct packets the trace saw (trace ids). */
export function tracedPackets(text: string): number {
  return new Set(text.split("\n").map((l) => /^trace id (\S+) /.exec(l)?.[1]).filter((x) => x))
    .size;
}

/** kfree_skb lines by "REASON at function". */
export function dropReasons(trace: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of trace.split("\n")) {
    const m = /location=([^\s+]+)\S*\s+reason: (\w+)/.exec(l);
    if (m) out[`${m[2]} at ${m[1]}`] = (out[`${m[2]} at ${m[1]}`] ?? 0) + 1;
  }
  return out;
}

/** The check of one node's `nft monitor trace` output. */
function nftraceCheck(node: NodeView, text: string): CheckResult {
  const v = traceVerdicts(text);
  const drops = v.filter((l) => /verdict drop|policy drop/.test(l));
  const packets = tracedPackets(text);
  const ev = { table: `inet ${TABLE} (removed)`, packetsTraced: packets, verdicts: v.slice(0, 20) };
  if (drops.length) {
    return fail(
      "trace.nftrace",
      node.name,
      `the kernel logged a drop for the flow on ${node.name}: ${drops[0]}`,
      {
        evidence: ev,
        fix: "delete or change the rule named (nft -a list ruleset shows its handle)",
      },
    );
  }
  return pass(
    "trace.nftrace",
    node.name,
    `the kernel traced ${packets} packet(s) of the flow on ${node.name}: ${v.length} rule verdict(s), none a drop`,
    { evidence: ev },
  );
}

/**
 * A free at the socket layer that cannot be the flow's drop: TCP (the flow is ICMP, the tunnels
 * UDP or IP), a closing socket's queue, or an echo reply to a ping that already ended (NO_SOCKET
 * at ping_rcv). The tracepoint is machine-wide, so these come from whatever else the machine does.
 * A NO_SOCKET at the UDP receive path stays a drop: it is what a closed VXLAN port looks like.
 */
function socketLevel(key: string): boolean {
  const [reason = "", at = ""] = key.split(" at ");
  return reason.startsWith("TCP_") || at.startsWith("tcp_") ||
    reason === "QUEUE_PURGE" || reason === "SOCKET_CLOSE" ||
    (reason === "NO_SOCKET" && at === "ping_rcv");
}

/** The check of the kfree_skb capture. */
export function kfreeCheck(label: string, trace: string): CheckResult {
  const all = dropReasons(trace);
  const reasons = Object.fromEntries(
    Object.entries(all).filter(([k]) => !socketLevel(k)),
  );
  const n = Object.values(reasons).reduce((a, b) => a + b, 0);
  const ev = {
    window: "the trace pings, machine-wide (the tracepoint cannot filter by flow)",
    reasons: all,
  };
  if (!n) {
    const other = Object.values(all).reduce((a, b) => a + b, 0);
    return pass(
      "trace.kfree_skb",
      label,
      "no IPv4 drop on a forwarding path recorded by skb:kfree_skb during the trace" +
        (other
          ? ` (${other} socket-level free(s) on the machine ignored: TCP, closed sockets, late echo replies)`
          : ""),
      { evidence: ev },
    );
  }
  return warn(
    "trace.kfree_skb",
    label,
    `${n} IPv4 packet(s) dropped on the machine during the trace: ${
      Object.keys(reasons).slice(0, 3).join(", ")
    }`,
    {
      evidence: ev,
      fix:
        "match the reasons with the failing checks above (NETFILTER_DROP: a rule; IP_RPFILTER: rp_filter; NOT_SPECIFIED at ip_forward: forwarding off)",
    },
  );
}

type Monitor = { node: NodeView; m: { stop(): Promise<string> } };

/** Adds the trace table and starts a monitor on every node that takes it. */
async function startTraces(nodes: NodeView[], pair: Pair, out: CheckResult[]): Promise<Monitor[]> {
  const mons: Monitor[] = [];
  for (const n of nodes) {
    try {
      await nft({
        script: traceTable(pair.from.ip, pair.to.ip),
        ...(n.kernel!.netns ? { netns: n.kernel!.netns } : {}),
      });
      mons.push({ node: n, m: monitor(n) });
    } catch (e) {
      out.push(skip("trace.nftrace", n.name, `cannot add the trace rule: ${(e as Error).message}`));
    }
  }
  return mons;
}

async function run(d: Diagnosis, pair: Pair): Promise<CheckResult[]> {
  const label = pair.from.node?.name ?? "-";
  if (!pair.from.netns) {
    const why = "the source pod's namespace is not known on this node: nothing to send from";
    return [skip("trace.nftrace", label, why)];
  }
  const out: CheckResult[] = [];
  const tp = await tracepoint();
  let trace = "";
  let mons: Monitor[] = [];
  try {
    mons = await startTraces(pair.nodes.filter((n) => n.kernel), pair, out);
    await new Promise((r) => setTimeout(r, 300)); // let the monitors subscribe
    const timeoutS = Math.max(1, Math.min(3, Math.round(d.options.timeoutMs / 1000)));
    await ping(pair.from.netns, pair.to.ip, { count: 3, timeoutS });
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    for (const { node, m } of mons) {
      out.push(nftraceCheck(node, await m.stop()));
      await nft({
        args: ["delete", "table", "inet", TABLE],
        ...(node.kernel!.netns ? { netns: node.kernel!.netns } : {}),
      }).catch(() => {});
    }
    if ("stop" in tp) trace = await tp.stop();
  }
  out.push(
    "error" in tp
      ? skip("trace.kfree_skb", label, `skb:kfree_skb tracepoint: ${tp.error}`)
      : kfreeCheck(label, trace),
  );
  return out;
}

/** The trace family (runs only with --trace). */
export const traceFamily: Family = {
  name: "trace",
  pair: (d, pair) => d.options.trace ? run(d, pair) : [],
};
