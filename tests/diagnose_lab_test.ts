/**
 * `skein diagnose` on healthy labs (root): every pod pair of a vxlan lab (same node and across
 * nodes) and a host-gw lab gives zero failing checks, through the library and the CLI; the JSON
 * has the documented shape; bad input exits 2 and changes nothing. Bridge port flags set by hand
 * on a same-node pair are named (pod.port), and so are ebtables and arptables rules
 * (netfilter.bridge, netfilter.arp). A pod attached with CNI_IFNAME=net1 is diagnosed through
 * net1 (IPAM's record), healthy and with net1 down.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { type Lab, labDiagnose } from "../lab/mod.ts";
import type { CheckResult, Report } from "../diagnose/mod.ts";
import { parseDebugState } from "../diagnose/debug_state_parse.ts";
import { skein, withLab } from "./_diag_lab.ts";
import { runCommand } from "../lab/_proc.ts";
import { LAB_CNI_PATH, leaseMtu, podNetconf } from "../lab/pods.ts";
import { skeinArgv, skeinCommand } from "../lab/skein_bin.ts";
import { nsenterArgs } from "../node/nsenter.ts";

const isRoot = Deno.uid() === 0;

function failures(r: Report): string {
  return r.checks.filter((c) => c.status === "fail")
    .map((c) => `${c.id} [${c.node}] ${c.summary} ${JSON.stringify(c.evidence)}`).join("\n");
}

Deno.test({
  name:
    "diagnose: a healthy vxlan lab has zero failing checks for every pod pair (library and CLI)",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dv", { backend: "vxlan", podsPerNode: 2 }, async (lab) => {
      const name = lab.plan.options.name;
      const pods = lab.state.pods.map((p) => p.name);
      for (
        const [a, b] of [["n1-p1", "n2-p1"], ["n2-p2", "n3-p1"], ["n1-p1", "n1-p2"], [
          "n3-p1",
          "n1-p2",
        ]]
      ) {
        assert(pods.includes(a!) && pods.includes(b!));
        const r = await labDiagnose(name, a!, b!);
        assertEquals(failures(r), "", `${a} -> ${b}`);
        assertEquals(r.verdict === "fail", false);
        // Both nodes of a cross-node pair are inspected.
        const nodes = new Set(r.checks.map((c: CheckResult) => c.node));
        if (a!.slice(0, 2) !== b!.slice(0, 2)) {
          assert(nodes.has(a!.slice(0, 2)) && nodes.has(b!.slice(0, 2)));
        }
      }
      // A pod's own gateway (cni0's address) and another node's are nodes, not missing pods: no
      // failure, and no fix that deletes the pod's connected route.
      for (const [pod, node] of [["n1-p1", "n1"], ["n1-p1", "n2"]]) {
        const some = lab.state.pods.find((p) => p.name.startsWith(`${node}-`))!.ip!;
        const gw = some.replace(/\.\d+$/, ".1");
        const r = await labDiagnose(name, pod!, gw);
        assertEquals(failures(r), "", `${pod} -> ${gw}`);
        assert(r.checks.some((c) => c.id === "pod.eth0" && c.summary.includes("is not a pod")));
      }
      // The daemon's read-only /debug/state: what diagnose parses, with no datastore details.
      const listen = lab.state.daemons.find((d) => d.node === "n1")!.listen;
      const text = await (await fetch(`http://${listen}/debug/state`)).text();
      const st = parseDebugState(text);
      assertEquals(st.node, lab.plan.nodes[0]!.nodeName);
      assertEquals(
        st.desired.map((r) => r.dst).sort(),
        st.snapshot.routes.map((r) => r.dst).sort(),
      );
      assertEquals(st.desired.length, 2);
      assertEquals(st.sysctls["net.ipv4.ip_forward"], "1");
      assert(st.lastSuccessAt !== undefined && st.health.routesProgrammed);
      for (const secret of ["endpoints", "datastore", lab.plan.storeDir]) {
        assert(!text.includes(secret), `/debug/state mentions ${secret}`);
      }
      // The CLI: lab diagnose with --json, and diagnose --config on a node.
      const ip2 = lab.state.pods.find((p) => p.name === "n2-p1")!.ip!;
      const j = await skein(["lab", "diagnose", "--name", name, "n1-p1", ip2, "--json"]);
      assertEquals(j.code, 0, j.stdout + j.stderr);
      const rep = JSON.parse(j.stdout) as Report;
      assertEquals(Object.keys(rep), [
        "schemaVersion",
        "verdict",
        "from",
        "to",
        "checks",
        "durationMs",
      ]);
      assertEquals(rep.schemaVersion, 1);
      assertEquals(rep.to?.ip, ip2);
      for (const c of rep.checks) {
        assert(/^[a-z]+\.[a-z_0-9]+$/.test(c.id), c.id);
        assert(["pass", "warn", "fail", "skip"].includes(c.status));
      }
      const n1 = lab.plan.nodes[0]!;
      const ip1 = lab.state.pods.find((p) => p.name === "n1-p1")!.ip!;
      const c = await skein(["diagnose", "--config", n1.configFile, "--from", ip1, "--to", ip2]);
      assertEquals(c.code, 0, c.stdout + c.stderr);
      assertStringIncludes(c.stdout, "PASS route.fib");
      const node = await skein(["diagnose", "--node", "--config", n1.configFile, "--json"]);
      assertEquals(node.code, 0, node.stdout + node.stderr);
      assertEquals((JSON.parse(node.stdout) as Report).verdict !== "fail", true);
      // --bundle: a tar.gz with the report and every inspected node's dumps.
      const dir = Deno.makeTempDirSync({ prefix: "skein-bundle-" });
      try {
        const b = await skein([
          "lab",
          "diagnose",
          "--name",
          name,
          "n1-p1",
          "n2-p1",
          "--bundle",
          `${dir}/b.tar.gz`,
        ]);
        assertEquals(b.code, 0, b.stderr);
        const list = await skein([
          "diagnose",
          "--node",
          "--config",
          n1.configFile,
          "--bundle",
          `${dir}/n.tar.gz`,
        ]);
        assertEquals(list.code, 0, list.stderr);
        const files = (f: string) =>
          new TextDecoder().decode(
            new Deno.Command("tar", { args: ["-tzf", f] }).outputSync().stdout,
          ).trim().split("\n");
        const pair = files(`${dir}/b.tar.gz`);
        for (
          const want of [
            "report.json",
            "leases.json",
            "nodes/n1/routes.json",
            "nodes/n2/fdb.json",
            "nodes/n2/nft-ruleset.json",
            "nodes/n2/tc-filters.json",
            "nodes/n1/sysctls.json",
            "nodes/n1/daemon.log",
            "nodes/n1/debug-state.json",
            "nodes/n1/metrics.txt",
            "nodes/n1/lease-file.txt",
          ]
        ) {
          assert(pair.includes(`skein-diagnose/${want}`), `${want} not in ${pair.join(" ")}`);
        }
        assert(pair.some((f) => f.startsWith("skein-diagnose/nodes/n1/ipam/")), "no IPAM files");
        const node = files(`${dir}/n.tar.gz`);
        assert(
          node.includes(`skein-diagnose/nodes/${lab.plan.nodes[0]!.nodeName}/daemon.yaml`),
          node.join(" "),
        );
        new Deno.Command("tar", { args: ["-xzf", `${dir}/b.tar.gz`, "-C", dir] }).outputSync();
        const rep = JSON.parse(
          Deno.readTextFileSync(`${dir}/skein-diagnose/report.json`),
        ) as Report;
        assertEquals(rep.schemaVersion, 1);
        const routes = JSON.parse(
          Deno.readTextFileSync(`${dir}/skein-diagnose/nodes/n1/routes.json`),
        );
        assert(
          routes.some((r: { protocol: number }) => r.protocol === 100),
          "no skein route in the dump",
        );
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
      // A pod given by its network namespace path.
      const byNs = await skein([
        "diagnose",
        "--config",
        n1.configFile,
        "--json",
        "--from",
        `/run/netns/${lab.state.pods.find((p) => p.name === "n1-p1")!.netns}`,
        "--to",
        ip2,
      ]);
      assertEquals(byNs.code, 0, byNs.stdout + byNs.stderr);
      assertEquals((JSON.parse(byNs.stdout) as Report).from?.ip, ip1);
      // An unreachable datastore: lease.datastore fails (exit 1), the other checks still run.
      const cfgDir = Deno.makeTempDirSync({ prefix: "skein-cfg-" });
      try {
        const text = Deno.readTextFileSync(n1.configFile).replace(
          lab.plan.storeDir,
          `${cfgDir}/no-such-store`,
        );
        Deno.writeTextFileSync(`${cfgDir}/daemon.yaml`, text);
        const nostore = await skein([
          "diagnose",
          "--config",
          `${cfgDir}/daemon.yaml`,
          "--from",
          ip1,
          "--to",
          ip2,
          "--json",
        ]);
        assertEquals(nostore.code, 1, nostore.stderr);
        const rep = JSON.parse(nostore.stdout) as Report;
        assertEquals(rep.checks.find((c) => c.id === "lease.datastore")?.status, "fail");
        assert(
          rep.checks.some((c) => c.id === "sysctl.ip_forward" && c.status === "pass"),
          "the other checks ran",
        );
        assert(
          rep.checks.some((c) => c.id === "vxlan.device" && c.status === "pass"),
          "the other checks ran",
        );
      } finally {
        Deno.removeSync(cfgDir, { recursive: true });
      }
      // Bad input: exit 2 and a message.
      const unknown = await skein(["lab", "diagnose", "--name", name, "n1-p1", "n9-p9"]);
      assertEquals(unknown.code, 2, unknown.stdout + unknown.stderr);
      assertStringIncludes(unknown.stderr, "unknown pod");
      // FROM equal to TO: a warning says nothing between two pods was judged.
      const self = await labDiagnose(name, "n1-p1", "n1-p1");
      assertEquals(self.checks.find((c) => c.id === "pod.same")?.status, "warn");
      assertEquals(failures(self), "");
      const malformed = await skein(["lab", "diagnose", "--name", name, "n1-p1", "10.244.1.999"]);
      assertEquals(malformed.code, 2, malformed.stdout + malformed.stderr);
      assertStringIncludes(malformed.stderr, "is not a valid IPv4 address");
      const usage = await skein(["diagnose", "--from", ip1]);
      assertEquals(usage.code, 2);
      const badCfg = await skein(["diagnose", "--node", "--config", "/nonexistent/skein.yaml"]);
      assertEquals(badCfg.code, 2, badCfg.stderr);
      // A pod whose namespace is gone (deleted under the runtime, its reservation left): the
      // pair fails on it, naming the gone namespace and the leaked reservation.
      const p3 = lab.state.pods.find((p) => p.name === "n3-p1")!;
      const gone = await runCommand(["ip", "netns", "del", p3.netns]);
      assert(gone.success, gone.stderr);
      const gr = await labDiagnose(name, "n1-p1", "n3-p1");
      const ge = gr.checks.find((x) => x.id === "pod.eth0" && x.node === "n3");
      assertEquals(
        ge?.status,
        "fail",
        JSON.stringify(gr.checks.filter((x) => x.status !== "pass")),
      );
      assertStringIncludes(ge!.summary, "is gone");
      assertEquals(gr.checks.filter((x) => x.id.endsWith(".error")), []);
    }),
});

Deno.test({
  name: "diagnose: a healthy host-gw lab has zero failing checks",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dh", { backend: "host-gw" }, async (lab) => {
      const r = await labDiagnose(lab.plan.options.name, "n1-p1", "n3-p1");
      assertEquals(failures(r), "");
      assert(r.checks.some((c) => c.id === "route.fib" && c.status === "pass"));
      assert(!r.checks.some((c) => c.id.startsWith("vxlan.")), "no vxlan checks on host-gw");
    }),
});

Deno.test({
  name:
    "diagnose: bridge port flags set by hand -> pod.port; ebtables, arptables rules -> netfilter.bridge, .arp",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("dp", { backend: "vxlan", nodes: 2, podsPerNode: 2 }, async (lab) => {
      const name = lab.plan.options.name;
      const n1 = lab.plan.nodes[0]!.netns;
      const run = async (...args: string[]) => {
        const r = await runCommand(args);
        assert(r.success, `${args.join(" ")}: ${r.stderr}`);
        return r.stdout;
      };
      const veth = async (p: string) => {
        const podNs = lab.state.pods.find((x) => x.name === p)!.netns;
        const peer = JSON.parse(await run("ip", "-n", podNs, "-j", "link", "show", "eth0"))[0]
          .link_index as number;
        return (JSON.parse(await run("ip", "-n", n1, "-j", "link", "show")) as {
          ifindex: number;
          ifname: string;
        }[]).find((l) => l.ifindex === peer)!.ifname;
      };
      const [v1, v2] = [await veth("n1-p1"), await veth("n1-p2")];
      const port = (dev: string, ...flags: string[]) =>
        run("bridge", "-n", n1, "link", "set", "dev", dev, ...flags);
      const podPort = async (a: string, b: string) =>
        (await labDiagnose(name, a, b)).checks.filter((c) => c.id === "pod.port");
      const failed = async (a: string, b: string) =>
        (await podPort(a, b)).filter((c) => c.status === "fail");
      assertEquals(await failed("n1-p1", "n1-p2"), []);

      await port(v1, "isolated", "on");
      assertEquals(await failed("n1-p1", "n1-p2"), [], "one isolated port still talks");
      await port(v2, "isolated", "on");
      let f = await failed("n1-p1", "n1-p2");
      assertEquals(f.length, 1, JSON.stringify(f));
      assertStringIncludes(f[0]!.summary, "both isolated ports");
      assertStringIncludes(f[0]!.fix ?? "", `bridge link set dev ${v2} isolated off`);
      assertEquals(await failed("n2-p1", "n1-p1"), [], "isolation is between ports only");
      await port(v1, "isolated", "off");
      await port(v2, "isolated", "off");

      await port(v2, "bcast_flood", "off");
      f = await failed("n1-p1", "n1-p2");
      assertEquals(f.map((c) => c.fix), [
        `ip netns exec ${n1} bridge link set dev ${v2} bcast_flood on`,
      ]);
      assertEquals(await failed("n2-p1", "n1-p2"), [], "the node's own ARP still reaches it");
      await port(v2, "bcast_flood", "on");

      // learning and flood off: fine while the pod's MAC is in the FDB, a failure once it is not.
      await port(v2, "learning", "off", "flood", "off");
      const mac = JSON.parse(
        await run(
          "ip",
          "-n",
          lab.state.pods.find((x) => x.name === "n1-p2")!.netns,
          "-j",
          "link",
          "show",
          "eth0",
        ),
      )[0].address as string;
      assertEquals(await failed("n2-p1", "n1-p2"), [], "the MAC is still learned");
      await run("bridge", "-n", n1, "fdb", "del", mac, "dev", v2, "master");
      f = await failed("n2-p1", "n1-p2");
      assertEquals(f.length, 1, JSON.stringify(f));
      assertStringIncludes(f[0]!.summary, "neither learns nor floods");
      await port(v2, "learning", "on", "flood", "on");
      assertEquals(await failed("n2-p1", "n1-p2"), []);

      // ebtables (the nft bridge tables): judged by netfilter.bridge, the IPv4 match by its words.
      const bridgeFails = async (a: string, b: string) =>
        (await labDiagnose(name, a, b)).checks.filter((c) =>
          c.id === "netfilter.bridge" && c.status === "fail"
        );
      const eb = (...args: string[]) => run("ip", "netns", "exec", n1, "ebtables-nft", ...args);
      const ip1 = lab.state.pods.find((x) => x.name === "n1-p1")!.ip!;
      try {
        await eb("-A", "FORWARD", "-p", "IPv4", "--ip-src", ip1, "-j", "DROP");
        let b = await bridgeFails("n1-p1", "n1-p2");
        assertEquals(b.length, 1, JSON.stringify(b));
        assertStringIncludes(String(b[0]!.evidence.droppedBy), `--ip-src ${ip1} -j DROP`);
        assertStringIncludes(b[0]!.fix ?? "", "ebtables -D FORWARD N");
        assertEquals(await bridgeFails("n2-p1", "n1-p2"), [], "frames up to the node pass");
        await eb("-F", "FORWARD");
        await eb("-A", "INPUT", "-i", `${v1.slice(0, 6)}+`, "-j", "DROP");
        b = await bridgeFails("n1-p1", "n2-p1");
        assertEquals(b.length, 1, JSON.stringify(b));
        assertStringIncludes(b[0]!.summary, `in from port ${v1}`);
        await eb("-F", "INPUT");
        await eb("-A", "FORWARD", "-p", "ARP", "-j", "DROP");
        b = await bridgeFails("n1-p1", "n1-p2");
        assertStringIncludes(b[0]?.summary ?? JSON.stringify(b), "drops ARP between");
        await eb("-F", "FORWARD");
        await eb("-P", "OUTPUT", "DROP");
        b = await bridgeFails("n2-p1", "n1-p2");
        assertStringIncludes(b[0]?.fix ?? "", "ebtables -I OUTPUT -p ARP -j ACCEPT");
      } finally {
        await eb("-P", "OUTPUT", "ACCEPT");
        await eb("-F");
      }
      assertEquals(await bridgeFails("n1-p1", "n1-p2"), []);

      // arptables (the nft arp tables): the pods' ARP with their gateway, the nodes' with each other.
      const arpFails = async (a: string, b: string) =>
        (await labDiagnose(name, a, b)).checks.filter((c) =>
          c.id === "netfilter.arp" && c.status === "fail"
        );
      const arpt = (...args: string[]) => run("ip", "netns", "exec", n1, "arptables-nft", ...args);
      const n2ip = lab.plan.nodes[1]!.ip;
      try {
        await arpt("-A", "INPUT", "-i", "cni0", "-s", ip1, "-j", "DROP");
        let a = await arpFails("n1-p1", "n2-p1");
        assertStringIncludes(a[0]?.summary ?? "none", `pod n1-p1 and its gateway`);
        assertStringIncludes(a[0]!.fix ?? "", "arptables -D INPUT N");
        assertEquals(await arpFails("n1-p2", "n2-p1"), [], "another pod's ARP passes");
        await arpt("-F");
        await arpt("-A", "OUTPUT", "-o", "eth0", "-d", n2ip, "-j", "DROP");
        a = await arpFails("n2-p1", "n1-p2");
        assertStringIncludes(a[0]?.summary ?? "none", `next hop ${n2ip} toward n2`);
      } finally {
        await arpt("-F");
      }
      assertEquals(await arpFails("n1-p1", "n2-p1"), []);
      await net1Pod(lab, run);
    }),
});

/**
 * A pod of node n1 attached by the real skein CNI plugin with CNI_IFNAME=net1 (multus's name):
 * diagnose finds net1 (IPAM's record), passes with a pod of each node, and names net1 when it
 * is down. Its namespace is deleted whatever happens.
 */
