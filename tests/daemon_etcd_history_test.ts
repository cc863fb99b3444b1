/**
 * Integration (root): a real `skein daemon` (vxlan, etcd) whose etcd loses its history: killed
 * (SIGKILL), its data directory wiped, started again with a new config and other peers. etcd
 * accepts the daemon's watch from the revision it had reached (over 300) and would wait for it
 * for good: the daemon must notice, re-list (`skein_datastore_relists_total`), say so in its log
 * with both revisions, route to the new peers only, and put its own lease back (the same subnet,
 * free in the new etcd).
 *
 * Everything runs inside test namespaces: etcd and the daemon in "a" (etcd on a's 127.0.0.1,
 * eth0 192.168.95.1/24), the other end of eth0 in "b".
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, httpGet, waitFor } from "./_daemon_proc.ts";
import { etcdAvailable, type TestEtcd, withEtcd } from "./store_etcd_server.ts";
import { ip } from "./net_oracle.ts";
import { skeinRoutes } from "./backends_helpers.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";

const P = "/coreos.com/network";
const CONFIG = '{"Network":"10.248.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
const LISTEN = "127.0.0.1:9472";

const peer = (i: number) =>
  JSON.stringify({
    PublicIP: `192.168.95.${i}`,
    BackendType: "vxlan",
    BackendData: { VtepMAC: `02:00:00:00:00:0${i}` },
    Node: `p${i}`,
  });

/** The subnets under <P>/subnets/ with the node each names. */
function leases(etcd: TestEtcd): Map<string, string> {
  const lines = etcd.ctl("get", "--prefix", `${P}/subnets/`).split("\n").filter((l) => l);
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    out.set(lines[i]!.slice(`${P}/subnets/`.length), JSON.parse(lines[i + 1]!).Node);
  }
  return out;
}

/** Puts the config, `junk` keys (to raise the revision) and the peers `ids`. */
function fill(etcd: TestEtcd, ids: number[], junk = 0): void {
  etcd.ctl("put", `${P}/config`, CONFIG);
  if (junk > 0) {
    // One etcdctl per put is slow: many puts in one curl, one revision each.
    const b64 = (s: string) => btoa(s);
    const args = [];
    for (let i = 0; i < junk; i++) {
      if (i > 0) args.push("--next");
      args.push("-s", "-o", "/dev/null", "--data");
      args.push(JSON.stringify({ key: b64(`/junk/${i}`), value: b64("x") }));
      args.push(`${etcd.endpoint}/v3/kv/put`);
    }
    const out = new Deno.Command("nsenter", { args: [`--net=${etcd.netns}`, "curl", ...args] })
      .outputSync();
    assert(out.success, "the junk puts");
  }
  for (const i of ids) etcd.ctl("put", `${P}/subnets/10.248.${i}.0-24`, peer(i));
}

const routesTo = (ns: string) => skeinRoutes(ns).map((r) => r.split(" ")[0]!).sort().join(" ");

Deno.test({
  name:
    "skein daemon on an etcd wiped and started again: re-lists, routes to the new peers only, its own lease put back",
  ignore: !etcdAvailable("daemon on an etcd that lost its history"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(["a", "b"], async (ns) => {
      ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
      ip(ns.a!, "addr", "add", "192.168.95.1/24", "dev", "eth0");
      ip(ns.b!, "addr", "add", "192.168.95.2/24", "dev", "eth0");
      for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
      await withEtcd(async (etcd) => {
        fill(etcd, [2, 3], 300);
        const dir = await Deno.makeTempDir({ prefix: "skein-etcd-history-" });
        let d: DaemonProc | undefined;
        try {
          const cfgFile = `${dir}/daemon.yaml`;
          await Deno.writeTextFile(
            cfgFile,
            `name: node-a
backend: {type: vxlan}
datastore: {type: etcd, endpoints: [${etcd.endpoint}], ttl: 60}
iface: eth0
netns: ${ns.a}
listen: ${LISTEN}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 30
logLevel: debug
`,
          );
          d = new DaemonProc(cfgFile, { netns: ns.a });
          const log = d.log;
          const ready = async () => (await httpGet(LISTEN, "/readyz", ns.a)).status === 200;
          await waitFor("/readyz 200", ready, { ms: 60_000, log });
          await waitFor("routes to 2 and 3", () =>
            routesTo(ns.a!) === "10.248.2.0/24 10.248.3.0/24", { log });
          const own = [...leases(etcd)].find(([, node]) =>
            node === "node-a"
          )?.[0];
          assert(own, `the daemon's lease: ${JSON.stringify([...leases(etcd)])}`);
          // Two peers for the new etcd, not on the daemon's subnet.
          const next = [4, 5, 6].filter((i) => own !== `10.248.${i}.0-24`).slice(0, 2);

          await etcd.stop();
          await Deno.remove(etcd.dataDir, { recursive: true });
          await etcd.start();
          const t0 = Date.now();
          fill(etcd, next);
          const want = next.map((i) => `10.248.${i}.0/24`).join(" ");
          await waitFor(`routes to ${want} only`, () => routesTo(ns.a!) === want, {
            log,
            ms: 30_000,
          });
          const converged = Date.now() - t0;
          await waitFor(
            "the daemon's lease back in etcd",
            () => leases(etcd).get(own) === "node-a",
            { log, ms: 30_000 },
          );
          const back = Date.now() - t0;
          console.log(`routes converged ${converged} ms, own lease back ${back} ms after etcd`);
          assertEquals([...leases(etcd).values()].filter((n) => n === "node-a").length, 1);
          // The warning may come from the renewal worker's store, after the routes converged.
          await waitFor(
            "the warning",
            () => /etcd lost its history: it is at revision \d+/.test(log()),
            { log, ms: 10_000 },
          );
          assert(/below revision 3\d\d seen before/.test(log()), log());
          const m = parsePrometheus((await httpGet(LISTEN, "/metrics", ns.a)).body);
          const relists = m.get("skein_datastore_relists_total") ?? 0;
          assert(relists >= 1, `skein_datastore_relists_total ${relists}`);
          await waitFor("/readyz 200 after", ready, { log });
        } finally {
          const st = await d?.stop();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
          if (st) assertEquals(st.code, 0, "the daemon exits cleanly");
        }
      }, { dir: "/dev/shm", netns: ns.a });
    }),
});
