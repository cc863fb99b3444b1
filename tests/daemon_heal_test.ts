/**
 * Event-driven healing (issue 14): a real `skein daemon` (vxlan, file store, dataplane in a test
 * namespace) with a reconcile interval of 3600 s repairs each kind of kernel drift at once: the
 * timer never runs during the test, so every repair came from a kernel notification or the
 * lease-file watch. Root needed. Run: deno test -A tests/daemon_heal_test.ts
 *
 * Topology: namespaces "a" and "b" joined by a veth pair (a: eth0 192.168.77.1/24, b: eth0
 * 192.168.77.2/24). The daemon runs for node "a"; node "b"'s lease is written into the shared
 * store by the test, as its daemon would.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { sysctlSet } from "../net/mod.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";
import { withNamespaces } from "./_netns.ts";
import { bridgej, ip, ipj, type Json, nsNameOf } from "./net_oracle.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";

const PEER_MAC = "0a:00:00:00:77:02";
const PEER_SUBNET = "10.244.2.0/24";

function routeOk(ns: string): boolean {
  const r = ipj(ns, "route", "show", "proto", "100").find((x: Json) => x.dst === PEER_SUBNET);
  return r?.gateway === "10.244.2.0" && r?.dev === "skein.1";
}

function neighMac(ns: string): string | undefined {
  return ipj(ns, "neigh", "show", "dev", "skein.1").find((x: Json) => x.dst === "10.244.2.0")
    ?.lladdr;
}

function fdbDsts(ns: string): string[] {
  return bridgej(ns, "fdb", "show", "dev", "skein.1")
    .filter((x: Json) => x.mac === PEER_MAC)
    .map((x: Json) => x.dst)
    .sort();
}

function vxlanPort(ns: string): number | undefined {
  return ipj(ns, "-d", "link", "show", "skein.1")[0]?.linkinfo?.info_data?.port;
}

function ipForward(ns: string): string {
  const out = new Deno.Command("ip", {
    args: ["netns", "exec", nsNameOf(ns), "cat", "/proc/sys/net/ipv4/ip_forward"],
    stdout: "piped",
  }).outputSync();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Replaces skein.1 by a foreign vxlan device of that name on port 4789. The daemon is paused
 * meanwhile (it would recreate its device between the two commands); the notifications wait in
 * its monitor's queue and are read when it resumes.
 */
function recreateWithOtherPort(ns: string, d: DaemonProc): void {
  Deno.kill(d.pid, "SIGSTOP");
  try {
    ip(ns, "link", "del", "skein.1");
    ip(
      ns,
      ...["link", "add", "skein.1", "type", "vxlan", "id", "1", "dstport", "4789"],
      ...["dev", "eth0", "local", "192.168.77.1", "nolearning"],
    );
  } finally {
    Deno.kill(d.pid, "SIGCONT");
  }
}

