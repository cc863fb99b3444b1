/**
 * A cluster network that overlaps the node's own LAN (root): the daemon warns, and never leases
 * the subnet that holds its own address (the CNI bridge would take a neighbour's IP there).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, waitFor } from "./_daemon_proc.ts";
import { tryReadLeaseFile } from "../node/lease_file.ts";
import { eth0Pair, ip } from "./net_oracle.ts";

Deno.test({
  name:
    "daemon: a cluster network overlapping the uplink's LAN is warned about; the node's own subnet is never leased",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(["a", "b"], async (ns) => {
      const dir = Deno.makeTempDirSync({ prefix: "skein-underlay-overlap-" });
      eth0Pair(ns.a!, ns.b!);
      ip(ns.a!, "addr", "add", "192.168.90.2/24", "dev", "eth0");
      ip(ns.a!, "link", "set", "eth0", "up");
      Deno.writeTextFileSync(
        `${dir}/a.yaml`,
        `name: node-a
network: 192.168.0.0/16
subnetMin: 192.168.90.0
subnetMax: 192.168.91.0
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store}
iface: eth0
netns: ${ns.a}
listen: 127.0.0.1:${freePort()}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
`,
      );
      const d = new DaemonProc(`${dir}/a.yaml`);
      try {
        const subnet = await waitFor("the lease file", () =>
          tryReadLeaseFile(`${dir}/run/subnet.json`)?.subnet, {
          log: d.log,
        });
        assertEquals(subnet, "192.168.91.0/24", d.log());
        assert(d.log().includes("the cluster network overlaps the uplink's network"), d.log());
        assert(d.log().includes("192.168.90.0/24"), d.log());
      } finally {
        await d.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    }),
});
