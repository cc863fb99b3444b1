/**
 * End-to-end tests of `skein lab` (root): 3-node labs with real daemons, the real CNI plugin and
 * pods pinging each other, for host-gw and vxlan on the file datastore and for vxlan on a real
 * etcd started by the test. One lab per case, shared by its checks (steps run in order):
 * connectivity matrix, distinct subnets (the daemons start at the same moment), kill -9 and
 * restart without route changes (`ip monitor route` in every node), a route deleted by hand and
 * (vxlan) a deleted VXLAN device come back, a node that leaves disappears from the others' routes.
 * Teardown in `finally` with `lab down`, then no namespace with the run's prefix may be left.
 *
 * @module
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../testing/assert.ts";
import { netnsList } from "../net/mod.ts";
import { testPrefix } from "./_netns.ts";
import {
  type Lab,
  labDefaults,
  labDown,
  type LabOptions,
  labUp,
  loadLab,
  openLabStore,
  pingMatrix,
  restartNodeDaemon,
  stopNodeDaemon,
  summarize,
} from "../lab/mod.ts";
import { startEtcd } from "../lab/etcd.ts";
import { processAlive, runCommand, spawnDetached, stopProcess } from "../lab/_proc.ts";
import { sleep } from "../store/sleeper.ts";
import { upFailure } from "./_lab_logs.ts";

const isRoot = Deno.uid() === 0;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const TTL = 10;

interface RouteJ {
  dst: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
  protocol?: string | number;
}

async function ipJson<T>(ns: string, args: string[]): Promise<T> {
  const r = await runCommand(["ip", "-n", ns, "-j", ...args]);
  if (!r.success) throw new Error(`ip -n ${ns} -j ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout || "[]") as T;
}

/** `ip -n NS -j route show proto 100` as sorted "dst via gw dev d flags" strings. */
async function skeinRoutes(ns: string): Promise<string[]> {
  const rs = await ipJson<RouteJ[]>(ns, ["route", "show", "proto", "100"]);
  return rs.map((r) => `${r.dst} via ${r.gateway ?? "-"} dev ${r.dev} ${(r.flags ?? []).join(",")}`)
    .sort();
}