async function net1Pod(lab: Lab, run: (...args: string[]) => Promise<string>): Promise<void> {
  const name = lab.plan.options.name, node = lab.plan.nodes[0]!;
  const ns = `${name}-n1-x`;
  await run("ip", "netns", "add", ns);
  try {
    const [cmd, args] = skeinArgv(skeinCommand(), []);
    const cni = (command: string) =>
      runCommand([...nsenterArgs(node.netns), cmd, ...args], {
        stdin: JSON.stringify(podNetconf(node, leaseMtu(node))),
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: `${name}-net1`,
          CNI_NETNS: `/run/netns/${ns}`,
          CNI_IFNAME: "net1",
          CNI_PATH: LAB_CNI_PATH,
        },
      });
    const add = await cni("ADD");
    assert(add.success, add.stdout + add.stderr);
    const ip = (JSON.parse(add.stdout).ips[0].address as string).split("/")[0]!;
    for (const other of ["n2-p1", "n1-p1"]) {
      const r = await labDiagnose(name, ip, other);
      assertEquals(failures(r), "", `${ip} (net1) -> ${other}`);
      const own = r.checks.find((c) => c.id === "pod.eth0" && c.summary.includes(ip));
      assertEquals(own?.status, "pass", JSON.stringify(own));
      assertStringIncludes(own!.summary, `net1 up with ${ip}`);
    }
    await run("ip", "-n", ns, "link", "set", "dev", "net1", "down");
    const down = (await labDiagnose(name, "n2-p1", ip)).checks.filter((c) =>
      c.id === "pod.eth0" && c.status === "fail"
    );
    assertEquals(down.length, 1, JSON.stringify(down));
    assertStringIncludes(down[0]!.summary, `net1 in pod ${ip} is down`);
    assertEquals(down[0]!.fix, `ip netns exec ${ns} ip link set dev net1 up`);
    const del = await cni("DEL");
    assert(del.success, del.stdout + del.stderr);
  } finally {
    await runCommand(["ip", "netns", "del", ns]);
  }
}
