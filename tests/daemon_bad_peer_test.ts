/**
 * Integration (root): a real `skein daemon` on a file store holding one good peer and one peer
 * record the kernel would refuse (vxlan: VtepMAC 00:00:00:00:00:00; host-gw: a PublicIP that is
 * the uplink's broadcast address). The bad lease is skipped with its reason (log, metric,
 * /debug/state), nothing is programmed for it, the good peer's route is, and the node is ready.
 * host-gw also meets a peer only the kernel can refuse (its PublicIP is the broadcast address of
 * another interface's prefix, on-link through a link route): that lease is skipped with the
 * kernel's words and the node stays ready.
 *
 * Topology: one namespace "a" with a veth pair (eth0 192.168.97.1/24, its peer eth0p); the peers
 * exist only as records (no traffic leaves the namespace).
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";
import { ipJson, ipn, nsOf, sh } from "./backends_helpers.ts";

interface Peer {
  n: number;
  ip: string;
  mac: string;
}

/** A flannel-format record in the file store, as another node's daemon would write it. */
function record(backend: string, p: Peer): string {
  return JSON.stringify({
    Subnet: `10.247.${p.n}.0/24`,
    PublicIP: p.ip,
    BackendType: backend,
    BackendData: backend === "vxlan" ? { VtepMAC: p.mac } : {},
    Node: `p${p.n}`,
    Expiration: "2030-01-01T00:00:00Z",
  });
}

async function writePeers(dir: string, backend: string, peers: Peer[]): Promise<void> {
  for (const p of peers) {
    await Deno.writeTextFile(`${dir}/store/subnets/10.247.${p.n}.0-24.json`, record(backend, p));
  }
}

const routes = (ns: string) =>
  ipJson<{ dst: string; gateway?: string }>(ns, "route", "show", "proto", "100");

/** The daemon's /metrics. */
async function metrics(listen: string): Promise<Map<string, number>> {
  return parsePrometheus((await httpGet(listen, "/metrics")).body);
}

function errorsTotal(m: Map<string, number>): number {
  let n = 0;
  for (const [k, v] of m) if (k.startsWith("skein_reconcile_errors_total")) n += v;
  return n;
}

/**
 * Runs the daemon for node-a on a fresh store with `peers` (backend `backend`) in namespace "a",
 * then `fn` with it once /readyz answers 200.
 */
async function withDaemon(
  backend: "vxlan" | "host-gw",
  peers: Peer[],
  fn: (t: { ns: string; dir: string; listen: string; d: DaemonProc }) => Promise<void>,
): Promise<void> {
  await withNamespaces(["a"], async ({ a: ns }) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-bad-peer-" });
    let d: DaemonProc | undefined;
    try {
      ipn(
        ns!,
        ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"],
        [
          "addr",
          "add",
          "192.168.97.1/24",
          "dev",
          "eth0",
        ],
        ["link", "set", "eth0", "up"],
        ["link", "set", "eth0p", "up"],
        ["link", "set", "lo", "up"],
      );
      await Deno.mkdir(`${dir}/store/subnets`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/store/config.json`,
        JSON.stringify({ Network: "10.247.0.0/16", SubnetLen: 24, Backend: { Type: backend } }),
      );
      await writePeers(dir, backend, peers);
      const listen = `127.0.0.1:${freePort()}`;
      const cfgFile = `${dir}/daemon.yaml`;
      await Deno.writeTextFile(
        cfgFile,
        `name: node-a
backend: {type: ${backend}}
datastore: {type: file, dir: ${dir}/store, ttl: 600}
iface: eth0
netns: ${ns}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 1
driftGrace: 2
logLevel: debug
`,
      );
      d = new DaemonProc(cfgFile);
      const ready = async () => (await httpGet(listen, "/readyz")).status === 200;
      await waitFor("/readyz 200", ready, { ms: 30_000, log: d.log });
      await fn({ ns: ns!, dir, listen, d });
    } finally {
      const st = await d?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      if (st) assertEquals(st.code, 0, "the daemon exits cleanly");
    }
  });
}

/**
 * The node stays ready for a while (several reconciles, past driftGrace), the bad leases are
 * skipped (metric, /debug/state, one log line each with its reason), and no reconcile error is
 * counted.
 */
async function assertSkippedAndReady(
  t: { listen: string; d: DaemonProc },
  bad: [subnet: string, reason: string][],
  skipped: number,
): Promise<void> {
  const { listen, d } = t;
  const notProgrammed = (subnet: string) =>
    d.lines.filter((l) =>
      l.includes('msg="lease not programmed"') && l.includes(`subnet=${subnet}`)
    );
  for (const [subnet, reason] of bad) {
    const line = await waitFor(`${subnet}'s log line`, () => notProgrammed(subnet)[0], {
      log: d.log,
    });
    assertStringIncludes(line, reason);
  }
  await waitFor(
    "skein_leases_skipped",
    async () => (await metrics(listen)).get("skein_leases_skipped") === skipped,
    { log: d.log },
  );
  await new Promise((r) => setTimeout(r, 3500)); // three more reconciles, past driftGrace
  const r = await httpGet(listen, "/readyz");
  assertEquals(r.status, 200, `${r.body}\n${d.log()}`);
  const m = await metrics(listen);
  assertEquals(m.get("skein_leases_skipped"), skipped);
  assertEquals(m.get("skein_ready"), 1);
  assertEquals(errorsTotal(m), 0, d.log());
  const state = JSON.parse((await httpGet(listen, "/debug/state")).body);
  assertEquals(state.lastReconcile.errors, []);
  for (const [subnet, reason] of bad) {
    const s = state.lastReconcile.skipped.find((x: { subnet: string }) => x.subnet === subnet);
    assertStringIncludes(s?.reason ?? "", reason);
    assertEquals(notProgrammed(subnet).length, 1, `logged once, not per reconcile\n${d.log()}`);
  }
}