async function waitFor(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await fn()) return Date.now() - t0;
    await sleep(100);
  }
  throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for: ${what}`);
}

function subnetOf(lab: Lab, node: string): string {
  const n = lab.plan.nodes.find((x) => x.name === node)!;
  return JSON.parse(Deno.readTextFileSync(n.leaseFile)).subnet as string;
}

function nsOf(lab: Lab, node: string): string {
  return lab.plan.nodes.find((x) => x.name === node)!.netns;
}

async function podPing(lab: Lab, from: string, to: string): Promise<boolean> {
  const a = lab.state.pods.find((p) => p.name === from)!;
  const b = lab.state.pods.find((p) => p.name === to)!;
  const r = await pingMatrix([
    { name: a.name, ip: a.ip!, netnsPath: `/run/netns/${a.netns}` },
    { name: b.name, ip: b.ip!, netnsPath: `/run/netns/${b.netns}` },
  ]);
  return summarize(r).failed === 0;
}

/**
 * Starts `ip -n NS monitor route` in each namespace (plus `ip monitor neigh` and
 * `bridge monitor fdb` with `all`); stop() returns what each printed, per namespace.
 */
function monitorRoutes(
  namespaces: string[],
  all = false,
): { stop(): Promise<Record<string, string>> } {
  const cmds: [string, string[]][] = [];
  for (const ns of namespaces) {
    cmds.push(["ip", ["-n", ns, "monitor", "route"]]);
    if (all) {
      cmds.push(["ip", ["-n", ns, "monitor", "neigh"]]);
      cmds.push(["bridge", ["-n", ns, "monitor", "fdb"]]);
    }
  }
  const children = cmds.map(([cmd, args]) =>
    new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn()
  );
  return {
    async stop() {
      const out: Record<string, string> = {};
      await Promise.all(children.map(async (c, i) => {
        try {
          c.kill("SIGTERM");
        } catch { /* gone */ }
        const o = await c.output();
        const ns = cmds[i]![1][1]!;
        out[ns] = ((out[ns] ?? "") + "\n" + new TextDecoder().decode(o.stdout)).trim();
      }));
      return out;
    },
  };
}

interface Case {
  options: LabOptions;
  /** Build the lab through the CLI (`skein lab up ...`) instead of the library. */
  viaCli: boolean;
  /** How n3 leaves: its lease record deleted, or its daemon killed and the lease left to expire. */
  leave: "release" | "expire";
}

async function cliUp(o: LabOptions): Promise<void> {
  const r = await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--cached-only",
    "--config",
    CONFIG,
    MAIN,
    "lab",
    "up",
    "--name",
    o.name,
    "--nodes",
    String(o.nodes),
    "--pods-per-node",
    String(o.podsPerNode),
    "--backend",
    o.backend,
    "--lease-ttl",
    String(o.leaseTtl),
    "--reconcile-period",
    String(o.reconcilePeriod),
  ]);
  assertEquals(r.code, 0, `skein lab up failed:\n${r.stdout}\n${r.stderr}`);
  assertStringIncludes(r.stdout, `${o.nodes * o.podsPerNode * (o.nodes * o.podsPerNode - 1)}/`);
  assertStringIncludes(r.stdout, "pairs reachable");
  assertStringIncludes(r.stderr, "lab: waiting for the daemons to be ready");
}

async function cli(args: string[]) {
  return await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--cached-only",
    "--config",
    CONFIG,
    MAIN,
    "lab",
    ...args,
  ]);
}

async function labCase(t: Deno.TestContext, c: Case): Promise<void> {
  const o = c.options;
  try {
    let lab: Lab;
    await t.step("lab up: 3 nodes, pods on every node reach each other", async () => {
      if (c.viaCli) {
        await cliUp(o);
        lab = loadLab(o.name)!;
      } else {
        const r = await labUp(o);
        lab = r.lab;
        assert(r.ok, `connectivity matrix has failures:\n${upFailure(r)}`);
        assertEquals(r.results.length, 6);
      }
      assertEquals(lab.state.phase, "ready");
      assertEquals(lab.state.pods.length, 3);
    });
    const nodes = ["n1", "n2", "n3"];
    const subnets: Record<string, string> = {};

    await t.step(
      "daemons started at once got different subnets; each node routes to the others",
      async () => {
        for (const n of nodes) subnets[n] = subnetOf(lab, n);
        assertEquals(new Set(Object.values(subnets)).size, 3, JSON.stringify(subnets));
        const starts = lab.state.daemons.map((d) => Date.parse(d.startedAt));
        assert(
          Math.max(...starts) - Math.min(...starts) < 2000,
          "daemons were not started together",
        );
        for (const n of nodes) {
          const routes = await skeinRoutes(nsOf(lab, n));
          const others = nodes.filter((x) => x !== n).map((x) => subnets[x]!);
          assertEquals(routes.map((r) => r.split(" ")[0]).sort(), others.sort(), routes.join("\n"));
          for (const r of routes) {
            if (o.backend === "host-gw") assertStringIncludes(r, "dev eth0");
            else assertStringIncludes(r, "onlink");
          }
        }
      },
    );

    if (c.viaCli) {
      await t.step("skein lab status shows every daemon ready and the leases", async () => {
        const r = await cli(["status", "--name", o.name]);
        assertEquals(r.code, 0, r.stdout + r.stderr);
        assertEquals(r.stdout.split("\n").filter((l) => / ready http/.test(l)).length, 3, r.stdout);
        for (const s of Object.values(subnets)) assertStringIncludes(r.stdout, s);
        const ping = await cli(["ping", "--name", o.name]);
        assertEquals(ping.code, 0, ping.stdout + ping.stderr);
        assertStringIncludes(ping.stdout, "6/6 pairs reachable");
        const again = await cli(["up", "--name", o.name]);
        assertEquals(again.code, 2, again.stderr);
        assertStringIncludes(again.stderr, `lab "${o.name}" already exists`);
      });
    }

    if (c.viaCli) {
      await t.step("skein lab ping exits 1 and names the pairs that fail", async () => {
        const a = lab.state.pods.find((p) => p.name === "n1-p1")!;
        const b = lab.state.pods.find((p) => p.name === "n2-p1")!;
        const cut = ["ip", "-n", b.netns, "route", "add", "blackhole", `${a.ip}/32`];
        const r0 = await runCommand(cut);
        assert(r0.success, r0.stderr);
        try {
          const r = await cli(["ping", "--name", o.name]);
          assertEquals(r.code, 1, r.stdout + r.stderr);
          assertStringIncludes(r.stdout, "4/6 pairs reachable, 2 FAILED");
          assertStringIncludes(r.stdout, `FAIL n1-p1 -> n2-p1 (${b.ip})`);
          assertStringIncludes(r.stdout, `FAIL n2-p1 -> n1-p1 (${a.ip})`);
        } finally {
          await runCommand(["ip", "-n", b.netns, "route", "del", "blackhole", `${a.ip}/32`]);
        }
      });
    }

    await t.step(
      "a daemon killed with kill -9 and restarted keeps its subnet and changes no route (neigh, fdb)",
      async () => {
        const before: Record<string, string[]> = {};
        for (const n of nodes) before[n] = await skeinRoutes(nsOf(lab, n));
        const vxlan = o.backend === "vxlan";
        const mon = monitorRoutes(nodes.map((n) => nsOf(lab, n)), vxlan);
        await sleep(300);
        await stopNodeDaemon(lab, "n2", "SIGKILL");
        await restartNodeDaemon(lab, "n2");
        await sleep(o.reconcilePeriod * 1000 * 2 + 500); // two periodic reconciles after ready
        const events = await mon.stop();
        assertEquals(subnetOf(lab, "n2"), subnets.n2);
        for (const n of nodes) {
          assertEquals(await skeinRoutes(nsOf(lab, n)), before[n], `routes of ${n}`);
        }
        for (const [ns, text] of Object.entries(events)) {
          // Routes to pod subnets, and (vxlan) neighbour/FDB entries of the VXLAN device.
          const mine = text.split("\n").filter((l) =>
            Object.values(subnets).some((s) => l.includes(s)) ||
            (vxlan && / dev skein\.1 .*(lladdr|dst) /.test(l + " "))
          );
          assertEquals(mine, [], `route/neigh/fdb changes in ${ns} during the restart`);
        }
        assert(await podPing(lab, "n1-p1", "n2-p1"), "n1-p1 cannot reach n2-p1 after the restart");
      },
    );

    await t.step("a route deleted by hand comes back", async () => {
      const ns = nsOf(lab, "n1");
      const mon = monitorRoutes([ns]);
      await sleep(300);
      const r = await runCommand(["ip", "-n", ns, "route", "del", subnets.n2!]);
      assert(r.success, r.stderr);
      // The daemon heals on the kernel's route notification, often before the next line could
      // look: that the route was gone is proven by ip monitor below, not by a racing read.
      await waitFor(
        `route to ${subnets.n2} back in ${ns}`,
        async () => (await skeinRoutes(ns)).some((x) => x.startsWith(subnets.n2! + " ")),
      );
      // The oracle the restart check relies on (ip monitor route) sees both changes here.
      const seen = (await mon.stop())[ns]!.split("\n").filter((l) => l.includes(subnets.n2!));
      assertEquals(seen.length, 2, `ip monitor route saw: ${seen.join(" | ")}`);
      assert(seen[0]!.startsWith("Deleted "), seen[0]);
      assert(await podPing(lab, "n1-p1", "n2-p1"), "n1-p1 cannot reach n2-p1 after the heal");
    });

    if (o.backend === "vxlan") {
      await t.step(
        "a deleted VXLAN device comes back with its routes, neighbours and FDB",
        async () => {
          const ns = nsOf(lab, "n1");
          const links = await ipJson<{ ifname: string; linkinfo?: { info_kind?: string } }[]>(ns, [
            "-d",
            "link",
            "show",
          ]);
          const dev = links.find((l) => l.linkinfo?.info_kind === "vxlan")?.ifname;
          assert(dev, "no vxlan device in n1");
          const mac = (await ipJson<{ address: string }[]>(ns, ["link", "show", dev]))[0]!.address;
          const before = await skeinRoutes(ns);
          const mon = monitorRoutes([ns], true);
          await sleep(300);
          const r = await runCommand(["ip", "-n", ns, "link", "del", dev]);
          assert(r.success, r.stderr);
          await waitFor(
            `vxlan device ${dev} and its routes back in ${ns}`,
            async () => JSON.stringify(await skeinRoutes(ns)) === JSON.stringify(before),
          );
          assertEquals(
            (await ipJson<{ address: string }[]>(ns, ["link", "show", dev]))[0]!.address,
            mac,
          );
          const fdb = await runCommand(["bridge", "-n", ns, "-j", "fdb", "show", "dev", dev]);
          assertEquals(
            JSON.parse(fdb.stdout).filter((e: { dst?: string }) => e.dst).length,
            2,
            fdb.stdout,
          );
          assert(await podPing(lab, "n1-p1", "n3-p1"), "n1-p1 cannot reach n3-p1 after the heal");
          // The neigh/fdb oracle the restart check relies on sees the re-created entries.
          const seen = (await mon.stop())[ns]!.split("\n");
          assertEquals(
            seen.filter((l) => / dev skein\.1 .*lladdr /.test(l + " ")).length >= 2,
            true,
          );
          assertEquals(seen.filter((l) => / dev skein\.1 .*dst /.test(l + " ")).length >= 2, true);
        },
      );
    }

    await t.step(
      `a node that leaves (${c.leave}) disappears from the other nodes' routes`,
      async () => {
        if (c.leave === "release") {
          await stopNodeDaemon(lab, "n3", "SIGTERM");
          const store = openLabStore(lab.plan);
          try {
            const l = (await store.list()).leases.find((x) => x.subnet === subnets.n3);
            assert(l, `no lease for ${subnets.n3} in the store`);
            await store.release(l);
          } finally {
            await store.close();
          }
        } else {
          // A dead node: its daemon killed (the lease expires) and its node off the underlay
          // (a node that still answered would keep its routes for the lease grace period).
          await stopNodeDaemon(lab, "n3", "SIGKILL");
          const down = await runCommand([
            "ip",
            "-n",
            nsOf(lab, "n3"),
            "link",
            "set",
            "eth0",
            "down",
          ]);
          assert(down.success, down.stderr);
        }
        for (const n of ["n1", "n2"]) {
          const ns = nsOf(lab, n);
          await waitFor(
            `route to ${subnets.n3} gone from ${n}`,
            async () => !(await skeinRoutes(ns)).some((x) => x.startsWith(subnets.n3! + " ")),
            (TTL + 20) * 1000,
          );
          assertEquals((await skeinRoutes(ns)).length, 1);
          if (o.backend === "vxlan") {
            const n3ip = lab.plan.nodes[2]!.ip;
            await waitFor(`fdb entry for ${n3ip} gone from ${n}`, async () => {
              const fdb = await runCommand(["bridge", "-n", ns, "-j", "fdb", "show"]);
              return !fdb.stdout.includes(`"${n3ip}"`);
            }, 10_000);
          }
        }
        assert(await podPing(lab, "n1-p1", "n2-p1"), "n1-p1 cannot reach n2-p1 after n3 left");
      },
    );
  } finally {
    const r = c.viaCli ? await cli(["down", "--name", o.name]) : undefined;
    if (r) assertEquals(r.code, 0, r.stderr);
    const d = await labDown(o.name);
    assertEquals(d.errors, []);
    const left = netnsList().filter((n) => n.startsWith(`${o.name}-`));
    assertEquals(left, [], "namespaces left behind");
    assert(!(await exists(`/run/skein/lab/${o.name}`)), "lab state dir left behind");
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.stat(p);
    return true;
  } catch {
    return false;
  }
}

