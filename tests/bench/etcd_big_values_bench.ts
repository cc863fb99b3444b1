/**
 * Benchmark (root): peak resident memory (VmHWM) of `skein daemon` (vxlan, etcd) at start-up when
 * `<prefix>/subnets/` holds `--junk` values of `--bytes` bytes each (records no writer makes,
 * under subnet keys of the network), next to the same daemon with none, in one run. Prints the
 * time from start to /readyz 200 too.
 *
 * Run: deno run -A tests/bench/etcd_big_values_bench.ts [--junk 50] [--bytes 1000000] [--runs 3]
 *
 * etcd and each daemon run inside throwaway namespaces (etcd on the namespace's 127.0.0.1).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withNamespaces } from "../_netns.ts";
import { DaemonProc, httpGet, waitFor } from "../_daemon_proc.ts";
import { type TestEtcd, withEtcd } from "../store_etcd_server.ts";
import { ip } from "../net_oracle.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    junk: { type: "string", default: "50" },
    bytes: { type: "string", default: "1000000" },
    runs: { type: "string", default: "3" },
  },
});
const P = "/coreos.com/network";
const LISTEN = "127.0.0.1:9472";

function b64(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) out += String.fromCharCode(b);
  return btoa(out);
}

/** Puts `n` values of `bytes` bytes under subnet keys 10.248.100.0/24 on (one curl each). */
async function putJunk(etcd: TestEtcd, n: number, bytes: number, dir: string): Promise<void> {
  const value = b64("x".repeat(bytes));
  for (let i = 0; i < n; i++) {
    const file = `${dir}/junk.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ key: b64(`${P}/subnets/10.248.${100 + i}.0-24`), value }),
    );
    const out = await new Deno.Command("nsenter", {
      args: [
        `--net=${etcd.netns}`,
        "curl",
        "-s",
        "--fail",
        "--data-binary",
        `@${file}`,
        `${etcd.endpoint}/v3/kv/put`,
      ],
      stdout: "null",
    }).output();
    if (!out.success) throw new Error(`put junk ${i}: curl exit ${out.code}`);
  }
}

/** VmHWM (peak resident set) of `pid`, in MiB. */
function peakMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Starts a daemon in `ns` against `etcd`; its peak RSS (MiB) and ms to /readyz 200. */
async function measure(ns: string, etcd: TestEtcd, dir: string): Promise<[number, number]> {
  const cfg = `${dir}/daemon.yaml`;
  await Deno.writeTextFile(
    cfg,
    `name: node-a
backend: {type: vxlan}
datastore: {type: etcd, endpoints: [${etcd.endpoint}], ttl: 60}
iface: eth0
netns: ${ns}
listen: ${LISTEN}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
releaseOnExit: true
`,
  );
  const t0 = performance.now();
  const d = new DaemonProc(cfg, { netns: ns });
  try {
    await waitFor(
      "/readyz 200",
      async () => (await httpGet(LISTEN, "/readyz", ns)).status === 200,
      {
        ms: 120_000,
        everyMs: 50,
        log: d.log,
      },
    );
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    return [peakMiB(d.pid), ms];
  } finally {
    await d.stop();
  }
}

const junk = Number(flags.junk);
const bytes = Number(flags.bytes);
const runs = Number(flags.runs);
await withNamespaces(["a", "b"], async (ns) => {
  ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
  ip(ns.a!, "addr", "add", "192.168.95.1/24", "dev", "eth0");
  ip(ns.b!, "addr", "add", "192.168.95.2/24", "dev", "eth0");
  for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
  await withEtcd(async (etcd) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-etcd-bench-" });
    try {
      etcd.ctl(
        "put",
        `${P}/config`,
        '{"Network":"10.248.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
      );
      for (const [label, n] of [["no junk", 0], [`${junk} x ${bytes} B junk`, junk]] as const) {
        if (n > 0) await putJunk(etcd, n, bytes, dir);
        for (let r = 0; r < runs; r++) {
          const [mib, ms] = await measure(ns.a!, etcd, dir);
          console.log(
            `${label}: peak RSS ${mib.toFixed(1)} MiB, /readyz after ${ms.toFixed(0)} ms`,
          );
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }, { dir: "/dev/shm", netns: ns.a });
});
