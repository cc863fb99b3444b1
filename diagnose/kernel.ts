/**
 * Read-only access to one node's kernel state for the checks: a netlink handle opened in the
 * node's namespace (net/) with every dump taken at most once per diagnosis, sysctls read with
 * synchronous calls inside the namespace, and FIB lookups (RTM_GETROUTE) that return the
 * kernel's error instead of throwing. Nothing here changes kernel state.
 *
 * @module
 */
import {
  type Addr,
  type Fdb,
  type Handle,
  isNetlinkError,
  type Link,
  type LinkStats,
  type Neigh,
  type NeighTable,
  NetlinkError,
  openHandle,
  type Route,
  type RouteGetOptions,
  type RouteGetResult,
  type Rule,
  sysctlPath,
  type TcFilter,
  type TcQdisc,
  withNetns,
} from "../net/mod.ts";

/** A FIB lookup's outcome: the route the kernel picked, or the errno it refused with. */
export type FibAnswer =
  | { ok: true; route: RouteGetResult }
  | { ok: false; code: string; message: string };

/** What a FIB lookup asks (`ip route get DST from SRC iif DEV`). */
export interface FibQuery {
  dst: string;
  src?: string;
  /** Input device: the lookup is for a forwarded packet arriving there. */
  iif?: string;
  /** The packet's firewall mark (policy rules on fwmark see it); undefined: none. */
  mark?: number;
  /** The packet's IP protocol (policy rules on ipproto see it); undefined: not given. */
  ipProto?: number;
}

/**
 * The `sysctl -w` key of a per-device IPv4 setting: `net.ipv4.conf.DEV.KEY`, or the slash form
 * `net/ipv4/conf/DEV/KEY` when the device name has a dot (`skein.1`: sysctl would read the dotted
 * form as conf/skein/1).
 */
export function confKey(dev: string, key: string): string {
  return dev.includes(".") ? `net/ipv4/conf/${dev}/${key}` : `net.ipv4.conf.${dev}.${key}`;
}

/** One node's kernel, read lazily and cached. */
export class Kernel {
  readonly netns?: string;
  #h: Handle;
  #links?: Link[];
  #addrs?: Addr[];
  #routes?: Route[];
  #neighs?: Neigh[];
  #rules?: Rule[];
  #qdiscList?: TcQdisc[];
  #fdbs?: Fdb[];
  #neighTables?: NeighTable[];
  #stats?: Map<number, LinkStats>;
  #sysctls = new Map<string, string | undefined>();
  #tc = new Map<number, TcFilter[]>();
  #qdiscs?: Map<number, Set<string>>;

  /** Opens a handle in `netns` (a path; undefined: this process's namespace). */
  constructor(netns?: string) {
    if (netns !== undefined) this.netns = netns;
    this.#h = openHandle(netns === undefined ? {} : { netns });
  }

  /** The handle itself, for read-only helpers that take one (backends' snapshot()). */
  get handle(): Handle {
    return this.#h;
  }

  /** Closes the handle. */
  close(): void {
    this.#h.close();
  }

  /** `ip link show` */
  links(): Link[] {
    return this.#links ??= this.#h.linkList();
  }

  /** The link called `name` or with index `index`, if any. */
  link(nameOrIndex: string | number): Link | undefined {
    return this.links().find((l) =>
      typeof nameOrIndex === "number" ? l.index === nameOrIndex : l.name === nameOrIndex
    );
  }

  /** The id this namespace gives namespace `path` (a veth peer's link-netnsid), if any. */
  nsidOf(path: string): number | undefined {
    return this.#h.nsidOf(path);
  }

  /** `ip addr show` (IPv4 and IPv6). */
  addrs(): Addr[] {
    return this.#addrs ??= this.#h.addrList();
  }

  /** The link holding address `ip` (without prefix), if any. */
  linkWithAddr(ip: string): Link | undefined {
    const a = this.addrs().find((x) => x.cidr.split("/")[0] === ip);
    return a ? this.link(a.index) : undefined;
  }

  /** `ip route show table all` (IPv4 and IPv6, no cache clones). */
  routes(): Route[] {
    return this.#routes ??= this.#h.routeList({ table: "all" });
  }

  /** `tc -s qdisc show` (every link's). */
  qdiscs(): TcQdisc[] {
    return this.#qdiscList ??= this.#h.tcQdiscList();
  }

  /** `ip -4 rule show`, in preference order. */
  rules(): Rule[] {
    return this.#rules ??= this.#h.ruleList(4);
  }

  /** `ip neigh show` */
  neighs(): Neigh[] {
    return this.#neighs ??= this.#h.neighList();
  }