function opts(suffix: string, partial: Partial<LabOptions>): LabOptions {
  return labDefaults({
    name: `${testPrefix()}${suffix}`,
    nodes: 3,
    podsPerNode: 1,
    leaseTtl: TTL,
    reconcilePeriod: 1,
    ...partial,
  });
}

Deno.test({
  name: "lab host-gw (file datastore, built with the CLI): matrix, restart, heal, node leaves",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    labCase(t, { options: opts("h", { backend: "host-gw" }), viaCli: true, leave: "release" }),
});

Deno.test({
  name: "lab vxlan (file datastore): matrix, restart, heal route and device, node lease expires",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: (t) =>
    labCase(t, { options: opts("v", { backend: "vxlan" }), viaCli: false, leave: "expire" }),
});

Deno.test({
  name: "lab vxlan on a real etcd: matrix, restart, heal route and device, node leaves",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: `${testPrefix()}-etcd` });
    let etcd;
    try {
      try {
        etcd = await startEtcd(dir);
      } catch (e) {
        console.log(`SKIP: ${(e as Error).message}`);
        return;
      }
      await labCase(t, {
        options: opts("e", { backend: "vxlan", datastore: "etcd", etcdEndpoints: [etcd.url] }),
        viaCli: false,
        leave: "release",
      });
    } finally {
      if (etcd) await stopProcess(etcd.pid, etcd.marker);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "lab up refuses bad options and an existing lab; lab down of nothing succeeds",
  ignore: !isRoot,
  fn: async () => {
    const bad = await cli(["up", "--name", "Bad-Name"]);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, "--name: must be a lower-case letter");
    const badN = await cli(["up", "--name", `${testPrefix()}x`, "--nodes", "0"]);
    assertEquals(badN.code, 2);
    assertStringIncludes(badN.stderr, "--nodes: must be an integer from 1 to 50");
    const down = await cli(["down", "--name", `${testPrefix()}x`]);
    assertEquals(down.code, 0, down.stderr);
    const st = await cli(["status", "--name", `${testPrefix()}x`]);
    assertEquals(st.code, 1);
    assertStringIncludes(st.stderr, "no lab");
    assertEquals(netnsList().filter((n) => n.startsWith(`${testPrefix()}x-`)), []);
  },
});

