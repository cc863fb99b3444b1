/**
 * A daemon whose lease another node took while it was stopped (root): it withdraws its lease
 * files, so no CNI ADD hands out the other node's addresses, and writes them again once it holds
 * a lease. Two real daemons on one file store whose pool has a single /24.
 */
import { assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";
import { tryReadLeaseFile } from "../node/lease_file.ts";
import { eth0Pair, ip } from "./net_oracle.ts";

const exists = (path: string): boolean => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

Deno.test({
  name: "daemon: a lease taken by another node withdraws the lease files until one is held again",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withNamespaces(["a", "b"], async (ns) => {
      const dir = Deno.makeTempDirSync({ prefix: "skein-lease-lost-" });
      eth0Pair(ns.a!, ns.b!);
      ip(ns.a!, "addr", "add", "192.168.96.1/24", "dev", "eth0");
      ip(ns.b!, "addr", "add", "192.168.96.2/24", "dev", "eth0");
      for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
      const node = (id: "a" | "b") => {
        const listen = `127.0.0.1:${freePort()}`;
        const file = `${dir}/${id}.yaml`;
        Deno.writeTextFileSync(
          file,
          `name: node-${id}
network: 10.246.0.0/16
subnetMin: 10.246.1.0
subnetMax: 10.246.1.0
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store, ttl: 3}
releaseOnExit: true
iface: eth0
netns: ${ns[id]}
listen: ${listen}
leaseFile: ${dir}/${id}/subnet.json
subnetEnv: ${dir}/${id}/subnet.env
stateDir: ${dir}/${id}/state
`,
        );
        return {
          file,
          listen,
          leaseFile: `${dir}/${id}/subnet.json`,
          env: `${dir}/${id}/subnet.env`,
        };
      };
      const a = node("a"), b = node("b");
      const da = new DaemonProc(a.file);
      let db: DaemonProc | undefined;
      try {
        await waitFor("node-a's lease file", () => tryReadLeaseFile(a.leaseFile)?.subnet, {
          log: da.log,
        });
        assertEquals(tryReadLeaseFile(a.leaseFile)?.subnet, "10.246.1.0/24");
        // Stopped past its TTL: node-b takes the pool's only subnet.
        Deno.kill(da.pid, "SIGSTOP");
        await new Promise((r) => setTimeout(r, 4_500));
        db = new DaemonProc(b.file);
        await waitFor("node-b's lease file", () => tryReadLeaseFile(b.leaseFile)?.subnet, {
          log: db.log,
        });
        assertEquals(tryReadLeaseFile(b.leaseFile)?.subnet, "10.246.1.0/24");
        Deno.kill(da.pid, "SIGCONT");
        await waitFor("node-a to withdraw its lease files", () =>
          !exists(a.leaseFile) && !exists(a.env), { log: da.log, ms: 15_000 });
        assertEquals((await httpGet(a.listen, "/readyz")).status, 503);
        // It keeps them withdrawn while the subnet is node-b's (the files are not rewritten).
        await new Promise((r) =>
          setTimeout(r, 2_000)
        );
        assertEquals(exists(a.leaseFile), false, da.log());
        // node-b leaves and releases the subnet: node-a holds it again and writes its files.
        await db.stop();
        db = undefined;
        await waitFor("node-a's lease file again", () => tryReadLeaseFile(a.leaseFile)?.subnet, {
          log: da.log,
          ms: 20_000,
        });
        assertEquals(tryReadLeaseFile(a.leaseFile)?.subnet, "10.246.1.0/24");
        assertEquals(exists(a.env), true);
      } finally {
        await db?.stop();
        await da.stop();
        Deno.removeSync(dir, { recursive: true });
      }
    }),
});