Deno.test({
  name:
    "skein daemon (vxlan): a peer with VtepMAC 00:00:00:00:00:00 is skipped with the reason; the good peer is programmed and the node is ready",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDaemon("vxlan", [
      { n: 2, ip: "192.168.97.2", mac: "0a:00:00:00:00:02" },
      { n: 3, ip: "192.168.97.3", mac: "00:00:00:00:00:00" },
      // The audit's related records: no node has these addresses.
      { n: 4, ip: "224.0.0.1", mac: "0a:00:00:00:00:04" },
      { n: 5, ip: "10.247.200.1", mac: "0a:00:00:00:00:05" },
    ], async (t) => {
      const { ns } = t;
      await waitFor("the good peer's route", () =>
        routes(ns).some((r) => r.dst === "10.247.2.0/24" && r.gateway === "10.247.2.0"), {
        log: t.d.log,
      });
      await assertSkippedAndReady(t, [
        ["10.247.3.0/24", "node p3 published the VTEP MAC 00:00:00:00:00:00, the all-zero MAC"],
        ["10.247.4.0/24", "public IP 224.0.0.1 is a multicast address"],
        ["10.247.5.0/24", "public IP 10.247.200.1 is inside the cluster network 10.247.0.0/16"],
      ], 3);
      const m = await metrics(t.listen);
      assertEquals(m.get('skein_leases_invalid_total{reason="public-ip-in-network"}'), 1);
      assertEquals(
        routes(ns).map((r) =>
          r.dst
        ),
        ["10.247.2.0/24"],
        "no route for the bad peers",
      );
      const fdb = JSON.parse(
        sh("bridge", "-n", nsOf(ns), "-j", "fdb", "show", "dev", "skein.1"),
      ) as {
        mac: string;
        dst?: string;
      }[];
      assertEquals(fdb.filter((f) => f.dst).map((f) => [f.mac, f.dst]), [[
        "0a:00:00:00:00:02",
        "192.168.97.2",
      ]]);
      const neighs = ipJson<{ dst: string; lladdr?: string }>(
        ns,
        "neigh",
        "show",
        "dev",
        "skein.1",
      );
      assertEquals(neighs.map((n) => [n.dst, n.lladdr]), [["10.247.2.0", "0a:00:00:00:00:02"]]);
    }),
});

Deno.test({
  name:
    "skein daemon (host-gw): a peer whose PublicIP is the uplink's broadcast address, then one only the kernel refuses, are skipped; the node stays ready",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDaemon("host-gw", [
      { n: 2, ip: "192.168.97.2", mac: "" },
      { n: 3, ip: "192.168.97.255", mac: "" },
    ], async (t) => {
      const { ns, dir } = t;
      await waitFor("the good peer's route", () =>
        routes(ns).some((r) => r.dst === "10.247.2.0/24" && r.gateway === "192.168.97.2"), {
        log: t.d.log,
      });
      await assertSkippedAndReady(t, [
        ["10.247.3.0/24", "192.168.97.255 is the broadcast address of 192.168.97.0/24"],
      ], 1);
      assert(
        !routes(ns).some((r) =>
          r.dst === "10.247.3.0/24"
        ),
        "no route for the bad peer",
      );

      // 172.30.5.255 is on-link through a link route on eth0, and the broadcast address of a /32
      // address on eth0 (which has no network for OnLink.edge() to judge): only the kernel knows
      // it is no gateway (EINVAL, "Nexthop has invalid gateway").
      ipn(
        ns,
        ["addr", "add", "172.30.5.1/32", "broadcast", "172.30.5.255", "dev", "eth0"],
        ["route", "add", "172.30.0.0/16", "dev", "eth0", "scope", "link"],
      );
      await writePeers(dir, "host-gw", [{ n: 4, ip: "172.30.5.255", mac: "" }]);
      await assertSkippedAndReady(t, [["10.247.4.0/24", "refused by the kernel"]], 2);
      assert(!routes(ns).some((r) => r.dst === "10.247.4.0/24"), "no route for the refused peer");
      assert(routes(ns).some((r) => r.dst === "10.247.2.0/24"), "the good peer's route stays");
    }),
});