Deno.test({
  name:
    "lab down removes a lab that failed half-way, also with a corrupt lab.json and a stray process",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const name = `${testPrefix()}f`;
    const saved = Deno.env.get("SKEIN_BIN");
    let stray: number | undefined;
    Deno.env.set("SKEIN_BIN", "/bin/false");
    try {
      const e = await assertRejects(() => labUp(opts("f", { nodes: 2 })));
      assertStringIncludes(e.message, "exited before it was ready");
      const lab = loadLab(name)!;
      assertEquals(lab.state.phase, "failed");
      assertEquals(labNamespaces(name).sort(), [`${name}-lan`, `${name}-n1`, `${name}-n2`]);
      // Worse: a process lab.json does not know about, and a corrupt lab.json.
      stray = await spawnDetached(["tail", "-f", lab.plan.stateFile], { logFile: "/dev/null" });
      Deno.writeTextFileSync(lab.plan.stateFile, "{garbage");
    } finally {
      if (saved === undefined) Deno.env.delete("SKEIN_BIN");
      else Deno.env.set("SKEIN_BIN", saved);
      const d = await labDown(name);
      assertEquals(d.errors, []);
    }
    assertEquals(labNamespaces(name), []);
    assert(!(await exists(`/run/skein/lab/${name}`)));
    assert(stray !== undefined && !processAlive(stray, "tail"), "stray process left running");
  },
});