  /** `bridge fdb show` */
  fdbs(): Fdb[] {
    return this.#fdbs ??= this.#h.fdbList();
  }

  /** `ip -s -4 ntable show`: the IPv4 neighbour tables (the machine's, in any namespace). */
  neighTables(): NeighTable[] {
    return this.#neighTables ??= this.#h.neighTables(4);
  }

  /** `tc filter show dev DEV ingress|egress|root`, cached per link; an error is thrown as is. */
  tcFilters(index: number): TcFilter[] {
    let f = this.#tc.get(index);
    if (!f) {
      this.#qdiscs ??= this.#h.tcQdiscKinds(); // one qdisc dump for every link asked
      f = this.#h.tcFilters(index, this.#qdiscs);
      this.#tc.set(index, f);
    }
    return f;
  }

  /** `ip -s link show`: counters by link index (fresh: counters change). */
  stats(fresh = false): Map<number, LinkStats> {
    if (fresh || !this.#stats) this.#stats = this.#h.linkStats();
    return this.#stats;
  }

  /**
   * `sysctl -n KEY` inside the namespace; undefined when the key does not exist. Keys naming a
   * device use slashes ("net/ipv4/conf/skein.1/rp_filter": the device name may hold dots).
   */
  sysctl(key: string): string | undefined {
    if (!this.#sysctls.has(key)) this.readSysctls([key]);
    return this.#sysctls.get(key);
  }

  /** Reads several sysctls with one namespace switch (synchronous reads only). */
  readSysctls(keys: readonly string[]): void {
    const todo = keys.filter((k) => !this.#sysctls.has(k));
    if (!todo.length) return;
    const read = () => {
      for (const k of todo) {
        try {
          this.#sysctls.set(
            k,
            Deno.readTextFileSync(sysctlPath(k)).trim(),
          );
        } catch {
          this.#sysctls.set(k, undefined);
        }
      }
    };
    if (this.netns === undefined) read();
    else withNetns(this.netns, read);
  }

  /**
   * Device `dev`'s effective arp_ignore: the larger of `all` and the device's, as the kernel
   * applies it (`sysctl net.ipv4.conf.{all,DEV}.arp_ignore`); 8 answers no ARP request at all.
   */
  arpIgnore(dev: string): number {
    const keys = ["net/ipv4/conf/all/arp_ignore", `net/ipv4/conf/${dev}/arp_ignore`];
    this.readSysctls(keys);
    return Math.max(...keys.map((k) => Number(this.sysctl(k) ?? 0)));
  }

  /** Runs `fn` synchronously inside the node's namespace (for /proc/net reads). */
  inside<T>(fn: () => T): T {
    return this.netns === undefined ? fn() : withNetns(this.netns, fn);
  }

  /** `ip route get DST [from SRC] [iif DEV] [mark MARK]`: the kernel's own answer, errors included. */
  fib(q: FibQuery): FibAnswer {
    try {
      // The cached link dump names the devices: one round trip per lookup, not three.
      const opts: RouteGetOptions = { links: this.links() };
      if (q.src !== undefined) opts.src = q.src;
      if (q.iif !== undefined) opts.iif = q.iif;
      if (q.mark !== undefined) opts.mark = q.mark;
      if (q.ipProto !== undefined) opts.ipProto = q.ipProto;
      return { ok: true, route: this.#h.routeGet(q.dst, opts) };
    } catch (e) {
      if (e instanceof NetlinkError) return { ok: false, code: e.code, message: e.message };
      throw e;
    }
  }

  /** True when `e` is the kernel saying a device or entry does not exist. */
  static missing(e: unknown): boolean {
    return isNetlinkError(e, "ENODEV", "ENOENT");
  }
}

/** What the kernel's errno means for a FIB lookup with an input device (measured on 6.x). */
export function fibErrorMeaning(code: string): string {
  switch (code) {
    case "EHOSTUNREACH":
      return "forwarding is disabled on the input device (ip_forward/forwarding = 0)";
    case "ENETUNREACH":
      return "no route matches the destination";
    case "EINVAL":
      return "the kernel refuses the packet: reverse-path filter (rp_filter), a martian source, or a blackhole/prohibit route";
    case "EACCES":
      return "a prohibit route";
    default:
      return `the kernel answered ${code}`;
  }
}

/** `a.b.c.d` of "a.b.c.d/len". */
export function addrOf(cidr: string): string {
  const slash = cidr.indexOf("/");
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/** IFF_NOARP (linux/if.h): the device neither sends nor answers ARP (`ip link set DEV arp off`). */
const IFF_NOARP = 0x80;

/** Whether link flags `flags` carry NOARP. */
export function noArp(flags: number): boolean {
  return (flags & IFF_NOARP) !== 0;
}
