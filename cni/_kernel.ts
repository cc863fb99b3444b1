/**
 * Small kernel helpers the modes share: tolerant deletes, idempotent address adds, forwarding
 * sysctls. All synchronous (they may run inside a namespace switch) and all through net/mod.ts.
 *
 * @module
 */
import { type Handle, isNetlinkError, type Link, type NetHandle } from "../net/mod.ts";
import type { KernelMonitor } from "../net/monitor.ts";
import { ensureSysctl, netnsSysctl } from "../node/sysctl.ts";
import { CniCode, CniError } from "./errors.ts";
import { parseCidr } from "../net/cidr.ts";

/** Turns a kernel failure into a CniError that says what failed. */
export function kernelError(what: string, e: unknown): CniError {
  if (e instanceof CniError) return e;
  return new CniError(CniCode.Internal, what, (e as Error)?.message ?? String(e), { cause: e });
}

/** Runs `fn`, rethrowing any failure as a CniError whose message starts with `what`. */
export function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw kernelError(what, e);
  }
}

/** `ip link del X`, treating "no such device" as success. */
export function linkDelIfExists(h: NetHandle, name: string): boolean {
  try {
    h.linkDel(name);
    return true;
  } catch (e) {
    if (isNetlinkError(e, "ENODEV", "ENOENT")) return false;
    throw e;
  }
}

/**
 * linkDelIfExists() with the kernel's part on a helper thread (Handle.linkDelAsync): resolves
 * to true when a link was deleted, false when there was none.
 */
export async function linkDelIfExistsAsync(h: Handle, name: string | number): Promise<boolean> {
  try {
    await h.linkDelAsync(name);
    return true;
  } catch (e) {
    if (isNetlinkError(e, "ENODEV", "ENOENT")) return false;
    throw e;
  }
}

/**
 * linkDelIfExistsAsync() for a process that outlives the call (the daemon): resolves as soon as
 * the kernel has unregistered the link, which its RTM_DELLINK notification says, instead of when
 * the delete call returns. A veth's delete call returns ~15 ms later: after unregistering it
 * (name, addresses and routes gone, under the RTNL lock) and releasing the lock, the kernel waits
 * in netdev_run_todo()'s rcu_barrier() before freeing it; nothing can fail any more by then. The
 * call finishes on its helper thread meanwhile (a plugin process could not exit before it does).
 * Without a notification (the monitor cannot be opened, notifications were lost) it waits for
 * the call's own answer, so every failure is reported as linkDelIfExistsAsync() reports it.
 */
export async function linkDelUnregistered(h: Handle, name: string): Promise<boolean> {
  const link = h.linkFind(name);
  if (!link) return false;
  let mon: KernelMonitor | undefined;
  try {
    const { KernelMonitor } = await import("../net/monitor.ts");
    mon = KernelMonitor.open({ netns: h.netns, groups: ["link"], rcvbuf: 1 << 20 });
  } catch {
    mon = undefined;
  }
  const del = linkDelIfExistsAsync(h, link.index);
  if (!mon) return await del;
  const m = mon;
  del.catch(() => {}).finally(() => m.close());
  return await Promise.race([del, unregistered(m, link).then((seen) => seen ? true : del)]);
}

/**
 * True once the monitor reports `link`'s RTM_DELLINK: same index, same kind (a bridge port's
 * AF_BRIDGE notification for the same index carries no kind); false when the monitor closes
 * first or lost notifications.
 */
async function unregistered(mon: KernelMonitor, link: Link): Promise<boolean> {
  while (true) {
    for (const ev of mon.read()) {
      if (ev.kind === "lost") return false;
      if (
        ev.kind === "link" && ev.op === "del" && ev.link.index === link.index &&
        ev.link.kind === link.kind
      ) return true;
    }
    if (!await mon.wait()) return false;
  }
}

/** `ip addr add CIDR dev DEV` unless the link already has that address (v6 without DAD). */
export function ensureAddr(h: NetHandle, dev: string | number, cidr: string): void {
  const c = parseCidr(cidr);
  const have = h.addrList({ dev, family: c.family });
  if (have.some((a) => sameCidr(a.cidr, cidr))) return;
  try {
    h.addrAdd({ dev, cidr, nodad: c.family === 6 });
  } catch (e) {
    if (!isNetlinkError(e, "EEXIST")) throw e;
  }
}

function sameCidr(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.family === y.family && x.prefix === y.prefix && x.ip.value === y.ip.value;
}

/**
 * Turns on IP forwarding for the families in use, in the namespace the plugin runs in
 * (`hostNetns` when that is not this process's).
 */
export function enableForwarding(families: Iterable<4 | 6>, hostNetns?: string): void {
  for (const f of new Set(families)) {
    step(`cannot enable IPv${f} forwarding`, () => {
      if (f === 4) ensureSysctl("net.ipv4.ip_forward", "1", netnsSysctl(hostNetns));
      else ensureSysctl("net.ipv6.conf.all.forwarding", "1", netnsSysctl(hostNetns));
    });
  }
}
