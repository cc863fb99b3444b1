/**
 * iptables matches that iptables-nft keeps as xt expressions (nft's JSON names the match, not its
 * arguments), judged from the rule's words in `iptables-save`: `-m icmp [!] --icmp-type T[/C]`
 * (a name, a number, `any`) against the packet's ICMP message, `-m iprange [!] --src-range
 * A-B [!] --dst-range A-B` against its addresses, and `-m multiport [!] --sports|--dports|--ports
 * LIST` against its ports (nft_ports.ts; iptables-nft writes `--sport`/`--dport` as nft's own
 * `udp sport` matches). An option or a value not known here leaves the
 * match not judged (undefined). Pure.
 *
 * @module
 */
import { ipv4Number } from "./context.ts";
import type { Packet } from "./nft_eval.ts";
import { PORT_OPTIONS, portOptionHolds } from "./nft_ports.ts";

/** Shell-like words of a saved rule (double quotes group, as iptables-save writes comments). */
export function ruleWords(args: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(args); m; m = re.exec(args)) out.push(m[1] ?? m[2]!);
  return out;
}

/** The xt matches judged here. */
export const XT_MATCHES: ReadonlySet<string> = new Set(["icmp", "iprange", "multiport"]);

/**
 * The options of the `nth` (from 0) `-m NAME` in a rule's iptables-save words, up to the next
 * match or the target; undefined when the rule has no such match.
 */
export function xtMatchArgs(words: string, name: string, nth = 0): string[] | undefined {
  const t = ruleWords(words);
  let seen = -1;
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== "-m" || t[i + 1] !== name || ++seen !== nth) continue;
    const out: string[] = [];
    for (let j = i + 2; j < t.length && !["-m", "-j", "-g"].includes(t[j]!); j++) out.push(t[j]!);
    return out;
  }
  return undefined;
}

/**
 * iptables' ICMP type names (`iptables -p icmp -h`), as type and code (no code: every code).
 * iptables-save writes numbers (1.8.9) or these names.
 */
const ICMP_NAMES: Readonly<Record<string, [number, number?]>> = {
  "echo-reply": [0],
  pong: [0],
  "destination-unreachable": [3],
  "network-unreachable": [3, 0],
  "host-unreachable": [3, 1],
  "protocol-unreachable": [3, 2],
  "port-unreachable": [3, 3],
  "fragmentation-needed": [3, 4],
  "source-route-failed": [3, 5],
  "network-unknown": [3, 6],
  "host-unknown": [3, 7],
  "network-prohibited": [3, 9],
  "host-prohibited": [3, 10],
  "TOS-network-unreachable": [3, 11],
  "TOS-host-unreachable": [3, 12],
  "communication-prohibited": [3, 13],
  "host-precedence-violation": [3, 14],
  "precedence-cutoff": [3, 15],
  "source-quench": [4],
  redirect: [5],
  "network-redirect": [5, 0],
  "host-redirect": [5, 1],
  "TOS-network-redirect": [5, 2],
  "TOS-host-redirect": [5, 3],
  "echo-request": [8],
  ping: [8],
  "router-advertisement": [9],
  "router-solicitation": [10],
  "time-exceeded": [11],
  "ttl-exceeded": [11],
  "ttl-zero-during-transit": [11, 0],
  "ttl-zero-during-reassembly": [11, 1],
  "parameter-problem": [12],
  "ip-header-bad": [12, 0],
  "required-option-missing": [12, 1],
  "timestamp-request": [13],
  "timestamp-reply": [14],
  "address-mask-request": [17],
  "address-mask-reply": [18],
};

/** Whether `--icmp-type` value `v` holds for packet `p`; undefined when it cannot tell. */
function icmpTypeHolds(v: string, p: Packet): boolean | undefined {
  if (p.l4proto !== "icmp") return false;
  if (v === "any") return true;
  const num = /^(\d+)(?:\/(\d+))?$/.exec(v);
  const want = num
    ? [Number(num[1]), num[2] === undefined ? undefined : Number(num[2])] as const
    : ICMP_NAMES[v];
  if (!want || !p.icmp) return undefined;
  return p.icmp.type === want[0] && (want[1] === undefined || p.icmp.code === want[1]);
}

/** Whether address `ip` is in iprange's `A-B`; undefined when the range cannot be read. */
function inRange(ip: string, range: string): boolean | undefined {
  const [a, b] = range.split("-");
  const n = ipv4Number(ip), lo = ipv4Number(a ?? ""), hi = ipv4Number(b ?? a ?? "");
  if (n === undefined || lo === undefined || hi === undefined) return undefined;
  return n >= lo && n <= hi;
}

/**
 * Whether option `opt` with value `v` of xt match `name` (`-m icmp --icmp-type 8`, `-m iprange
 * --src-range A-B`, `-m multiport --sports 8285,8472`) holds for `p`; undefined when it is not
 * judged here.
 */
export function optionHolds(
  name: string,
  opt: string,
  v: string,
  p: Packet,
): boolean | undefined {
  if (name === "icmp" && opt === "--icmp-type") return icmpTypeHolds(v, p);
  if (name === "iprange" && opt === "--src-range") return inRange(p.saddr, v);
  if (name === "iprange" && opt === "--dst-range") return inRange(p.daddr, v);
  if (name === "multiport" && PORT_OPTIONS.has(opt)) return portOptionHolds(opt, v, p);
  return undefined;
}

/**
 * Whether the `nth` (from 0) xt match `name` (one of XT_MATCHES) of a rule whose iptables-save
 * words are `words` holds for packet `p`: every option must (`!` before an option negates it);
 * undefined when there are no words, or no option fails and one is not judged here.
 *
 * @example
 * ```ts
 * import { xtMatch } from "./xt_match.ts";
 * const p = { hook: "forward", saddr: "10.244.1.2", daddr: "10.244.2.3", l4proto: "icmp" } as const;
 * xtMatch("-m iprange --src-range 10.244.1.1-10.244.1.200 -j DROP", "iprange", 0, p); // true
 * xtMatch("-p icmp -m icmp --icmp-type 8 -j DROP", "icmp", 0, p); // undefined: type not known
 * ```
 */
export function xtMatch(
  words: string | undefined,
  name: string,
  nth: number,
  p: Packet,
): boolean | undefined {
  const args = words === undefined ? undefined : xtMatchArgs(words, name, nth);
  if (!args?.length) return undefined;
  let all = true, unknown = false;
  for (let i = 0; i < args.length; i++) {
    const neg = args[i] === "!";
    if (neg) i++;
    const opt = args[i]!, v = args[i + 1];
    i++;
    const hit = v === undefined ? undefined : optionHolds(name, opt, v, p);
    if (hit === undefined) unknown = true;
    else if (hit === neg) all = false;
  }
  // One option that does not hold decides, whatever the others.
  return !all ? false : unknown ? undefined : true;
}
