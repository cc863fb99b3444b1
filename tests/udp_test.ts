/**
 * End-to-end tests of the udp backend (root): labs of two and three nodes with real daemons,
 * the CNI plugin and pods. Pods ping each other and move 8 MiB over TCP (checked by SHA-256,
 * through the offload paths: TUN super-packets cut, received segments merged) and echo UDP
 * datagrams (small and fragmented: partial checksums completed); a
 * packet for a subnet no node holds is dropped and counted (`no-route`); hostile datagrams sent
 * to a node's port 8285 (random bytes, truncated and broken headers, an inner source outside the
 * sender's subnet, a destination outside the node's subnet, an unknown sender) are dropped and
 * counted by reason while the daemon stays up and pods still talk; datagrams from a second address
 * on n2's uplink are kept as an unknown sender in n1's /debug/state and `udp.senders` names n2,
 * its lease's publicIP and the fix; restarting a daemon recreates
 * skein-udp and leaves exactly one skein route. Teardown with labDown in `finally`.
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { testPrefix } from "./_netns.ts";
import {
  type Lab,
  labDefaults,
  labDown,
  labUp,
  pingMatrix,
  restartNodeDaemon,
  stopNodeDaemon,
  summarize,
} from "../lab/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { skein } from "./_diag_lab.ts";
import { sleep } from "../store/sleeper.ts";
import { upFailure } from "./_lab_logs.ts";

const isRoot = Deno.uid() === 0;

function podOf(lab: Lab, node: string) {
  return lab.state.pods.find((p) => p.node === node)!;
}

function nsOf(lab: Lab, node: string): string {
  return lab.plan.nodes.find((x) => x.name === node)!.netns;
}

/** Runs a TypeScript snippet with `deno eval` inside namespace `ns`. */
async function evalIn(ns: string, code: string, env: Record<string, string> = {}) {
  return await runCommand(
    ["ip", "netns", "exec", ns, Deno.execPath(), "eval", "--quiet", code],
    { env },
  );
}

async function metric(lab: Lab, node: string, name: string, label: string): Promise<number> {
  const d = lab.state.daemons.find((x) => x.node === node)!;
  const text = await (await fetch(`http://${d.listen}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${label}}`));
  return line ? Number(line.split(" ").pop()) : NaN;
}

const PAYLOAD = new Uint8Array(8 << 20).map((_, i) => (i * 2654435761) >>> 24);

/** 8 MiB from pod `from` to pod `to` over TCP; the receiver's SHA-256 must match. */
async function tcpTransfer(lab: Lab, from: string, to: string): Promise<void> {
  const a = podOf(lab, from), b = podOf(lab, to);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = evalIn(
    b.netns,
    `const l = Deno.listen({ port: ${port} }); const c = await l.accept();
     const chunks = []; for await (const x of c.readable) chunks.push(x);
     const all = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0)); let o = 0;
     for (const x of chunks) { all.set(x, o); o += x.length; }
     const h = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
     console.log(all.length, [...h].map((v) => v.toString(16).padStart(2, "0")).join(""));`,
  );
  await sleep(1500);
  const client = await evalIn(
    a.netns,
    `const data = new Uint8Array(8 << 20).map((_, i) => (i * 2654435761) >>> 24);
     const c = await Deno.connect({ hostname: "${b.ip}", port: ${port} });
     let o = 0; while (o < data.length) o += await c.write(data.subarray(o)); c.close();`,
  );
  assertEquals(client.code, 0, client.stderr);
  const s = await server;
  const want = [...new Uint8Array(await crypto.subtle.digest("SHA-256", PAYLOAD))]
    .map((v) => v.toString(16).padStart(2, "0")).join("");
  assertEquals(s.stdout.trim(), `${PAYLOAD.length} ${want}`, s.stderr);
}

/**
 * UDP datagrams of `sizes` bytes from pod `from` to pod `to`, each echoed back: the TUN device
 * hands them over with a partial checksum (TUN_F_CSUM) the worker completes, and the receiving
 * kernels drop any datagram whose checksum is wrong. Returns the sizes that came back intact.
 */
