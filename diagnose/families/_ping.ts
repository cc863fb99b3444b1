/**
 * `ping` from inside a namespace, and what its output says: the counts, and the ICMP errors the
 * hops sent back (Time to live exceeded, Host Unreachable, ...) with what each means. Used by
 * the probe (pods) and underlay.ping (nodes).
 *
 * @module
 */

const enc = new TextEncoder();

/**
 * `ping` from inside a namespace (`nsenter --net=NS ping ...`; undefined: this process's own, a
 * real node's); sent and received counts, and its whole output (icmpErrors() reads the errors
 * from it).
 */
export async function ping(
  netns: string | undefined,
  dst: string,
  opts: { count: number; size?: number; timeoutS: number },
): Promise<{ sent: number; received: number; out: string }> {
  const args = [
    ...(netns === undefined ? [] : ["--net=" + netns]),
    "ping",
    "-n", // not -q: the ICMP errors hops send back are printed per packet
    "-c",
    String(opts.count),
    "-i",
    "0.2",
    "-W",
    String(opts.timeoutS),
  ];
  if (opts.size !== undefined) args.push("-M", "do", "-s", String(opts.size));
  args.push(dst);
  const [cmd, ...rest] = netns === undefined ? args : ["nsenter", ...args];
  const o = await new Deno.Command(cmd!, { args: rest, stdout: "piped", stderr: "piped" })
    .output().catch((e: Error) => ({ stdout: new Uint8Array(), stderr: enc.encode(e.message) }));
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
  return { sent: m ? Number(m[1]) : opts.count, received: m ? Number(m[2]) : 0, out: out.trim() };
}

/** What an ICMP error ping prints means for the path (appended to the summary). */
export const ICMP_MEANING: readonly [RegExp, string][] = [
  [
    /time to live exceeded/i,
    " (the TTL ran out: a routing loop, or a TTL too low for the hops: the source pod's net.ipv4.ip_default_ttl?)",
  ],
  [
    /host unreachable/i,
    " (it found no MAC for the next hop: ARP unanswered, or the neighbour entry failed)",
  ],
  [/net unreachable/i, " (it has no route, or an unreachable route, to the destination)"],
  [/prohibited|filtered/i, " (a firewall REJECT rule there)"],
  [/port unreachable/i, " (a firewall REJECT rule there: iptables' default reject)"],
  [/frag needed/i, " (a link on the path has a smaller MTU than the packets: see mtu.*)"],
];

/** The ICMP errors ping printed (`From 10.244.1.1 icmp_seq=1 Time to live exceeded`), deduplicated. */
export function icmpErrors(out: string): { from: string; text: string }[] {
  const seen = new Map<string, { from: string; text: string }>();
  for (const m of out.matchAll(/^From (\S+?)(?: \([^)]*\))? icmp_seq=\d+ (.+)$/gm)) {
    const e = { from: m[1]!, text: m[2]!.trim() };
    seen.set(`${e.from} ${e.text}`, e);
  }
  return [...seen.values()];
}
