/**
 * `skein daemon` as a real process (`deno run -A main.ts daemon`), file datastore, dataplane in
 * a test namespace (`--netns`), real host-gw and vxlan backends. Root needed.
 * Run: deno test -A tests/daemon_test.ts
 *
 * Topology: namespaces "a" and "b" joined by a veth pair (a: eth0 192.168.77.1/24, b: eth0
 * 192.168.77.2/24). The daemon runs for node "a"; node "b"'s lease is written into the shared
 * store by the test, as another daemon would.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { EtcdStore } from "../store/etcd.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";
import { withNamespaces } from "./_netns.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";
import { DaemonProc, freePort, httpGet as get } from "./_daemon_proc.ts";
import { backendNames } from "../backends/registry.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function ip(...args: string[]): string {
  // `ip -n` wants a name; the helpers hand out /run/netns/NAME paths.
  if (args[0] === "-n") args[1] = args[1]!.replace(/^\/run\/netns\//, "");
  if (args.at(-2) === "netns") args[args.length - 1] = args.at(-1)!.replace(/^\/run\/netns\//, "");
  const out = new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string | number;
  flags?: string[];
}

function skeinRoutes(ns: string): RouteJson[] {
  return JSON.parse(ip("-n", ns, "-j", "route", "show", "proto", "100") || "[]");
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 20_000,
  log?: () => string,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${log ? `\ndaemon log:\n${log()}` : ""}`);
}

async function withNode(
  backend: "host-gw" | "vxlan",
  datastore: ((dir: string) => string) | undefined,
  fn: (
    t: {
      ns: Record<string, string>;
      dir: string;
      cfgFile: string;
      listen: string;
      store: FileStore;
    },
  ) => Promise<void>,
): Promise<void> {
  await withNamespaces(["a", "b"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-daemon-it-" });
    try {
      ip(
        "-n",
        ns.a!,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        ns.b!,
      );
      ip("-n", ns.a!, "addr", "add", "192.168.77.1/24", "dev", "eth0");
      ip("-n", ns.b!, "addr", "add", "192.168.77.2/24", "dev", "eth0");
      for (const n of [ns.a!, ns.b!]) {
        ip("-n", n, "link", "set", "eth0", "up");
        ip("-n", n, "link", "set", "lo", "up");
      }
      const listen = `127.0.0.1:${freePort()}`;
      const cfgFile = `${dir}/daemon.yaml`;
      await Deno.writeTextFile(
        cfgFile,
        `name: node-a
network: 10.244.0.0/16
backend: {type: ${backend}}
datastore: ${datastore ? datastore(dir) : `{type: file, dir: ${dir}/store, ttl: 60}`}
iface: eth0
netns: ${ns.a}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 1
logLevel: debug
`,
      );
      const store = new FileStore({ dir: `${dir}/store` });
      await fn({ ns, dir, cfgFile, listen, store });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}

Deno.test("skein daemon (host-gw, file store, --netns): ready, files, routes, healing, bad records, SIGTERM, restart", async () => {
  await withNode("host-gw", undefined, async ({ ns, dir, cfgFile, listen, store }) => {
    let d = new DaemonProc(cfgFile);
    try {
      const ready = await waitFor(
        "/readyz 200",
        async () => (await get(listen, "/readyz")).status === 200,
        30_000,
        d.log,
      );
      assert(ready);
      assertEquals((await get(listen, "/healthz")).status, 200);
      const lease = JSON.parse(await Deno.readTextFile(`${dir}/run/subnet.json`));
      assertEquals(lease, {
        node: "node-a",
        network: "10.244.0.0/16",
        subnet: "10.244.1.0/24",
        mtu: 1500,
        ipMasq: false,
        backend: "host-gw",
        cniSocket: `${dir}/run/cni.sock`,
      });
      // The CNI service listens beside the lease file, for root only.
      const sock = Deno.statSync(`${dir}/run/cni.sock`);
      assert(sock.isSocket);
      assertEquals(sock.mode! & 0o777, 0o600);
      assertEquals(
        await Deno.readTextFile(`${dir}/run/subnet.env`),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n",
      );

      // Another node's lease (as its daemon would write it) → a route via its address.
      const b = await store.acquire({
        node: "node-b",
        publicIP: "192.168.77.2",
        backendType: "host-gw",
        ttlSeconds: 60,
      });
      assertEquals(b.subnet, "10.244.2.0/24");
      const route = await waitFor(
        "route to node-b",
        () => skeinRoutes(ns.a!).find((r) => r.dst === b.subnet),
        10_000,
        d.log,
      );
      assertEquals([route.gateway, route.dev], ["192.168.77.2", "eth0"]);

      // A bad record in the store is logged and skipped; the daemon keeps going.
      await Deno.writeTextFile(`${dir}/store/subnets/10.244.9.0-24.json`, "{garbage");
      await store.acquire({
        node: "node-c",
        publicIP: "192.168.77.3",
        backendType: "host-gw",
        ttlSeconds: 60,
      });
      await waitFor(
        "route to node-c",
        () => skeinRoutes(ns.a!).find((r) => r.dst === "10.244.3.0/24"),
        10_000,
        d.log,
      );
      // The daemon logs the warning before it programs that route, but the test reads the
      // daemon's stderr through a pipe and may see the kernel's route first: wait for the line.
      await waitFor(
        "the bad record's warning",
        () =>
          d.lines.some((l) =>
            l.includes("skipping bad lease record") && l.includes("10.244.9.0-24")
          ),
        10_000,
        d.log,
      );

      // A route deleted by hand comes back (the kernel notification triggers a reconcile).
      ip("-n", ns.a!, "route", "del", b.subnet);
      await waitFor(
        "route healed",
        () => skeinRoutes(ns.a!).find((r) => r.dst === b.subnet),
        10_000,
        d.log,
      );

      // /metrics is valid Prometheus text with the daemon's series.
      const m = parsePrometheus((await get(listen, "/metrics")).body);
      assertEquals(m.get("skein_leases"), 3);
      assertEquals(m.get("skein_routes_programmed"), 2);
      assert((m.get('skein_reconcile_total{trigger="kernel"}') ?? 0) >= 1);
      assert((m.get("skein_reconcile_duration_seconds_count") ?? 0) >= 1);
      assertEquals(m.get("skein_ready"), 1);

      // SIGTERM: clean exit, routes and lease stay.
      const before = skeinRoutes(ns.a!);
      const st = await d.stop("SIGTERM");
      assertEquals(st.code, 0, d.log());
      assertStringIncludes(d.log(), "dataplane left in place");
      assertEquals(skeinRoutes(ns.a!), before);
      assert((await store.list()).leases.some((l) => l.node === "node-a"));

      // Restart: same subnet, routes unchanged (nothing re-added).
      d = new DaemonProc(cfgFile);
      await waitFor(
        "ready again",
        async () => (await get(listen, "/readyz")).status === 200,
        30_000,
        d.log,
      );
      assertEquals(
        JSON.parse(await Deno.readTextFile(`${dir}/run/subnet.json`)).subnet,
        "10.244.1.0/24",
      );
      assertEquals(skeinRoutes(ns.a!), before);
      const firstReconcile = d.lines.find((l) => l.includes("msg=reconciled"));
      assertStringIncludes(firstReconcile ?? "", "added=0 removed=0");

      // A node that leaves disappears from the routes.
      await store.release(b);
      await waitFor(
        "route to node-b removed",
        () => !skeinRoutes(ns.a!).some((r) => r.dst === b.subnet),
        10_000,
        d.log,
      );
    } finally {
      await d.stop("SIGKILL");
    }
  });
});

Deno.test("skein daemon (vxlan): device created, VtepMAC published, onlink route to a peer; bad flags exit 2", async () => {
  await withNode("vxlan", undefined, async ({ ns, cfgFile, listen, store }) => {
    const d = new DaemonProc(cfgFile);
    try {
      await waitFor(
        "/readyz 200",
        async () => (await get(listen, "/readyz")).status === 200,
        30_000,
        d.log,
      );
      const link = JSON.parse(ip("-n", ns.a!, "-d", "-j", "link", "show", "skein.1"))[0];
      assertEquals(link.mtu, 1450);
      const own = (await store.list()).leases.find((l) => l.node === "node-a")!;
      assertEquals(own.backendData?.VtepMAC, link.address);
      const rec = JSON.parse(
        await Deno.readTextFile(`${(store as FileStore).dir}/subnets/10.244.1.0-24.json`),
      );
      assertEquals(rec.BackendType, "vxlan");
      await store.acquire({
        node: "node-b",
        publicIP: "192.168.77.2",
        backendType: "vxlan",
        backendData: { VtepMAC: "0a:00:00:00:77:02" },
        ttlSeconds: 60,
      });
      const r = await waitFor(
        "vxlan route",
        () => skeinRoutes(ns.a!).find((x) => x.dst === "10.244.2.0/24"),
        10_000,
        d.log,
      );
      assertEquals([r.gateway, r.dev], ["10.244.2.0", "skein.1"]);
    } finally {
      await d.stop("SIGKILL");
    }
  });
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "daemon", "--backend", "vxlam"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(bad.code, 2);
  assertStringIncludes(
    new TextDecoder().decode(bad.stderr),
    `--backend: must be one of ${backendNames().join(", ")}, got "vxlam"`,
  );
});

Deno.test({
  name:
    "skein daemon (host-gw, etcd): flannel layout, routes, etcd outage keeps the dataplane, watch resumes",
  ignore: !etcdAvailable("daemon with etcd"),
  fn: () =>
    withEtcd(async (etcd) => {
      const prefix = `/skein-test-${crypto.randomUUID().slice(0, 8)}/network`;
      await withNode(
        "host-gw",
        () => `{type: etcd, endpoints: [${etcd.endpoint}], prefix: ${prefix}, ttl: 30}`,
        async ({ ns, cfgFile, listen }) => {
          const store = new EtcdStore({ endpoints: [etcd.endpoint], prefix });
          const d = new DaemonProc(cfgFile);
          try {
            await waitFor(
              "/readyz 200",
              async () => (await get(listen, "/readyz")).status === 200,
              30_000,
              d.log,
            );
            const own = (await store.list()).leases.find((l) => l.node === "node-a")!;
            const raw = new Deno.Command("/usr/bin/etcdctl", {
              args: [
                `--endpoints=${etcd.endpoint}`,
                "get",
                "--print-value-only",
                `${prefix}/subnets/${own.subnet.replace("/", "-")}`,
              ],
              env: { ETCDCTL_API: "3" },
              stdout: "piped",
            }).outputSync();
            assertEquals(JSON.parse(new TextDecoder().decode(raw.stdout)), {
              PublicIP: "192.168.77.1",
              BackendType: "host-gw",
              Node: "node-a",
            });
            const b = await store.acquire({
              node: "node-b",
              publicIP: "192.168.77.2",
              backendType: "host-gw",
              ttlSeconds: 30,
            });
            await waitFor(
              "route to node-b",
              () => skeinRoutes(ns.a!).find((r) => r.dst === b.subnet),
              10_000,
              d.log,
            );

            // etcd goes away: the daemon stays up, keeps its routes, counts errors.
            await etcd.stop();
            await waitFor(
              "a datastore error",
              () => d.lines.some((l) => l.includes("etcd watch interrupted")),
              10_000,
              d.log,
            );
            assert(
              skeinRoutes(ns.a!).some((r) => r.dst === b.subnet),
              "routes kept during the outage",
            );
            assertEquals((await get(listen, "/healthz")).status, 200);
            const m = parsePrometheus((await get(listen, "/metrics")).body);
            assert((m.get('skein_datastore_errors_total{op="watch"}') ?? 0) >= 1);

            // etcd is back: the watch resumes and a new node shows up.
            await etcd.start();
            const c = await store.acquire({
              node: "node-c",
              publicIP: "192.168.77.3",
              backendType: "host-gw",
              ttlSeconds: 30,
            });
            await waitFor(
              "route to node-c",
              () => skeinRoutes(ns.a!).find((r) => r.dst === c.subnet),
              20_000,
              d.log,
            );
            assert(skeinRoutes(ns.a!).some((r) => r.dst === b.subnet));
          } finally {
            await d.stop("SIGKILL");
          }
        },
      );
    }),
});

Deno.test("two skein daemons started at once on one file store: different subnets, routes to each other", async () => {
  await withNode("host-gw", undefined, async ({ ns, dir, cfgFile }) => {
    const text = await Deno.readTextFile(cfgFile);
    const listenB = `127.0.0.1:${freePort()}`;
    const cfgB = `${dir}/daemon-b.yaml`;
    await Deno.writeTextFile(
      cfgB,
      text.replace("name: node-a", "name: node-b").replace(`netns: ${ns.a}`, `netns: ${ns.b}`)
        .replace(/listen: .*/, `listen: ${listenB}`).replaceAll(`${dir}/run/`, `${dir}/run-b/`)
        .replace(`${dir}/state`, `${dir}/state-b`),
    );
    const listenA = /listen: (.*)/.exec(text)![1]!;
    const a = new DaemonProc(cfgFile);
    const b = new DaemonProc(cfgB);
    try {
      for (const [l, d] of [[listenA, a], [listenB, b]] as const) {
        await waitFor(
          "/readyz 200",
          async () => (await get(l, "/readyz")).status === 200,
          30_000,
          d.log,
        );
      }
      const sa = JSON.parse(await Deno.readTextFile(`${dir}/run/subnet.json`)).subnet;
      const sb = JSON.parse(await Deno.readTextFile(`${dir}/run-b/subnet.json`)).subnet;
      assert(sa !== sb, `both got ${sa}`);
      const ra = await waitFor(
        "a → b",
        () => skeinRoutes(ns.a!).find((r) => r.dst === sb),
        10_000,
        a.log,
      );
      const rb = await waitFor(
        "b → a",
        () => skeinRoutes(ns.b!).find((r) => r.dst === sa),
        10_000,
        b.log,
      );
      assertEquals([ra.gateway, rb.gateway], ["192.168.77.2", "192.168.77.1"]);
    } finally {
      await a.stop("SIGKILL");
      await b.stop("SIGKILL");
    }
  });
});
