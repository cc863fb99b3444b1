import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import type { CheckResult } from "../check.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { BgpDebug } from "../debug_state_parse.ts";
import { parseRuleset } from "../nft_eval.ts";
import { bgpPortFamily } from "./_bgp_port.ts";

/** testdata/nft_bgp.json (capture_nft.sh) with only the rules commented one of `keep`. */
function captured(...keep: string[]) {
  const v = JSON.parse(
    Deno.readTextFileSync(new URL("../testdata/nft_bgp.json", import.meta.url)),
  ) as { nftables: Record<string, { comment?: string }>[] };
  return parseRuleset(JSON.stringify({
    nftables: v.nftables.filter((i) => !i.rule || keep.includes(i.rule.comment ?? "")),
  }));
}

type Peers = BgpDebug["peers"];

/** A lab node with kernel access (its uplink eth0) and, when given, its daemon's bgp peers. */
function node(n: number, peers?: Peers): NodeView {
  return {
    name: `n${n}`,
    nodeName: `n${n}`,
    facts: { backend: "bgp" },
    lease: { node: `n${n}`, publicIP: `192.168.77.1${n}`, subnet: `10.244.${n}.0/24` },
    kernel: {
      netns: `/run/netns/lab-n${n}`,
      sysctl: (k: string) => k === "net.ipv4.ip_local_port_range" ? "32768\t60999" : undefined,
      linkWithAddr: () => ({ name: "eth0" }),
      link: () => undefined,
    },
    ...(peers ? { daemon: { url: "http://127.0.0.1:1", debug: { bgp: { peers } } } } : {}),
  } as unknown as NodeView;
}

/** A diagnosis of nodes `nodes` whose rulesets hold the rules `rules[name]` of the capture. */
function diagnosis(nodes: NodeView[], rules: Record<string, string[]>): Diagnosis {
  const memo = new Map<string, unknown>();
  for (const n of nodes) {
    memo.set(
      `ruleset|${n.name}`,
      Promise.resolve({ ok: true, ruleset: captured(...rules[n.name] ?? []), text: "" }),
    );
  }
  return { nodes, memo, store: { leases: nodes.map((n) => n.lease!) } } as unknown as Diagnosis;
}

/** bgp.port of the pair n1, n2 (mesh: n2, the higher address, dials n1). */
async function pair(rules: Record<string, string[]>, peers?: [Peers, Peers]) {
  const n1 = node(1, peers?.[0]), n2 = node(2, peers?.[1]);
  const d = diagnosis([n1, n2], rules);
  const out = await bgpPortFamily.pair!(d, { nodes: [n1, n2] } as never);
  return out.map((c) => `${c.status} [${c.node}] ${c.summary}`);
}

const mesh = (address: string, passive?: boolean): Peers[number] => ({
  address,
  asNumber: 64512,
  source: "mesh",
  state: "Established",
  prefixesReceived: 1,
  prefixesAdvertised: 1,
  ...(passive === undefined ? {} : { passive }),
});

Deno.test("bgp.port: the mesh's session passes both ways on both nodes: n2 dials, n1 is dialed", async () => {
  assertEquals(await pair({}), [
    "pass [n1] n1's ruleset passes its BGP connection with n2 (192.168.77.12, TCP 179) both ways, as the side dialed",
    "pass [n2] n2's ruleset passes its BGP connection with n1 (192.168.77.11, TCP 179) both ways, as the side that dials",
  ]);
});

Deno.test("bgp.port: the audit's drops on the node that dials (its input's 'tcp sport 179', its output's 'tcp dport 179') fail there, with the rule", async () => {
  assertEquals(await pair({ n2: ["in-sport"] }), [
    "pass [n1] n1's ruleset passes its BGP connection with n2 (192.168.77.12, TCP 179) both ways, as the side dialed",
    "fail [n2] n2's ruleset drops the BGP (TCP 179) replies from n1 (192.168.77.11)",
  ]);
  const n1 = node(1), n2 = node(2);
  const out = await bgpPortFamily.pair!(
    diagnosis([n1, n2], { n2: ["out-dport"] }),
    { nodes: [n1, n2] } as never,
  ) as CheckResult[];
  const c = out.find((x) => x.node === "n2")!;
  assertEquals(c.summary, "n2's ruleset drops BGP (TCP 179) to n1 (192.168.77.11)");
  assertEquals(
    c.evidence.packet,
    "output tcp 192.168.77.12 -> 192.168.77.11 sport 32768-60999 dport 179 oif eth0",
  );
  assertStringIncludes(String(c.evidence.droppedBy), "inet t out handle");
  assertStringIncludes(c.fix!, "ip netns exec lab-n2 nft delete rule inet t out handle");
});