Deno.test("skein daemon heals every kind of kernel drift without waiting for its timer (interval 3600 s)", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-heal-it-" });
    const a = ns.a!;
    let d: DaemonProc | undefined;
    try {
      ip(
        a,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        nsNameOf(ns.b!),
      );
      ip(a, "addr", "add", "192.168.77.1/24", "dev", "eth0");
      ip(ns.b!, "addr", "add", "192.168.77.2/24", "dev", "eth0");
      for (const n of [a, ns.b!]) ip(n, "link", "set", "eth0", "up");
      const listen = `127.0.0.1:${freePort()}`;
      const cfgFile = `${dir}/daemon.yaml`;
      await Deno.writeTextFile(
        cfgFile,
        `name: node-a
network: 10.244.0.0/16
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store, ttl: 600}
iface: eth0
netns: ${a}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 3600
logLevel: debug
`,
      );
      const store = new FileStore({ dir: `${dir}/store` });
      d = new DaemonProc(cfgFile);
      const log = d.log;
      await waitFor("/readyz 200", async () => (await httpGet(listen, "/readyz")).status === 200, {
        ms: 30_000,
        log,
      });
      await store.acquire({
        node: "node-b",
        publicIP: "192.168.77.2",
        backendType: "vxlan",
        backendData: { VtepMAC: PEER_MAC },
        ttlSeconds: 600,
      });
      await waitFor("the route to node-b", () => routeOk(a), { log });

      // The oracle may look while the daemon is recreating the device: a failed look is "not yet".
      const healed = (what: string, ok: () => boolean) =>
        waitFor(what, () => {
          try {
            return ok();
          } catch {
            return false;
          }
        }, { ms: 15_000, log });

      ip(a, "route", "del", PEER_SUBNET);
      await healed("deleted route back", () => routeOk(a));

      ip(a, "neigh", "replace", "10.244.2.0", "lladdr", "0a:00:00:00:00:99", "dev", "skein.1");
      await healed("wrong neighbour corrected", () => neighMac(a) === PEER_MAC);

      new Deno.Command("bridge", {
        args: [
          "-n",
          nsNameOf(a),
          "fdb",
          "replace",
          PEER_MAC,
          "dev",
          "skein.1",
          "dst",
          "192.168.77.99",
          "self",
          "permanent",
        ],
      }).outputSync();
      await healed("wrong FDB entry corrected", () => fdbDsts(a).join() === "192.168.77.2");

      ip(a, "link", "set", "skein.1", "down");
      await healed(
        "device up with its route",
        () => ipj(a, "link", "show", "skein.1")[0]?.flags?.includes("UP") && routeOk(a),
      );

      recreateWithOtherPort(a, d);
      await healed(
        "device recreated on port 8472 with its route",
        () => vxlanPort(a) === 8472 && routeOk(a) && fdbDsts(a).join() === "192.168.77.2",
      );

      // A TTL set by hand (1: the outer packets die at the first router) is drift too.
      ip(a, "link", "set", "skein.1", "type", "vxlan", "ttl", "1");
      await healed(
        "device recreated without a TTL, with its route",
        () =>
          (ipj(a, "-d", "link", "show", "skein.1")[0]?.linkinfo?.info_data?.ttl ?? 0) === 0 &&
          routeOk(a) && fdbDsts(a).join() === "192.168.77.2",
      );

      sysctlSet("net.ipv4.ip_forward", "0", { netns: a });
      await healed("ip_forward back to 1", () => ipForward(a) === "1");

      await Deno.remove(`${dir}/run/subnet.json`);
      await healed("lease file rewritten", () => {
        try {
          return JSON.parse(Deno.readTextFileSync(`${dir}/run/subnet.json`)).subnet ===
            "10.244.1.0/24";
        } catch {
          return false;
        }
      });

      // node-b's VTEP MAC changes (its device was recreated) and nothing else: programmed without
      // the timer (store/informer_test.ts proves the datastore event itself now says so).
      await store.acquire({
        node: "node-b",
        publicIP: "192.168.77.2",
        backendType: "vxlan",
        backendData: { VtepMAC: "0a:00:00:00:77:12" },
        ttlSeconds: 600,
      });
      await healed(
        "node-b's new VTEP MAC in the neighbour and FDB entries",
        () =>
          neighMac(a) === "0a:00:00:00:77:12" &&
          bridgej(a, "fdb", "show", "dev", "skein.1").some((x: Json) =>
            x.mac === "0a:00:00:00:77:12" && x.dst === "192.168.77.2"
          ),
      );

      const m = parsePrometheus((await httpGet(listen, "/metrics")).body);
      assertEquals(m.get('skein_reconcile_total{trigger="timer"}') ?? 0, 0, "the timer never ran");
      assert((m.get('skein_reconcile_total{trigger="kernel"}') ?? 0) >= 6, log());
      assert((m.get('skein_reconcile_total{trigger="file"}') ?? 0) >= 1, log());
      // Each repair echoes back once and finds nothing left to do (measured: 2 runs per drift).
      assert((m.get('skein_reconcile_total{trigger="kernel"}') ?? 0) <= 40, "no reconcile storm");
      // Each kind was seen as drift in the kernel snapshot and repaired; nothing is left.
      for (const kind of ["route", "neigh", "fdb", "device", "sysctl", "lease_file"]) {
        assert(
          (m.get(`skein_kernel_drift_repaired_total{kind="${kind}"}`) ?? 0) >= 1,
          `${kind} drift repaired`,
        );
        assertEquals(m.get(`skein_kernel_drift_objects{kind="${kind}"}`), 0);
      }
      assertEquals(m.get("skein_routes_programmed"), 1);
      assert((m.get("skein_last_reconcile_timestamp_seconds") ?? 0) > Date.now() / 1000 - 60);
      assertEquals((await httpGet(listen, "/readyz")).status, 200);
    } finally {
      await d?.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
});