async function udpEcho(lab: Lab, from: string, to: string, sizes: number[]): Promise<number[]> {
  const a = podOf(lab, from), b = podOf(lab, to);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = evalIn(
    b.netns,
    `import dgram from "node:dgram";
     const s = dgram.createSocket("udp4"); let n = 0;
     s.on("message", (m, r) => s.send(m, r.port, r.address, () => { if (++n === ${sizes.length}) s.close(); }));
     s.bind(${port}); setTimeout(() => s.close(), 8000);`,
  );
  await sleep(1000);
  const client = await evalIn(
    a.netns,
    `import dgram from "node:dgram";
     const s = dgram.createSocket("udp4"); const got = [];
     const fill = (n) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 255);
     s.on("message", (m) => { const w = fill(m.length);
       if (m.every((x, i) => x === w[i])) got.push(m.length); });
     for (const n of ${
      JSON.stringify(sizes)
    }) { s.send(fill(n), ${port}, "${b.ip}"); await new Promise((r) => setTimeout(r, 100)); }
     await new Promise((r) => setTimeout(r, 1000)); s.close(); console.log(JSON.stringify(got.sort((x, y) => x - y)));`,
  );
  await server;
  assertEquals(client.code, 0, client.stderr);
  return JSON.parse(client.stdout.trim().split("\n").pop() || "[]");
}

async function allPing(lab: Lab): Promise<boolean> {
  const r = await pingMatrix(lab.state.pods.map((p) => ({
    name: p.name,
    ip: p.ip!,
    netnsPath: `/run/netns/${p.netns}`,
  })));
  return summarize(r).failed === 0;
}

async function udpRoutes(ns: string): Promise<string[]> {
  const r = await runCommand(["ip", "-n", ns, "-j", "route", "show", "proto", "100"]);
  return (JSON.parse(r.stdout || "[]") as { dst: string; dev: string }[])
    .map((x) => `${x.dst} dev ${x.dev}`);
}

function opts(suffix: string, nodes: number) {
  return labDefaults({
    name: `${testPrefix()}${suffix}`,
    nodes,
    podsPerNode: 1,
    backend: "udp",
    leaseTtl: 10,
    reconcilePeriod: 1,
  });
}

async function withLab(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } finally {
    await labDown(name);
    assertEquals(netnsList().filter((n) => n.startsWith(name)), []);
  }
}

/** `skein lab diagnose --name NAME n1-p1 n2-p1`, as an operator runs it. */
function labDiagnoseCli(name: string) {
  return skein(["lab", "diagnose", "--name", name, "n1-p1", "n2-p1"]);
}

Deno.test({
  name: "udp, 2 nodes: pods ping and move 8 MiB over TCP intact",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const o = opts("u2", 2);
    await withLab(o.name, async () => {
      const r = await labUp(o);
      assert(r.ok, upFailure(r));
      for (const n of ["n1", "n2"]) {
        assertEquals(await udpRoutes(nsOf(r.lab, n)), ["10.244.0.0/16 dev skein-udp"]);
      }
      await tcpTransfer(r.lab, "n1", "n2");
      await tcpTransfer(r.lab, "n2", "n1");
      // Small and fragmented UDP datagrams both ways (partial checksums completed by the worker).
      assertEquals(await udpEcho(r.lab, "n1", "n2", [1, 100, 1400, 4000, 9000]), [
        1,
        100,
        1400,
        4000,
        9000,
      ]);
      // The transfers went through the offload paths: super-packets cut on the sending node and
      // segments merged on the receiving one (and the SHA-256 above says the bytes survived).
      for (const n of ["n1", "n2"]) {
        assert(await metric(r.lab, n, "skein_udp_offload_total", 'kind="segmented"') > 0, n);
        assert(await metric(r.lab, n, "skein_udp_offload_total", 'kind="merged"') > 0, n);
      }
    });
  },
});