Deno.test("bgp.port: the listener's input 'tcp dport 179' and output 'tcp sport 179' fail on it; on the dialer 'tcp dport 179' in its input blocks nothing", async () => {
  assertEquals((await pair({ n1: ["in-dport"], n2: ["in-dport"] })).map((s) => s.slice(0, 60)), [
    "fail [n1] n1's ruleset drops BGP (TCP 179) from n2 (192.168.",
    "pass [n2] n2's ruleset passes its BGP connection with n1 (19",
  ]);
  assertEquals(
    (await pair({ n1: ["out-sport"] }))[0],
    "fail [n1] n1's ruleset drops its BGP (TCP 179) replies to n2 (192.168.77.12)",
  );
  // The dialer's replies come to a port of its ip_local_port_range.
  assertEquals(
    (await pair({ n2: ["in-ephemeral"] }))[1],
    "fail [n2] n2's ruleset drops the BGP (TCP 179) replies from n1 (192.168.77.11)",
  );
  assertEquals((await pair({ n1: ["in-ephemeral"] }))[0]?.slice(0, 9), "pass [n1]");
});

Deno.test("bgp.port: a notracked SYN's replies are invalid on the listener; a 'ct state invalid drop' there fails naming the notrack", async () => {
  const n1 = node(1), n2 = node(2);
  const out = await bgpPortFamily.pair!(
    diagnosis([n1, n2], { n1: ["notrack", "out-invalid"] }),
    { nodes: [n1, n2] } as never,
  ) as CheckResult[];
  const c = out.find((x) => x.node === "n1")!;
  assertEquals(c.status, "fail");
  assertStringIncludes(c.summary, "takes its request out of conntrack (notrack)");
  assertStringIncludes(String(c.evidence.requestUntrackedBy), "inet t raw handle");
});

Deno.test("bgp.port: the daemons' answers say who dials: passive waits, a configured peer both ways, no such peer none", async () => {
  // n1 says it dials n2 (passive false), n2 waits: the other way round from the mesh rule.
  assertEquals(
    (await pair({ n1: ["in-sport"] }, [[mesh("192.168.77.12", false)], [
      mesh("192.168.77.11", true),
    ]]))[0],
    "fail [n1] n1's ruleset drops the BGP (TCP 179) replies from n2 (192.168.77.12)",
  );
  const config = (a: string) => ({ ...mesh(a, false), source: "config" });
  assertEquals(await pair({}, [[config("192.168.77.12")], [config("192.168.77.11")]]), [
    "pass [n1] n1's ruleset passes its BGP connection with n2 (192.168.77.12, TCP 179) both ways, as the side that dials and the side dialed",
    "pass [n2] n2's ruleset passes its BGP connection with n1 (192.168.77.11, TCP 179) both ways, as the side that dials and the side dialed",
  ]);
  // A daemon without `passive` (older: both ends dial).
  assertEquals(
    (await pair({ n1: ["out-dport"] }, [[mesh("192.168.77.12")], [mesh("192.168.77.11")]]))[0],
    "fail [n1] n1's ruleset drops BGP (TCP 179) to n2 (192.168.77.12)",
  );
  // Route reflectors: n1 does not peer n2, a firewall may keep it off 179.
  assertEquals(
    await pair({ n1: ["in-dport"] }, [[mesh("192.168.77.99")], [mesh("192.168.77.11")]]),
    [],
  );
});

Deno.test("bgp.port --node: the node's side of every session its daemon reports, else the mesh with every lease; one pass for all", async () => {
  const n1 = node(1), n2 = node(2, [mesh("192.168.77.11", false), mesh("192.168.77.13", true)]);
  const n3 = node(3);
  const run = async (n: NodeView, rules: string[]) =>
    (await bgpPortFamily.node!(diagnosis([n1, n2, n3], { [n.name]: rules }), n)).map((c) =>
      `${c.status} [${c.node}] ${c.summary}`
    );
  assertEquals(await run(n2, []), [
    "pass [n2] n2's ruleset passes its BGP connections (TCP 179) with its 2 peers both ways",
  ]);
  assertEquals(await run(n2, ["in-sport"]), [
    "fail [n2] n2's ruleset drops the BGP (TCP 179) replies from n1 (192.168.77.11)",
  ]);
  assertEquals(await run(n2, ["in-dport"]), [
    "fail [n2] n2's ruleset drops BGP (TCP 179) from n3 (192.168.77.13)",
  ]);
  // Without the daemon's answer, the mesh: n1 (the lowest) is dialed by n2 and n3.
  assertEquals(await run(n1, ["out-dport"]), [
    "pass [n1] n1's ruleset passes its BGP connections (TCP 179) with its 2 peers both ways",
  ]);
  assertEquals((await run(n3, ["out-dport"])).length, 2, "n3 dials n1 and n2");
});