function labNamespaces(name: string): string[] {
  return netnsList().filter((n) => n.startsWith(`${name}-`));
}

Deno.test({
  name: "lab up --datastore etcd starts its own etcd; status lists its leases; down stops it",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const name = `${testPrefix()}a`;
    try {
      const up = await cli([
        "up",
        "--name",
        name,
        "--nodes",
        "2",
        "--pods-per-node",
        "1",
        "--datastore",
        "etcd",
        "--backend",
        "host-gw",
      ]);
      if (up.stderr.includes("/usr/bin/etcd not found")) {
        console.log("SKIP: /usr/bin/etcd not found");
        return;
      }
      assertEquals(up.code, 0, up.stdout + up.stderr);
      assertStringIncludes(up.stderr, "lab: starting etcd on 127.0.0.1");
      assertStringIncludes(up.stdout, "2/2 pairs reachable");
      const st = await cli(["status", "--name", name, "--json"]);
      assertEquals(st.code, 0, st.stdout + st.stderr);
      const s = JSON.parse(st.stdout);
      assertEquals(s.datastore, "etcd");
      assertEquals(s.leases.length, 2);
      assertEquals(
        s.processes.map((p: { name: string; running: boolean }) => [p.name, p.running]),
        [
          ["etcd", true],
        ],
      );
      const pid = s.processes[0].pid as number;
      const down = await cli(["down", "--name", name]);
      assertEquals(down.code, 0, down.stderr);
      assertStringIncludes(down.stderr, `stopped etcd (pid ${pid})`);
      assertEquals(processAlive(pid, "etcd"), false);
    } finally {
      await labDown(name);
      assertEquals(labNamespaces(name), []);
    }
  },
});
