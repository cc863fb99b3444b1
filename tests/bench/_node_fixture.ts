/**
 * What the daemon and diagnose benchmarks set up alike: a file store seeded with thousands of
 * leases (what that many daemons would have written), a free port, a metric read.
 *
 * @module
 */
import { encodeLeaseRecord, subnetKey } from "../../store/flannel.ts";
import type { Lease } from "../../store/types.ts";

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The backends the seeded leases and the bench node can use. */
export type BenchBackend = "host-gw" | "vxlan";

/**
 * Writes `n` remote leases straight into a file-store directory (what n daemons would have
 * written); vxlan leases carry a VtepMAC of their own and VNI 1.
 */
export function seedLeases(dir: string, n: number, backend: BenchBackend = "host-gw"): void {
  Deno.mkdirSync(`${dir}/subnets`, { recursive: true });
  const exp = new Date(Date.now() + 3600_000).toISOString();
  for (let i = 0; i < n; i++) {
    const k = i + 2; // 10.128.1.0/24 is left for the daemon itself
    const l: Lease = {
      subnet: `10.${128 + (k >> 8)}.${k & 255}.0/24`,
      publicIP: `172.16.${(k >> 8) & 255}.${(k & 255) || 1}`,
      node: `sim-${i}`,
      backendType: backend,
      expiration: exp,
    };
    if (backend === "vxlan") {
      const hex = (x: number) => (x & 255).toString(16).padStart(2, "0");
      l.backendData = { vtepMAC: `02:00:${hex(k >> 16)}:${hex(k >> 8)}:${hex(k)}:01`, vni: 1 };
    }
    const rec = { Subnet: l.subnet, ...encodeLeaseRecord(l), Expiration: exp };
    Deno.writeTextFileSync(
      `${dir}/subnets/${subnetKey(l.subnet)}.json`,
      JSON.stringify(rec) + "\n",
    );
  }
  Deno.writeTextFileSync(`${dir}/revision`, "1\n");
}

export async function metric(listen: string, name: string): Promise<number | undefined> {
  try {
    const t = await (await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(2000) }))
      .text();
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(t);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes `${dir}/daemon.yaml` for a node "bench-node" (host-gw unless `backend`) on 10.128.0.0/9 in namespace
 * `netns` (eth0 its uplink), its file store at `${dir}/store` (seedLeases()), health on
 * `listen`; `extra` is appended. Returns the file's path.
 */
export function writeBenchNodeConfig(
  o: {
    dir: string;
    netns: string;
    listen: string;
    reconcileInterval: number;
    backend?: BenchBackend;
    extra?: string;
  },
): string {
  const path = `${o.dir}/daemon.yaml`;
  Deno.writeTextFileSync(
    path,
    `name: bench-node
network: 10.128.0.0/9
subnetLen: 24
backend: {type: ${o.backend ?? "host-gw"}}
datastore: {type: file, dir: ${o.dir}/store, ttl: 3600}
iface: eth0
netns: ${o.netns}
listen: ${o.listen}
leaseFile: ${o.dir}/run/subnet.json
subnetEnv: ${o.dir}/run/subnet.env
stateDir: ${o.dir}/state
reconcileInterval: ${o.reconcileInterval}
logLevel: warn
${o.extra ?? ""}`,
  );
  return path;
}
