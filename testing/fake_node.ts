/**
 * Shared fixtures for the backends' unit tests: a fake node with an uplink, leases, and a
 * backend context with an in-memory sysctl table.
 *
 * @module
 */
import type { Lease } from "../store/types.ts";
import { type BackendContext, validateOptions } from "../backends/_context.ts";
import { FakeHandle } from "./fake_handle.ts";
import type { BackendType } from "../backends/types.ts";

/** A lease for node `n` (10.244.n.0/24 at 192.168.1.(10+n)). */
export function lease(n: number, extra: Partial<Lease> = {}): Lease {
  return {
    subnet: `10.244.${n}.0/24`,
    publicIP: `192.168.1.${10 + n}`,
    node: `node${n}`,
    backendType: "",
    backendData: { vtepMAC: `0a:00:00:00:00:${n.toString(16).padStart(2, "0")}` },
    expiration: "2099-01-01T00:00:00Z",
    ...extra,
  };
}

/** A fake node: FakeHandle with eth0 (192.168.1.11/24, fd00:1::11/64), and a context for it. */
export function fakeNode(
  type: BackendType,
  opts: { mtu?: number; stateDir?: string; settings?: Record<string, unknown> } = {},
): { h: FakeHandle; ctx: BackendContext; sysctl: Map<string, string>; self: Lease } {
  const h = new FakeHandle();
  const eth0 = h.linkAdd({ kind: "dummy", name: "eth0", mtu: 1500, up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.1.11/24" });
  h.addrAdd({ dev: "eth0", cidr: "fd00:1::11/64" });
  h.ops.length = 0;
  const sysctl = new Map<string, string>([["net.ipv4.ip_forward", "0"]]);
  const ctx = validateOptions({
    type,
    handle: h,
    uplink: { name: "eth0", index: eth0.index, mtu: 1500 },
    publicIP: "192.168.1.11",
    node: "node1",
    mtu: opts.mtu,
    stateDir: opts.stateDir,
    ...(opts.settings ? { settings: opts.settings } : {}),
  }, { get: (k) => sysctl.get(k), set: (k, v) => void sysctl.set(k, v) });
  return { h, ctx, sysctl, self: lease(1) };
}
