/**
 * The datastore's network config turned unusable under a running daemon (root): the daemon
 * keeps its routes and lease files, and says what is wrong (an unusable config, not an
 * unreachable datastore) until the config is fixed.
 */
import { assert, assertRejects, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";
import { eth0Pair, ip } from "./net_oracle.ts";
import { FileStore } from "../store/file.ts";
import { BadNetworkConfigError } from "../store/errors.ts";

Deno.test({
  name:
    "daemon: an unusable network config in the datastore is named as such; routes and readiness come back",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(["a", "b"], async (ns) => {
      const dir = Deno.makeTempDirSync({ prefix: "skein-bad-config-" });
      eth0Pair(ns.a!, ns.b!);
      ip(ns.a!, "addr", "add", "192.168.94.1/24", "dev", "eth0");
      ip(ns.a!, "link", "set", "eth0", "up");
      const store = new FileStore({ dir: `${dir}/store` });
      await store.putNetworkConfigIfAbsent({
        network: "10.243.0.0/16",
        subnetLen: 24,
        backend: { type: "host-gw" },
      });
      const listen = `127.0.0.1:${freePort()}`;
      Deno.writeTextFileSync(
        `${dir}/a.yaml`,
        `name: node-a
backend: {type: host-gw}
datastore: {type: file, dir: ${dir}/store}
iface: eth0
netns: ${ns.a}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 1
`,
      );
      const d = new DaemonProc(`${dir}/a.yaml`);
      try {
        await waitFor(
          "/readyz 200",
          async () => (await httpGet(listen, "/readyz")).status === 200,
          {
            log: d.log,
          },
        );
        const good = Deno.readTextFileSync(`${dir}/store/config.json`);
        Deno.writeTextFileSync(`${dir}/store/config.json`, '{"Network": ');
        await assertRejects(
          () => new FileStore({ dir: `${dir}/store` }).getNetworkConfig(),
          BadNetworkConfigError,
        );
        const r = await waitFor("/readyz 503", async () => {
          const r = await httpGet(listen, "/readyz");
          return r.status === 503 ? r : undefined;
        }, { log: d.log });
        assertStringIncludes(r.body, "the datastore's network config is unusable");
        assert(!r.body.includes("unreachable"), r.body);
        Deno.writeTextFileSync(`${dir}/store/config.json`, good);
        await waitFor(
          "/readyz 200 again",
          async () => (await httpGet(listen, "/readyz")).status === 200,
          {
            log: d.log,
          },
        );
      } finally {
        await d.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    }),
});