/** Datagrams to n1:8285 from n2's namespace: [description, source address, payload hex]. */
function hostileDatagrams(lab: Lab): { from: string; hex: string }[] {
  const ip = (s: string) =>
    s.split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join("");
  const header = (src: string, dst: string) => {
    const h = `45000020000000004011` + "0000" + ip(src) + ip(dst);
    const w = h.match(/.{4}/g)!.map((x) => parseInt(x, 16));
    let sum = w.reduce((a, b) => a + b, 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    const c = (~sum & 0xffff).toString(16).padStart(4, "0");
    return h.slice(0, 20) + c + h.slice(24) + "0000000000000000" + "0000000000000000".slice(0, 8);
  };
  const n1 = podOf(lab, "n1").ip!, n2 = podOf(lab, "n2").ip!, n3 = podOf(lab, "n3").ip!;
  const node2 = "192.168.77.12";
  return [
    { from: node2, hex: "deadbeef".repeat(9) }, // random bytes: not IPv4
    { from: node2, hex: "4500" }, // truncated
    { from: node2, hex: header(n2, n1).slice(0, 50) }, // header cut short: bad length
    { from: node2, hex: header(n3, n1) }, // inner source in n3's subnet: spoofed
    { from: node2, hex: header(n2, "10.244.250.1") }, // not for n1's subnet
    { from: "192.168.77.99", hex: header(n2, n1) }, // not a node
  ];
}

Deno.test({
  name: "udp, 3 nodes: traffic, unknown subnet counted, hostile datagrams dropped, restart",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const o = opts("u3", 3);
    await withLab(o.name, async () => {
      const r = await labUp(o);
      assert(r.ok, upFailure(r));
      const lab = r.lab;
      await t.step("TCP n1 → n3 intact", () => tcpTransfer(lab, "n1", "n3"));

      await t.step("a packet for a subnet no node holds is dropped as no-route", async () => {
        const before = await metric(lab, "n1", "skein_udp_dropped_total", 'reason="no-route"');
        await runCommand([
          "ip",
          "netns",
          "exec",
          podOf(lab, "n1").netns,
          "ping",
          "-c",
          "2",
          "-i",
          "0.2",
          "-W",
          "1",
          "10.244.250.9",
        ]);
        const after = await metric(lab, "n1", "skein_udp_dropped_total", 'reason="no-route"');
        assert(after >= before + 2, `no-route ${before} → ${after}`);
      });

      await t.step("hostile datagrams are dropped by reason; the daemon stays up", async () => {
        const n2 = nsOf(lab, "n2");
        await runCommand(["ip", "-n", n2, "addr", "add", "192.168.77.99/24", "dev", "eth0"]);
        const list = hostileDatagrams(lab);
        const send = await evalIn(
          n2,
          `import dgram from "node:dgram";
           const list = JSON.parse(Deno.env.get("LIST"));
           for (const { from, hex } of list) {
             const s = dgram.createSocket("udp4");
             await new Promise((r) => s.bind({ address: from, port: 0 }, r));
             const b = new Uint8Array(hex.match(/../g).map((x) => parseInt(x, 16)));
             await new Promise((r) => s.send(b, 8285, "192.168.77.11", r));
             s.close();
           }`,
          { LIST: JSON.stringify(list) },
        );
        assertEquals(send.code, 0, send.stderr);
        await sleep(500);
        for (
          const reason of [
            "not-ipv4",
            "truncated",
            "bad-length",
            "spoofed-source",
            "wrong-destination",
            "unknown-source",
          ]
        ) {
          const v = await metric(lab, "n1", "skein_udp_dropped_total", `reason="${reason}"`);
          assert(v >= 1, `${reason}: ${v}`);
        }
        const d = lab.state.daemons.find((x) => x.node === "n1")!;
        assertEquals((await fetch(`http://${d.listen}/healthz`)).status, 200);
        assert(await allPing(lab), "pods still reach each other");
        const diag = await labDiagnoseCli(o.name);
        for (const id of ["udp.device", "udp.route", "udp.socket"]) {
          assert(diag.stdout.includes(`PASS ${id} [n1]`), `${id}:\n${diag.stdout}`);
        }
        assert(diag.stdout.includes("WARN udp.drops [n1] n1 refused datagrams"), diag.stdout);
      });

      await t.step(
        "n2's packets from a second address: counted, kept in /debug/state, named by diagnose",
        async () => {
          // n2's uplink gets a second address and sends n1 pod traffic from it (as after an
          // address change the lease does not say): n1 knows no node at that address.
          const n2 = nsOf(lab, "n2"), from = "192.168.77.98";
          await runCommand(["ip", "-n", n2, "addr", "add", `${from}/24`, "dev", "eth0"]);
          const src = podOf(lab, "n2").ip!, dst = podOf(lab, "n1").ip!;
          const hex = hostileDatagrams(lab).at(-1)!.hex; // a sane header n2-p1 → n1-p1
          const before = await metric(
            lab,
            "n1",
            "skein_udp_dropped_total",
            'reason="unknown-source"',
          );
          const send = await evalIn(
            n2,
            `import dgram from "node:dgram";
             const s = dgram.createSocket("udp4");
             await new Promise((r) => s.bind({ address: "${from}", port: 8285 }, r));
             const b = new Uint8Array("${hex}".match(/../g).map((x) => parseInt(x, 16)));
             for (let i = 0; i < 5; i++) await new Promise((r) => s.send(b, 8285, "192.168.77.11", r));
             s.close();`,
          );
          assertEquals(send.code, 0, send.stderr);
          await sleep(500);
          const after = await metric(
            lab,
            "n1",
            "skein_udp_dropped_total",
            'reason="unknown-source"',
          );
          assertEquals(after - before, 5);
          const d = lab.state.daemons.find((x) => x.node === "n1")!;
          const state = await (await fetch(`http://${d.listen}/debug/state`)).json();
          const kept = state.backendState.udp.unknownSenders.senders
            .find((x: { source: string; port: number }) => x.source === from && x.port === 8285);
          assert(kept, JSON.stringify(state.backendState.udp.unknownSenders));
          assertEquals([kept.innerSource, kept.innerDestination, kept.count], [src, dst, 5]);
          const diag = await labDiagnoseCli(o.name);
          assertStringIncludes(
            diag.stdout,
            `FAIL udp.senders [n1] node n2's lease says publicIP 192.168.77.12 but its udp ` +
              `packets come from ${from}:8285`,
          );
          assertStringIncludes(diag.stdout, `fix: on n2: run its daemon with --public-ip ${from}`);
          assertEquals(diag.code, 1);
        },
      );

      await t.step(
        "diagnose names a firewall that drops UDP 8285 on the peer (underlay.port)",
        async () => {
          const n2 = nsOf(lab, "n2");
          const nft = (...args: string[]) =>
            runCommand(["ip", "netns", "exec", n2, "nft", ...args]);
          await nft("add", "table", "inet", "skudptest");
          await nft(
            "add",
            "chain",
            "inet",
            "skudptest",
            "in",
            "{ type filter hook input priority 0; }",
          );
          await nft("add", "rule", "inet", "skudptest", "in", "udp", "dport", "8285", "drop");
          try {
            const diag = await labDiagnoseCli(o.name);
            assert(diag.stdout.includes("FAIL underlay.port [n2]"), diag.stdout);
            assertStringIncludes(diag.stdout, "skudptest");
          } finally {
            await nft("delete", "table", "inet", "skudptest");
          }
        },
      );

      await t.step(
        "skein-udp deleted under the running daemon comes back; traffic resumes",
        async () => {
          const ns = nsOf(lab, "n2");
          const pid = lab.state.daemons.find((d) => d.node === "n2")!.pid;
          const tunFds = async () =>
            (await runCommand(["sh", "-c", `ls -l /proc/${pid}/fd | grep -c /dev/net/tun`]))
              .stdout.trim();
          assertEquals(await tunFds(), "1");
          assert((await runCommand(["ip", "-n", ns, "link", "del", "skein-udp"])).success);
          let ok = false;
          for (let i = 0; i < 100 && !ok; i++) {
            await sleep(200);
            ok = (await udpRoutes(ns)).length === 1 && await allPing(lab);
          }
          assert(ok, "the device, its route and traffic are back");
          // The deleted device's fd is closed once the worker has moved to the new one.
          let fds = "";
          for (let i = 0; i < 50 && fds !== "1"; i++) {
            fds = await tunFds();
            if (fds !== "1") await sleep(200);
          }
          assertEquals(fds, "1", "one TUN fd is left");
        },
      );

      await t.step("a restarted daemon recreates skein-udp; no stale route is left", async () => {
        const ns = nsOf(lab, "n1");
        await stopNodeDaemon(lab, "n1", "SIGKILL");
        await sleep(300);
        const gone = await runCommand(["ip", "-n", ns, "link", "show", "skein-udp"]);
        assert(!gone.success, "the device went with the process");
        assertEquals(await udpRoutes(ns), [], "and its route with it");
        await restartNodeDaemon(lab, "n1");
        let ok = false;
        for (let i = 0; i < 100 && !ok; i++) {
          await sleep(200);
          ok = (await udpRoutes(ns)).length === 1 && await allPing(lab);
        }
        assert(ok, "traffic is back after the restart");
        assertEquals(await udpRoutes(ns), ["10.244.0.0/16 dev skein-udp"]);
      });
    });
  },
});
