/**
 * Integration (root): a real `skein daemon` (host-gw) whose etcd answers through a hostile proxy
 * (tests/_hostile_proxy.ts): while every answer is an HTML page, then while none comes and the
 * watch went half-open, the daemon keeps the route it has, says so on /readyz and in its log with
 * the server's words, and once etcd answers again it is ready and follows a lease written meanwhile.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { EtcdStore } from "../store/etcd.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";
import { startHostileProxy } from "./_hostile_proxy.ts";
import { etcdAvailable, withEtcd } from "./store_etcd_server.ts";
import { ipJson } from "./backends_helpers.ts";

const routes = (ns: string) =>
  ipJson<{ dst: string; gateway?: string }>(ns, "route", "show", "proto", "100")
    .map((r) => `${r.dst} via ${r.gateway}`).sort();

Deno.test({
  name:
    "skein daemon on an etcd that answers garbage, then nothing: routes kept, /readyz and the log say why, converges after",
  ignore: !etcdAvailable("daemon on a hostile etcd"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withEtcd(async (etcd) => {
      await withNamespaces(["a", "b"], async (ns) => {
        const dir = await Deno.makeTempDir({ prefix: "skein-etcd-hostile-" });
        const proxy = startHostileProxy({ upstream: etcd.endpoint });
        const truth = new EtcdStore({ endpoints: [etcd.endpoint] });
        let d: DaemonProc | undefined;
        try {
          ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
          ip(ns.a!, "addr", "add", "192.168.77.1/24", "dev", "eth0");
          ip(ns.b!, "addr", "add", "192.168.77.2/24", "dev", "eth0");
          for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
          await truth.putNetworkConfigIfAbsent({
            network: "10.244.0.0/16",
            subnetLen: 24,
            backend: { type: "host-gw" },
          });
          const peer = (node: string, ip4: string) =>
            truth.acquire({ node, publicIP: ip4, backendType: "host-gw", ttlSeconds: 600 });
          const b = await peer("node-b", "192.168.77.2");
          const listen = `127.0.0.1:${freePort()}`;
          const cfgFile = `${dir}/daemon.yaml`;
          await Deno.writeTextFile(
            cfgFile,
            `name: node-a
network: 10.244.0.0/16
backend: {type: host-gw}
datastore: {type: etcd, endpoints: [${proxy.url}], ttl: 30}
iface: eth0
netns: ${ns.a}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 2
logLevel: debug
`,
          );
          d = new DaemonProc(cfgFile);
          const log = d.log;
          const ready = async () => (await httpGet(listen, "/readyz")).status === 200;
          await waitFor("/readyz 200", ready, { ms: 60_000, log });
          const want = `${b.subnet} via 192.168.77.2`;
          await waitFor("the route to node-b", () => routes(ns.a!).includes(want), { log });

          for (const mode of ["garbage", "hang"] as const) {
            proxy.mode = mode;
            proxy.silence(); // the open watch goes half-open
            const r = await waitFor(`/readyz to say the datastore fails (${mode})`, async () => {
              const r = await httpGet(listen, "/readyz");
              return r.status === 503 ? r : undefined;
            }, { ms: 60_000, log });
            if (mode === "garbage") {
              assert(/not a JSON object/.test(r.body + log()), `${r.body}\n${log()}`);
            }
            const end = Date.now() + 6000;
            while (Date.now() < end) {
              assert(routes(ns.a!).includes(want), `the route went while etcd was ${mode}`);
              await new Promise((res) => setTimeout(res, 200));
            }
            proxy.mode = "pass";
          }
          const c = await peer("node-c", "192.168.77.3");
          await waitFor("/readyz 200 again", ready, { ms: 60_000, log });
          await waitFor(
            "the route to node-c, written while the daemon's watch was half-open",
            () => routes(ns.a!).includes(`${c.subnet} via 192.168.77.3`),
            { ms: 60_000, log },
          );
          assertEquals(d.child.pid > 0, true);
        } finally {
          const st = await d?.stop();
          await proxy.close();
          await truth.close();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
          if (st) assertEquals(st.code, 0, "the daemon exits cleanly");
        }
      });
    }),
});
