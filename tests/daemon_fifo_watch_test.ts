/**
 * A FIFO planted in a directory the daemon watches (root): a hostile or careless process makes
 * one in the lease files' directory (/run/skein) and in the file store's directory. The daemon
 * must never open it to report the change: the watches go on reporting later changes (a removed
 * subnet.env is rewritten at once, with the reconcile timer an hour away; a peer's new lease
 * becomes a route) and SIGTERM still stops the daemon.
 *
 * Before (Deno.watchFs): its watcher thread opened the FIFO and waited for a writer, so no
 * change was noticed after it, and closing the watcher on SIGTERM froze the process.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { withNamespaces } from "./_netns.ts";
import { eth0Pair, ip, ipj, type Json } from "./net_oracle.ts";
import { DaemonProc, freePort, httpGet, waitFor } from "./_daemon_proc.ts";

function config(dir: string, ns: string, listen: string): string {
  return `name: a
network: 10.240.0.0/12
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store}
iface: eth0
netns: ${ns}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
cniSocket: none
reconcileInterval: 3600
logLevel: debug
`;
}

function mkfifo(path: string): void {
  const r = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert(r.success, `mkfifo ${path}`);
}

function isFile(p: string): boolean {
  try {
    return Deno.lstatSync(p).isFile;
  } catch {
    return false;
  }
}

/** skein_reconcile_total{trigger="file"}: reconciles the lease-file watch asked for. */
async function fileReconciles(listen: string): Promise<number> {
  const { status, body } = await httpGet(listen, "/metrics");
  assertEquals(status, 200, body);
  const m = body.match(/^skein_reconcile_total\{[^}]*trigger="file"[^}]*\} (\d+)/m);
  return m ? Number(m[1]) : 0;
}

/** Resolves `p`, or rejects after `ms` with the daemon's log. */
function bounded<T>(what: string, p: Promise<T>, ms: number, log: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms\n${log()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test({
  name:
    "daemon: FIFOs planted in its watched directories: changes still seen, SIGTERM still stops it",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const dir = await Deno.makeTempDir({ prefix: "skein-fifo-watch-" });
      let d: DaemonProc | undefined;
      try {
        eth0Pair(ns.a!, ns.b!);
        ip(ns.a!, "addr", "add", "192.168.78.1/24", "dev", "eth0");
        ip(ns.a!, "link", "set", "eth0", "up");
        const listen = `127.0.0.1:${freePort()}`;
        Deno.writeTextFileSync(`${dir}/a.yaml`, config(dir, ns.a!, listen));
        d = new DaemonProc(`${dir}/a.yaml`);
        const log = d.log;
        await waitFor("ready", async () => (await httpGet(listen, "/readyz")).status === 200, {
          ms: 60_000,
          log,
        });
        // Planted under names of their own, and left there.
        mkfifo(`${dir}/run/planted`);
        mkfifo(`${dir}/store/planted`);
        mkfifo(`${dir}/store/subnets/planted`);
        // The lease-file watch still reports changes: the timer is an hour away, and a reconcile
        // for another reason (a kernel event) would rewrite the file too, so count the watch's.
        const before = await fileReconciles(listen);
        Deno.removeSync(`${dir}/run/subnet.env`);
        await waitFor("subnet.env rewritten", () => isFile(`${dir}/run/subnet.env`), { log });
        await waitFor(
          "a reconcile asked for by the lease-file watch",
          async () => (await fileReconciles(listen)) > before,
          { log },
        );
        // The store's watch still reports a peer's new lease: its route appears.
        const peer = await new FileStore({ dir: `${dir}/store` }).acquire({
          node: "peer-1",
          publicIP: "10.77.0.2",
          backendType: "vxlan",
          backendData: { VtepMAC: "0a:77:00:00:00:01" },
          ttlSeconds: 3600,
        });
        await waitFor(
          "the peer's route",
          () =>
            ipj(ns.a!, "route", "show", "proto", "100").some((r: Json) => r.dst === peer.subnet),
          { log },
        );
        // SIGTERM still stops it, and promptly (before: closing the wedged watcher froze it).
        const st = await bounded("SIGTERM stops the daemon", d.stop("SIGTERM"), 15_000, log);
        assertEquals(st.code, 0, log());
        d = undefined;
      } finally {
        await d?.stop("SIGKILL");
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  },
});
