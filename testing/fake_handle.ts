/**
 * An in-memory NetHandle for unit tests of the backends (no root, no kernel). It keeps links,
 * addresses, routes, neighbours and FDB entries with the kernel's keys and the few kernel rules
 * the backends depend on: a gateway must be on a connected prefix of the output device unless the
 * route is onlink (else ENETUNREACH), `replace` overwrites whatever route has the same key
 * whatever its protocol, deleting a link takes its routes/neighbours/FDB entries with it. Every
 * mutating call is appended to `ops` (e.g. "neigh.set 10.244.2.0") so tests can check ordering.
 * `failOn(pattern)` makes matching calls throw a NetlinkError.
 *
 * @module
 */
import { canonicalCidr, contains, normalizeIp, parseCidr, parseIp } from "../net/cidr.ts";
import { NetlinkError } from "../net/errors.ts";
import type {
  Addr,
  AddrOptions,
  Fdb,
  FdbOptions,
  Link,
  LinkAddOptions,
  LinkSetOptions,
  Neigh,
  NeighOptions,
  NetHandle,
  Route,
  RouteBatchOp,
  RouteFilter,
  RouteGetResult,
  RouteOptions,
} from "../net/types.ts";

const ERR: Record<string, number> = {
  EEXIST: 17,
  ENODEV: 19,
  ENOENT: 2,
  ESRCH: 3,
  ENETUNREACH: 101,
  EOPNOTSUPP: 95,
  EINVAL: 22,
  ENOBUFS: 105,
};

/** An in-memory NetHandle (see the module doc). */
export class FakeHandle implements NetHandle {
  readonly netns = undefined;
  links: Link[] = [];
  addrs: Addr[] = [];
  routes: Route[] = [];
  neighs: Neigh[] = [];
  fdbs: Fdb[] = [];
  /** Every mutating call, in order. */
  ops: string[] = [];
  /** Link kinds linkAdd() refuses with EOPNOTSUPP (like this kernel for "ipip"). */
  unsupportedKinds = new Set<string>();
  #nextIndex = 1;
  #fail: { re: RegExp; code: string }[] = [];

  constructor() {
    this.links.push({
      index: this.#nextIndex++,
      name: "lo",
      mtu: 65536,
      flags: 9,
      up: true,
      operState: "unknown",
    });
  }

  /** Calls whose op text (as in `ops`) matches `re` throw NetlinkError(code). */
  failOn(re: RegExp, code = "EINVAL"): void {
    this.#fail.push({ re, code });
  }

