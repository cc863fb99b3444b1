/**
 * Who holds a UDP port in a node's namespace (`ss -H -ulpn 'sport = :PORT'`): the bound sockets
 * from /proc/net/udp read inside it, and the process owning each (its fd naming the socket's
 * inode). A VXLAN device that is down cannot come up while another socket holds its port: the
 * kernel refuses `ip link set DEV up` with EADDRINUSE.
 *
 * @module
 */
import type { Kernel } from "../kernel.ts";

/** A socket bound to the port. */
export interface PortHolder {
  /** Local address ("0.0.0.0" for any). */
  address: string;
  inode: number;
  /** "pid 123 (python3)" when a process's fd names the socket. */
  owner?: string;
}

/** The IPv4 UDP sockets bound to `port` in /proc/net/udp text (a kernel socket has inode 0). */
export function parseUdpHolders(text: string, port: number): PortHolder[] {
  return socketsOn(text, port);
}

/**
 * The sockets of a /proc/net/{udp,tcp} table bound to local `port`, only those in `state` (the
 * `st` column, "0A" TCP_LISTEN) when given.
 */
function socketsOn(text: string, port: number, state?: string): PortHolder[] {
  const out: PortHolder[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    const m = /^([0-9A-Fa-f]{8}):([0-9A-Fa-f]{4})$/.exec(f[1] ?? "");
    if (!m || parseInt(m[2]!, 16) !== port || (state !== undefined && f[3] !== state)) continue;
    const v = parseInt(m[1]!, 16); // little-endian u32 as the kernel prints it
    out.push({
      address: [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24].join("."),
      inode: Number(f[9] ?? 0),
    });
  }
  return out;
}

/** The process whose fd is socket `inode` ("pid N (comm)"), scanning /proc. */
function ownerOf(inode: number): string | undefined {
  const pid = ownerPid(inode);
  if (pid === undefined) return undefined;
  try {
    return `pid ${pid} (${Deno.readTextFileSync(`/proc/${pid}/comm`).trim()})`;
  } catch {
    return `pid ${pid}`;
  }
}

/** The pid whose fd is socket `inode`, scanning /proc. */
function ownerPid(inode: number): number | undefined {
  const want = `socket:[${inode}]`;
  for (const p of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    try {
      for (const fd of Deno.readDirSync(`/proc/${p.name}/fd`)) {
        if (Deno.readLinkSync(`/proc/${p.name}/fd/${fd.name}`) === want) return Number(p.name);
      }
    } catch { /* gone, or not ours to read */ }
  }
  return undefined;
}

/**
 * The inodes of the IPv4 TCP sockets listening (state 0A) on `port` in /proc/net/tcp text, with
 * their address.
 */
export function parseTcpListeners(text: string, port: number): PortHolder[] {
  return socketsOn(text, port, "0A");
}

/**
 * The process listening on TCP `port` in this process's network namespace (the daemon's HTTP
 * port): its pid, or undefined.
 */
export function tcpListenerPid(port: number): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/thread-self/net/tcp");
  } catch {
    return undefined;
  }
  const l = parseTcpListeners(text, port).find((h) => h.inode !== 0);
  return l ? ownerPid(l.inode) : undefined;
}

/** The user sockets bound to UDP `port` in the node's namespace, with their processes. */
export function udpPortHolders(k: Kernel, port: number): PortHolder[] {
  let text: string;
  try {
    text = k.inside(() => Deno.readTextFileSync("/proc/thread-self/net/udp"));
  } catch {
    return [];
  }
  return parseUdpHolders(text, port).filter((h) => h.inode !== 0).map((h) => {
    const owner = ownerOf(h.inode);
    return owner ? { ...h, owner } : h;
  });
}
