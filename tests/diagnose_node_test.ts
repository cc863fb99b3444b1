/**
 * `skein diagnose --node` (root): the single-node mode judges what a node can be judged on by
 * itself, without a pair: an IPsec (XFRM) policy blocking pod traffic to another node's subnet
 * (xfrm.policy) and a netdev ingress chain dropping the tunnel's packets on the uplink
 * (netfilter.netdev), the tunnel's packets dropped in a node's output hook (netfilter.output) or
 * input hook (underlay.port), and a daemon with ipMasq whose masquerade is missing
 * (netfilter.masq), and policy rules refusing or diverting pod traffic to the other node's subnet
 * or sending it to an unreachable route (route.fib and route.wrong_dev: the FIB lookups a pair
 * diagnosis makes), each with the exact
 * fix, on a 2-node vxlan lab.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import type { CheckResult, Report } from "../diagnose/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { skein, withLab } from "./_diag_lab.ts";

const isRoot = Deno.uid() === 0;

async function sh(argv: string[], stdin?: string): Promise<void> {
  const r = await runCommand(argv, stdin === undefined ? {} : { stdin });
  if (!r.success) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

Deno.test({
  name:
    "diagnose --node: XFRM and netdev drops, the tunnel's output and input drops and a missing masquerade are named with their fix",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dnode", { backend: "vxlan", nodes: 2, podsPerNode: 1 }, async (lab) => {
      const node = (n: string) => lab.plan.nodes.find((x) => x.name === n)!;
      const subnet = (n: string): string =>
        JSON.parse(Deno.readTextFileSync(node(n).leaseFile)).subnet;
      const diagnose = async (n: string): Promise<Report> => {
        const r = await skein(["diagnose", "--node", "--config", node(n).configFile, "--json"]);
        return JSON.parse(r.stdout) as Report;
      };
      const check = (r: Report, id: string): CheckResult => {
        const c = r.checks.find((x) => x.id === id);
        assert(c, `no ${id} in ${r.checks.map((x) => `${x.id}:${x.status}`).join(" ")}`);
        return c;
      };
      const inNs = (n: string) => ["ip", "netns", "exec", node(n).netns];
      try {
        await sh([
          ...inNs("n1"),
          ..."ip xfrm policy add src".split(" "),
          subnet("n1"),
          "dst",
          subnet("n2"),
          ..."dir fwd action block".split(" "),
        ]);
        await sh(
          [...inNs("n2"), "nft", "-f", "-"],
          "table netdev dnode {\n chain ing {\n  type filter hook ingress device eth0 priority 0; policy accept;\n  udp dport 8472 drop\n }\n}\n",
        );
        const r1 = await diagnose("n1");
        const x = check(r1, "xfrm.policy");
        assertEquals(x.status, "fail", JSON.stringify(x));
        assertStringIncludes(
          x.fix ?? "",
          `ip netns exec ${node("n1").netns} ip xfrm policy delete src ${subnet("n1")} dst ${
            subnet("n2")
          } dir fwd`,
        );
        assertEquals(r1.verdict, "fail");
        const r2 = await diagnose("n2");
        const nd = check(r2, "netfilter.netdev");
        assertEquals(nd.status, "fail", JSON.stringify(nd));
        assertStringIncludes(nd.fix ?? "", "nft delete rule netdev dnode ing handle");
        assertEquals(check(r2, "xfrm.policy").status, "pass");
        // Only the traffic coming in from n2's pods is dropped on n1: --node judges it too.
        await sh(
          [...inNs("n1"), "nft", "-f", "-"],
          `table inet dnodefw {\n chain fw {\n  type filter hook forward priority 0; policy accept;\n  ip saddr ${
            subnet("n2")
          } drop\n }\n}\n`,
        );
        const fw = (await diagnose("n1")).checks.filter((c) =>
          c.id === "netfilter.forward" && c.status === "fail"
        );
        assertEquals(fw.length, 1, JSON.stringify(fw));
        assertStringIncludes(
          fw[0]!.summary,
          `drops pod traffic from ${lab.plan.nodes[1]!.nodeName}`,
        );
        assertStringIncludes(fw[0]!.fix ?? "", "nft delete rule inet dnodefw fw handle");
        // A stopped daemon: --node finds the process holding its port, and says kill -CONT (not
        // "start it", which would start a second daemon).
        const pid = lab.state.daemons.find((x) => x.node === "n2")!.pid;
        Deno.kill(pid, "SIGSTOP");
        try {
          const run = check(await diagnose("n2"), "daemon.running");
          assertEquals(run.status, "fail", JSON.stringify(run));
          assertStringIncludes(run.summary, "stopped (SIGSTOP)");
          assertEquals(run.fix, `kill -CONT ${pid}`);
        } finally {
          Deno.kill(pid, "SIGCONT");
        }
      } finally {
        await runCommand([...inNs("n1"), "nft", "delete", "table", "inet", "dnodefw"]);
        await runCommand([...inNs("n1"), "ip", "xfrm", "policy", "flush"]);
        await runCommand([...inNs("n2"), "nft", "delete", "table", "netdev", "dnode"]);
      }
      // A pod's port that the bridge floods nothing to, and a bridge that sends no ARP request.
      const pod = lab.state.pods.find((p) => p.node === "n2")!;
      const peer = JSON.parse(
        (await runCommand(["ip", "-n", pod.netns, "-j", "link", "show", "eth0"])).stdout,
      )[0].link_index as number;
      const veth = (JSON.parse(
        (await runCommand(["ip", "-n", node("n2").netns, "-j", "link", "show"])).stdout,
      ) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === peer)!.ifname;
      const proxyArp = (on: string) => [
        ...inNs("n2"),
        ..."ip link set dev".split(" "),
        veth,
        ..."type bridge_slave proxy_arp".split(" "),
        on,
      ];
      const solicit = (n: number) => [
        ...inNs("n2"),
        ..."sysctl -w".split(" "),
        `net.ipv4.neigh.cni0.mcast_solicit=${n}`,
      ];
      try {
        await sh(proxyArp("on"));
        await sh(solicit(0));
        const r = await diagnose("n2");
        const port = check(r, "pod.port");
        assertEquals(port.status, "fail", JSON.stringify(port));
        assertStringIncludes(port.fix ?? "", `${veth} type bridge_slave proxy_arp off`);
        const arp = check(r, "sysctl.neigh");
        assertEquals(arp.status, "fail", JSON.stringify(arp));
        assertStringIncludes(arp.fix ?? "", "sysctl -w net.ipv4.neigh.cni0.mcast_solicit=3");
      } finally {
        await runCommand(proxyArp("off"));
        await runCommand(solicit(3));
      }
      // The tunnel's packets: dropped in n1's output hook, and in n2's input hook.
      try {
        await sh(
          [...inNs("n1"), "nft", "-f", "-"],
          "table inet dnode {\n chain out {\n  type filter hook output priority 0; policy accept;\n  udp dport 8472 drop\n }\n}\n",
        );
        await sh(
          [...inNs("n2"), "nft", "-f", "-"],
          "table inet dnode {\n chain in {\n  type filter hook input priority 0; policy accept;\n  udp dport 8472 drop\n }\n}\n",
        );
        const o = check(await diagnose("n1"), "netfilter.output");
        assertEquals(o.status, "fail", JSON.stringify(o));
        assertStringIncludes(o.fix ?? "", "nft delete rule inet dnode out handle");
        const p = check(await diagnose("n2"), "underlay.port");
        assertEquals(p.status, "fail", JSON.stringify(p));
        assertStringIncludes(p.fix ?? "", "nft delete rule inet dnode in handle");
      } finally {
        for (const n of ["n1", "n2"]) {
          await runCommand([...inNs(n), "nft", "delete", "table", "inet", "dnode"]);
        }
      }
      // A daemon that says ipMasq: true (its lease file) with no masquerade in the ruleset: the
      // lab's daemons run without it, so a copy of n1's config names a lease file that says so.
      const dir = Deno.makeTempDirSync({ prefix: "skein-dnode-" });
      try {
        const lease = JSON.parse(Deno.readTextFileSync(node("n1").leaseFile));
        Deno.writeTextFileSync(`${dir}/lease.json`, JSON.stringify({ ...lease, ipMasq: true }));
        const cfg = Deno.readTextFileSync(node("n1").configFile);
        assertStringIncludes(cfg, node("n1").leaseFile);
        Deno.writeTextFileSync(
          `${dir}/daemon.yaml`,
          cfg.replace(node("n1").leaseFile, `${dir}/lease.json`),
        );
        const masq = async () => {
          const r = await skein(["diagnose", "--node", "--config", `${dir}/daemon.yaml`, "--json"]);
          return check(JSON.parse(r.stdout) as Report, "netfilter.masq");
        };
        const m = await masq();
        assertEquals(m.status, "fail", JSON.stringify(m));
        assertStringIncludes(m.summary, "ipMasq: true");
        await sh(["sh", "-c", m.fix!.split("  #")[0]!]);
        assertEquals((await masq()).status, "pass");
        // The lab's own daemons (ipMasq: false) are not judged on masquerading.
        assertEquals((await diagnose("n1")).checks.some((c) => c.id === "netfilter.masq"), false);
      } finally {
        await runCommand([...inNs("n1"), "nft", "delete", "table", "ip", "skein-egress"]);
        Deno.removeSync(dir, { recursive: true });
      }
      // The FIB lookups of pod traffic to the other node's subnet: a policy rule refusing it
      // (route.fib), then one diverting it to a table that sends it out of the uplink
      // (route.fib warns, route.wrong_dev fails), each with the rule to delete.
      const ipIn = (n: string, words: string) =>
        sh([...inNs(n), "ip", ...words.replaceAll("SUBNET2", subnet("n2")).split(" ")]);
      try {
        await ipIn("n1", "rule add to SUBNET2 prohibit pref 4243");
        const f = (await diagnose("n1")).checks.find((c) =>
          c.id === "route.fib" && c.status === "fail"
        );
        assert(f, "no failing route.fib with a prohibit rule to n2's subnet");
        assertStringIncludes(
          f.fix ?? "",
          `ip netns exec ${node("n1").netns} ip rule del pref 4243`,
        );
        assertStringIncludes(String(f.evidence.towards), subnet("n2"));
        await ipIn("n1", "rule del pref 4243");
        // An unreachable route in a table a rule sends the flow to (EHOSTUNREACH with forwarding
        // on): the route and the rule are named, not ip_forward.
        await ipIn("n1", "route add unreachable SUBNET2 table 4245");
        await ipIn("n1", "rule add to SUBNET2 lookup 4245 pref 4245");
        const u = (await diagnose("n1")).checks.find((c) =>
          c.id === "route.fib" && c.status === "fail"
        );
        assert(u, "no failing route.fib with an unreachable route in table 4245");
        assertStringIncludes(u.summary, `the unreachable route ${subnet("n2")} table 4245`);
        assertStringIncludes(
          u.fix ?? "",
          `ip netns exec ${node("n1").netns} ip route del unreachable ${subnet("n2")} table 4245`,
        );
        assertStringIncludes(u.fix ?? "", "ip rule del pref 4245");
        await ipIn("n1", "rule del pref 4245");
        await ipIn("n1", "route flush table 4245");
        await ipIn("n1", "route add SUBNET2 dev eth0 table 4244");
        await ipIn("n1", "rule add to SUBNET2 lookup 4244 pref 4244");
        const r = await diagnose("n1");
        const w = check(r, "route.wrong_dev");
        assertEquals(w.status, "fail", JSON.stringify(w));
        assertStringIncludes(w.summary, "out by eth0, not skein.1");
        assertStringIncludes(w.fix ?? "", "ip rule del pref 4244");
        const t = r.checks.find((c) => c.id === "route.fib" && c.status === "warn");
        assertStringIncludes(t?.summary ?? "", "routed by table 4244");
      } finally {
        await runCommand([...inNs("n1"), ..."ip rule del pref 4243".split(" ")]);
        await runCommand([...inNs("n1"), ..."ip rule del pref 4244".split(" ")]);
        await runCommand([...inNs("n1"), ..."ip rule del pref 4245".split(" ")]);
        await runCommand([...inNs("n1"), ..."ip route flush table 4245".split(" ")]);
        await runCommand([...inNs("n1"), ..."ip route flush table 4244".split(" ")]);
      }
      // Healed: none of these checks fails on either node.
      for (const n of ["n1", "n2"]) {
        const r = await diagnose(n);
        for (
          const id of [
            "xfrm.policy",
            "netfilter.netdev",
            "netfilter.output",
            "underlay.port",
            "route.fib",
            "route.wrong_dev",
          ]
        ) {
          const c = r.checks.find((x) => x.id === id);
          assert(c?.status !== "fail", `${n}: ${JSON.stringify(c)}`);
        }
      }
      // Last (it breaks n2's pods for good): n2's bridge deleted under its pod is named.
      await sh([...inNs("n2"), "ip", "link", "del", "cni0"]);
      const br = (await diagnose("n2")).checks.find((c) =>
        c.id === "pod.host" && c.status === "fail"
      );
      assert(br, "no failing pod.host with cni0 deleted");
      assertStringIncludes(br.summary, "bridge cni0 is missing");
    }),
});