  #op(text: string): void {
    for (const f of this.#fail) {
      if (f.re.test(text)) throw new NetlinkError(`Cannot ${text}`, ERR[f.code] ?? 22);
    }
    this.ops.push(text);
  }

  #idx(link: string | number): number {
    const l = this.linkFind(link);
    if (!l) throw new NetlinkError(`Cannot find device "${link}"`, ERR.ENODEV!);
    return l.index;
  }

  close(): void {}
  [Symbol.dispose](): void {}

  linkList(): Link[] {
    return this.links.map((l) => structuredClone(l));
  }
  linkGet(link: string | number): Link {
    const l = this.linkFind(link);
    if (!l) throw new NetlinkError(`Cannot find device "${link}"`, ERR.ENODEV!);
    return l;
  }
  linkFind(link: string | number): Link | undefined {
    const l = this.links.find((x) => typeof link === "number" ? x.index === link : x.name === link);
    return l ? structuredClone(l) : undefined;
  }
  linkAdd(opts: LinkAddOptions): Link {
    this.#op(`link.add ${opts.name} ${opts.kind}`);
    if (this.unsupportedKinds.has(opts.kind)) {
      throw new NetlinkError(`Cannot add link ${opts.name} type ${opts.kind}`, ERR.EOPNOTSUPP!);
    }
    if (this.links.some((l) => l.name === opts.name)) {
      throw new NetlinkError(`Cannot add link ${opts.name}`, ERR.EEXIST!);
    }
    const link: Link = {
      index: this.#nextIndex++,
      name: opts.name,
      kind: opts.kind,
      mtu: opts.mtu ?? 1500,
      mac: opts.mac ?? "02:00:00:00:00:" + this.#nextIndex.toString(16).padStart(2, "0"),
      flags: opts.up ? 1 : 0,
      up: opts.up ?? false,
      operState: opts.up ? "unknown" : "down",
    };
    if (opts.kind === "vxlan") {
      link.vxlan = {
        vni: opts.vni,
        local: opts.local,
        dev: opts.dev === undefined ? undefined : this.#idx(opts.dev),
        port: opts.port ?? 8472,
        learning: opts.learning ?? true,
      };
    } else if (opts.kind === "ipip") {
      link.ipip = {
        local: opts.local,
        remote: opts.remote,
        dev: opts.dev === undefined ? undefined : this.#idx(opts.dev),
      };
    }
    this.links.push(link);
    return structuredClone(link);
  }
  linkSet(link: string | number, opts: LinkSetOptions): void {
    const i = this.#idx(link);
    this.#op(`link.set ${i} ${JSON.stringify(opts)}`);
    const l = this.links.find((x) => x.index === i)!;
    if (opts.up !== undefined) {
      l.up = opts.up;
      l.operState = opts.up ? "unknown" : "down";
    }
    if (opts.mtu !== undefined) l.mtu = opts.mtu;
    if (opts.mac !== undefined) l.mac = opts.mac;
    if (opts.name !== undefined) l.name = opts.name;
  }
  linkDel(link: string | number): void {
    const i = this.#idx(link);
    this.#op(`link.del ${i}`);
    this.links = this.links.filter((l) => l.index !== i);
    this.addrs = this.addrs.filter((a) => a.index !== i);
    this.routes = this.routes.filter((r) => r.oif !== i);
    this.neighs = this.neighs.filter((n) => n.index !== i);
    this.fdbs = this.fdbs.filter((f) => f.index !== i);
  }

  addrList(filter?: { dev?: string | number; family?: 4 | 6 }): Addr[] {
    const dev = filter?.dev === undefined ? undefined : this.#idx(filter.dev);
    return this.addrs.filter((a) =>
      (dev === undefined || a.index === dev) &&
      (filter?.family === undefined || a.family === filter.family)
    ).map((a) => ({ ...a }));
  }
  addrAdd(opts: AddrOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`addr.add ${opts.cidr} ${i}`);
    const c = parseCidr(opts.cidr);
    if (this.addrs.some((a) => a.index === i && a.cidr === opts.cidr)) {
      throw new NetlinkError(`Cannot add address ${opts.cidr}`, ERR.EEXIST!);
    }
    this.addrs.push({
      index: i,
      cidr: opts.cidr,
      family: c.family,
      scope: typeof opts.scope === "string" ? opts.scope : "universe",
      flags: 0,
    });
  }
  addrReplace(opts: AddrOptions): void {
    const i = this.#idx(opts.dev);
    this.addrs = this.addrs.filter((a) => !(a.index === i && a.cidr === opts.cidr));
    this.addrAdd(opts);
  }
  addrDel(opts: AddrOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`addr.del ${opts.cidr} ${i}`);
    const n = this.addrs.length;
    this.addrs = this.addrs.filter((a) => !(a.index === i && a.cidr === opts.cidr));
    if (this.addrs.length === n) throw new NetlinkError(`Cannot delete address ${opts.cidr}`, 99);
  }

  routeList(filter?: RouteFilter): Route[] {
    const dev = filter?.dev === undefined ? undefined : this.#idx(filter.dev);
    const table = filter?.table ?? 254;
    return this.routes.filter((r) =>
      (table === "all" || r.table === table) &&
      (filter?.family === undefined || r.family === filter.family) &&
      (filter?.protocol === undefined || r.protocol === filter.protocol) &&
      (dev === undefined || r.oif === dev)
    ).map((r) => ({ ...r }));
  }
  #routeFrom(opts: RouteOptions): Route {
    const c = parseCidr(opts.dst);
    const oif = opts.dev === undefined ? undefined : this.#idx(opts.dev);
    if (opts.gateway !== undefined && !opts.onlink) {
      const gw = parseIp(opts.gateway);
      const ok = this.addrs.some((a) => a.index === oif && contains(parseCidr(a.cidr), gw)) ||
        this.routes.some((r) =>
          r.oif === oif && r.gateway === undefined && r.scope === "link" &&
          contains(parseCidr(r.dst), gw)
        );
      if (!ok) {
        throw new NetlinkError(
          `Cannot add route ${opts.dst} via ${opts.gateway}`,
          ERR.ENETUNREACH!,
        );
      }
    }
    if (opts.gateway !== undefined && opts.onlink && c.family === 6) {
      // Like ip6_route_check_nh_onlink(): a non-default route covering the gateway must use the
      // same device.
      const gw = parseIp(opts.gateway);
      const clash = this.routes.some((r) =>
        r.family === 6 && r.type === "unicast" && !r.dst.endsWith("/0") && r.oif !== oif &&
        contains(parseCidr(r.dst), gw)
      );
      if (clash) {
        throw new NetlinkError(
          `Cannot replace route ${opts.dst} via ${opts.gateway}`,
          ERR.EINVAL!,
          "Nexthop has invalid gateway or device mismatch",
        );
      }
    }
    return {
      family: c.family,
      dst: canonicalCidr(opts.dst),
      gateway: opts.gateway === undefined ? undefined : normalizeIp(opts.gateway),
      oif,
      table: opts.table ?? 254,
      protocol: opts.protocol ?? 3,
      scope: typeof opts.scope === "string" ? opts.scope : opts.gateway ? "universe" : "link",
      type: opts.type ?? "unicast",
      onlink: opts.onlink ?? false,
      metric: opts.metric ?? (c.family === 6 ? 1024 : undefined),
      mtu: opts.mtu,
    };
  }
  #sameKey(a: Route, b: Route): boolean {
    const m = (r: Route) => r.metric ?? (r.family === 6 ? 1024 : 0);
    return a.table === b.table && a.dst === b.dst && m(a) === m(b);
  }
  routeAdd(opts: RouteOptions): void {
    this.#op(`route.add ${opts.dst}`);
    const r = this.#routeFrom(opts);
    if (this.routes.some((x) => this.#sameKey(x, r))) {
      throw new NetlinkError(`Cannot add route ${opts.dst}`, ERR.EEXIST!);
    }
    this.routes.push(r);
  }
  routeReplace(opts: RouteOptions): void {
    this.#op(`route.replace ${opts.dst}`);
    const r = this.#routeFrom(opts);
    const i = this.routes.findIndex((x) => this.#sameKey(x, r));
    if (i >= 0) this.routes[i] = r;
    else this.routes.push(r);
  }
  routeDel(opts: RouteOptions): void {
    this.#op(`route.del ${opts.dst}`);
    const dst = canonicalCidr(opts.dst);
    const oif = opts.dev === undefined ? undefined : this.linkFind(opts.dev)?.index;
    const i = this.routes.findIndex((r) =>
      r.dst === dst && r.table === (opts.table ?? 254) &&
      (opts.protocol === undefined || r.protocol === opts.protocol) &&
      (opts.gateway === undefined || r.gateway === normalizeIp(opts.gateway)) &&
      (opts.dev === undefined || r.oif === oif)
    );
    if (i < 0) throw new NetlinkError(`Cannot delete route ${opts.dst}`, ERR.ESRCH!);
    this.routes.splice(i, 1);
  }
  routeBatch(ops: readonly RouteBatchOp[]): (Error | undefined)[] {
    return ops.map((o) => {
      try {
        if (o.op === "add") this.routeAdd(o.route);
        else if (o.op === "replace") this.routeReplace(o.route);
        else this.routeDel(o.route);
        return undefined;
      } catch (e) {
        return e as Error;
      }
    });
  }
  routeGet(dst: string): RouteGetResult {
    throw new NetlinkError(`Cannot get route to ${dst} (not in the fake)`, ERR.EOPNOTSUPP!);
  }

  neighList(filter?: { dev?: string | number; family?: 4 | 6; proxy?: boolean }): Neigh[] {
    const dev = filter?.dev === undefined ? undefined : this.#idx(filter.dev);
    return this.neighs.filter((n) =>
      (dev === undefined || n.index === dev) &&
      (filter?.family === undefined || n.family === filter.family)
    ).map((n) => ({ ...n }));
  }
  neighSet(opts: NeighOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`neigh.set ${opts.ip}`);
    const ip = normalizeIp(opts.ip);
    this.neighs = this.neighs.filter((n) => !(n.index === i && n.ip === ip));
    this.neighs.push({
      index: i,
      family: parseIp(ip).family,
      ip,
      mac: opts.mac,
      state: opts.state ?? "permanent",
      flags: 0,
    });
  }
  neighDel(opts: NeighOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`neigh.del ${opts.ip}`);
    const ip = normalizeIp(opts.ip);
    const n = this.neighs.length;
    this.neighs = this.neighs.filter((x) => !(x.index === i && x.ip === ip));
    if (this.neighs.length === n) {
      throw new NetlinkError(`Cannot delete neighbour ${ip}`, ERR.ENOENT!);
    }
  }

  fdbList(filter?: { dev?: string | number }): Fdb[] {
    const dev = filter?.dev === undefined ? undefined : this.#idx(filter.dev);
    return this.fdbs.filter((f) => dev === undefined || f.index === dev).map((f) => ({ ...f }));
  }
  fdbAppend(opts: FdbOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`fdb.append ${opts.mac} ${opts.dst}`);
    this.fdbs.push({
      index: i,
      mac: opts.mac.toLowerCase(),
      dst: opts.dst,
      self: opts.self ?? true,
      master: false,
      state: opts.state ?? "permanent",
    });
  }
  fdbSet(opts: FdbOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`fdb.set ${opts.mac} ${opts.dst}`);
    const mac = opts.mac.toLowerCase();
    const first = this.fdbs.find((f) => f.index === i && f.mac === mac);
    if (first) first.dst = opts.dst;
    else {
      this.fdbs.push({
        index: i,
        mac,
        dst: opts.dst,
        self: opts.self ?? true,
        master: false,
        state: opts.state ?? "permanent",
      });
    }
  }
  fdbDel(opts: FdbOptions): void {
    const i = this.#idx(opts.dev);
    this.#op(`fdb.del ${opts.mac} ${opts.dst}`);
    const mac = opts.mac.toLowerCase();
    const at = this.fdbs.findIndex((f) =>
      f.index === i && f.mac === mac && (opts.dst === undefined || f.dst === opts.dst)
    );
    if (at < 0) throw new NetlinkError(`Cannot delete FDB entry ${mac}`, ERR.ENOENT!);
    this.fdbs.splice(at, 1);
  }
}
