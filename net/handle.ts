/**
 * `openHandle({ netns })`: a netlink handle bound to one network namespace, with verbs shaped
 * like iproute2 commands (vishvananda/netlink's Handle). The socket is created inside the
 * namespace (setns → socket → setns back) and stays there; every later call is an ordinary
 * synchronous netlink exchange that does not switch namespaces.
 *
 * @module
 */
import { isNetlinkError, NetlinkError } from "./errors.ts";
import { closeFd, openNetnsFd, withNetns } from "./netns.ts";
import { getNum, NetlinkDecodeError } from "./nl/attr.ts";
import * as C from "./nl/consts.ts";
import { checkIfname } from "./nl/ifname.ts";
import type { NlMessage } from "./nl/message.ts";
import {
  bridgePortHairpinRequest,
  linkAddRequest,
  type LinkAddSpec,
  linkDelRequest,
  linkDumpRequest,
  linkFromMessage,
  linkGetRequest,
  linkSetRequest,
  type LinkSetSpec,
  linkStatsFromMessage,
} from "./nl/link.ts";
import { addrDumpRequest, addrFromMessage, addrRequest, parseScope } from "./nl/addr.ts";
import {
  describeRoute,
  routeDumpRequest,
  routeFromBytes,
  routeFromMessage,
  routeGetRequest,
  routeRequest,
  type RouteSpec,
} from "./nl/route.ts";
import {
  fdbDumpRequest,
  fdbFromMessage,
  fdbRequest,
  neighDumpRequest,
  neighFromMessage,
  neighRequest,
} from "./nl/neigh.ts";
import { ruleDumpRequest, ruleFromMessage } from "./nl/rule.ts";
import { neighTableDumpRequest, neighTableFromMessage } from "./nl/neightbl.ts";
import { NetlinkSocket } from "./socket.ts";
import {
  tcFilterDumpRequest,
  tcFilterFromMessage,
  tcQdiscDumpRequest,
  tcQdiscFromMessage,
  tcQdiscInfoFromMessage,
} from "./nl/tc.ts";
import type {
  Addr,
  AddrOptions,
  Fdb,
  FdbOptions,
  Link,
  LinkAddOptions,
  LinkSetOptions,
  LinkStats,
  Neigh,
  NeighOptions,
  NeighTable,
  NetHandle,
  NetnsRef,
  Route,
  RouteBatchOp,
  RouteFilter,
  RouteGetOptions,
  RouteGetResult,
  RouteOptions,
  Rule,
  TcFilter,
  TcHook,
  TcQdisc,
} from "./types.ts";

/** Options for openHandle(). */
export interface OpenHandleOptions {
  /** Namespace to bind the handle to: a name under /run/netns, a path, or a pid. Default: the current one. */
  netns?: NetnsRef;
}

/**
 * Opens a handle bound to `netns` (or the current namespace).
 *
 * ```ts ignore
 * using h = openHandle({ netns: "node1" });
 * h.routeReplace({ dst: "10.244.2.0/24", gateway: "192.168.1.48", dev: "eth0" });
 * ```
 */
export function openHandle(opts: OpenHandleOptions = {}): Handle {
  const sock = opts.netns === undefined
    ? NetlinkSocket.open()
    : withNetns(opts.netns, () => NetlinkSocket.open());
  return new Handle(sock, opts.netns);
}

function famOf(f: 4 | 6 | undefined): number {
  return f === 4 ? C.AF_INET : f === 6 ? C.AF_INET6 : C.AF_UNSPEC;
}

/** An op routeBatch() can send: add, replace or del. */
function validBatchOp(o: RouteBatchOp | undefined): o is RouteBatchOp {
  return o?.op === "add" || o?.op === "replace" || o?.op === "del";
}

function devText(dev: string | number | undefined): string {
  return dev === undefined ? "" : typeof dev === "number" ? ` dev #${dev}` : ` dev ${dev}`;
}

/** A netlink handle (see NetHandle in types.ts for each verb's iproute2 equivalent). */
export class Handle implements NetHandle {
  readonly netns?: NetnsRef;
  #sock: NetlinkSocket;

  constructor(sock: NetlinkSocket, netns?: NetnsRef) {
    this.#sock = sock;
    if (netns !== undefined) this.netns = netns;
  }

  close(): void {
    this.#sock.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Sends a prepared request and waits for its ACK. */
  request(msg: NlMessage, operation: string): void {
    this.#sock.request(msg, operation);
  }

  // -------------------------------------------------------------------------------------------
  // Links

  /** Resolves a link name or index to an index (ENODEV NetlinkError with `operation` if absent). */
  index(link: string | number, operation: string): number {
    if (typeof link === "number") {
      if (!Number.isInteger(link) || link <= 0) {
        throw new TypeError(`${operation}: link index ${link} is not a positive integer`);
      }
      return link;
    }
    if (typeof link !== "string") throw new TypeError(`${operation}: a link is a name or an index`);
    checkIfname(link);
    return this.#sock.get(linkGetRequest(link), operation).header["index"] ?? 0;
  }

  linkList(): Link[] {
    return this.#sock.dump(linkDumpRequest(), "Cannot list links").map(linkFromMessage);
  }

  linkGet(link: string | number): Link {
    if (typeof link === "number" && (!Number.isInteger(link) || link <= 0)) {
      throw new TypeError(`Cannot find link ${link}: an index is a positive integer`);
    }
    return linkFromMessage(this.#sock.get(linkGetRequest(link), `Cannot find link ${link}`));
  }

  linkFind(link: string | number): Link | undefined {
    try {
      return this.linkGet(link);
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENODEV") return undefined;
      throw e;
    }
  }

  linkAdd(opts: LinkAddOptions): Link {
    const kind = opts?.kind;
    const op = `Cannot add link ${opts?.name} (type ${kind})`;
    if (!["veth", "bridge", "vxlan", "ipip", "dummy"].includes(kind)) {
      throw new TypeError(`${op}: kind must be veth, bridge, vxlan, ipip or dummy`);
    }
    checkIfname(opts.name);
    const fds: number[] = [];
    try {
      const spec: LinkAddSpec = { kind, name: opts.name };
      if (opts.mtu !== undefined) spec.mtu = opts.mtu;
      if (opts.mac !== undefined) spec.mac = opts.mac;
      if (opts.txqlen !== undefined) spec.txqlen = opts.txqlen;
      if (opts.up) spec.up = true;
      if (opts.master !== undefined) {
        spec.masterIndex = this.index(opts.master, `${op}: master ${opts.master}`);
      }
      switch (opts.kind) {
        case "veth": {
          if (!opts.peer?.name) throw new TypeError(`${op}: peer.name is required`);
          const p = opts.peer;
          spec.peer = { name: p.name };
          if (p.mtu !== undefined) spec.peer.mtu = p.mtu;
          if (p.mac !== undefined) spec.peer.mac = p.mac;
          if (p.netns !== undefined) {
            spec.peer.netnsFd = openNetnsFd(p.netns);
            fds.push(spec.peer.netnsFd);
          }
          break;
        }
        case "bridge": {
          spec.bridge = {};
          if (opts.stp !== undefined) spec.bridge.stp = opts.stp;
          if (opts.vlanFiltering !== undefined) spec.bridge.vlanFiltering = opts.vlanFiltering;
          break;
        }
        case "vxlan": {
          const { vni, local, port, learning, udpCsum, udp6ZeroCsumTx, udp6ZeroCsumRx, ttl } = opts;
          if (vni === undefined) throw new TypeError(`${op}: vni is required`);
          spec.vxlan = { vni };
          if (opts.dev !== undefined) {
            spec.vxlan.linkIndex = this.index(opts.dev, `${op}: dev ${opts.dev}`);
          }
          if (local !== undefined) spec.vxlan.local = local;
          if (port !== undefined) spec.vxlan.port = port;
          if (learning !== undefined) spec.vxlan.learning = learning;
          if (udpCsum !== undefined) spec.vxlan.udpCsum = udpCsum;
          if (udp6ZeroCsumTx !== undefined) spec.vxlan.udp6ZeroCsumTx = udp6ZeroCsumTx;
          if (udp6ZeroCsumRx !== undefined) spec.vxlan.udp6ZeroCsumRx = udp6ZeroCsumRx;
          if (ttl !== undefined) spec.vxlan.ttl = ttl;
          break;
        }
        case "ipip": {
          spec.ipip = {};
          if (opts.local !== undefined) spec.ipip.local = opts.local;
          if (opts.remote !== undefined) spec.ipip.remote = opts.remote;
          if (opts.ttl !== undefined) spec.ipip.ttl = opts.ttl;
          if (opts.pmtudisc !== undefined) spec.ipip.pmtudisc = opts.pmtudisc;
          if (opts.dev !== undefined) {
            spec.ipip.linkIndex = this.index(opts.dev, `${op}: dev ${opts.dev}`);
          }
          break;
        }
      }
      if (opts.netns !== undefined) {
        spec.netnsFd = openNetnsFd(opts.netns);
        fds.push(spec.netnsFd);
      }
      this.#sock.request(linkAddRequest(spec), op);
    } finally {
      for (const fd of fds) closeFd(fd);
    }
    if (opts.netns === undefined) return this.linkGet(opts.name);
    using other = openHandle({ netns: opts.netns });
    return other.linkGet(opts.name);
  }

  linkSet(link: string | number, opts: LinkSetOptions): void {
    const changes = Object.entries(opts ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) =>
      `${k} ${v}`
    );
    const op = `Cannot set link ${link} (${changes.join(", ") || "nothing"})`;
    if (!changes.length) throw new TypeError(`${op}: no change given`);
    const index = this.index(link, op);
    const spec: LinkSetSpec = {};
    if (opts.up !== undefined) spec.up = opts.up;
    if (opts.promisc !== undefined) spec.promisc = opts.promisc;
    if (opts.mtu !== undefined) spec.mtu = opts.mtu;
    if (opts.mac !== undefined) spec.mac = opts.mac;
    if (opts.txqlen !== undefined) spec.txqlen = opts.txqlen;
    if (opts.name !== undefined) spec.name = opts.name;
    if (opts.master !== undefined) {
      spec.masterIndex = opts.master === null ? 0 : this.index(opts.master, `${op}: master`);
    }
    // Order: plain changes (incl. master), then hairpin (needs the bridge port), then the move.
    if (Object.keys(spec).length) this.#sock.request(linkSetRequest(index, spec), op);
    if (opts.hairpin !== undefined) {
      this.#sock.request(bridgePortHairpinRequest(index, opts.hairpin), op);
    }
    if (opts.netns !== undefined) {
      const fd = openNetnsFd(opts.netns);
      try {
        this.#sock.request(linkSetRequest(index, { netnsFd: fd }), op);
      } finally {
        closeFd(fd);
      }
    }
  }

  linkDel(link: string | number): void {
    const op = `Cannot delete link ${link}`;
    this.#sock.request(linkDelRequest(this.index(link, op)), op);
  }

  /**
   * `ip link del X` with the kernel's part on a helper thread: the promise settles when the
   * link is gone, and the caller's JS runs meanwhile (a veth takes the kernel ~20 ms). The
   * handle takes no other call until then. Errors as linkDel() (ENODEV when absent).
   */
  async linkDelAsync(link: string | number): Promise<void> {
    const op = `Cannot delete link ${link}`;
    await this.#sock.requestAsync(linkDelRequest(this.index(link, op)), op);
  }

  /**
   * `ip -s link show`: every link's counters (IFLA_STATS64), by link index. Not part of
   * NetHandle: only diagnostics read counters.
   */
  linkStats(): Map<number, LinkStats> {
    const out = new Map<number, LinkStats>();
    for (const m of this.#sock.dump(linkDumpRequest(true), "Cannot list link counters")) {
      const s = linkStatsFromMessage(m);
      if (s) out.set(m.header["index"] ?? 0, s);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Addresses

  addrList(filter: { dev?: string | number; family?: 4 | 6 } = {}): Addr[] {
    const index = filter.dev === undefined
      ? undefined
      : this.index(filter.dev, `Cannot list addresses of ${filter.dev}`);
    return this.#sock.dump(addrDumpRequest(famOf(filter.family)), "Cannot list addresses")
      .map(addrFromMessage)
      .filter((a) => index === undefined || a.index === index);
  }

  #addr(cmd: "add" | "replace" | "del", verb: string, opts: AddrOptions): void {
    const op = `Cannot ${verb} address ${opts?.cidr}${devText(opts?.dev)}`;
    if (opts?.dev === undefined) throw new TypeError(`${op}: dev is required`);
    const index = this.index(opts.dev, op);
    const spec: Parameters<typeof addrRequest>[1] = { index, cidr: opts.cidr };
    if (opts.scope !== undefined) spec.scope = parseScope(opts.scope);
    if (opts.broadcast !== undefined) spec.broadcast = opts.broadcast;
    if (opts.label !== undefined) spec.label = opts.label;
    if (opts.nodad) spec.nodad = true;
    if (opts.noprefixroute) spec.noprefixroute = true;
    this.#sock.request(addrRequest(cmd, spec), op);
  }

  addrAdd(opts: AddrOptions): void {
    this.#addr("add", "add", opts);
  }
  addrReplace(opts: AddrOptions): void {
    this.#addr("replace", "replace", opts);
  }
  addrDel(opts: AddrOptions): void {
    this.#addr("del", "delete", opts);
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  routeList(filter: RouteFilter = {}): Route[] {
    const table = filter.table ?? C.RT_TABLE_MAIN;
    const index = filter.dev === undefined
      ? undefined
      : this.index(filter.dev, `Cannot list routes of ${filter.dev}`);
    const families = filter.family === 4
      ? [C.AF_INET]
      : filter.family === 6
      ? [C.AF_INET6]
      : [C.AF_INET, C.AF_INET6];
    const out: Route[] = [];
    for (const fam of families) {
      // Read straight from the receive buffer: rtmsg is family, dst_len, src_len, tos, table,
      // protocol, scope, type, flags (u32) after the 16-byte nlmsghdr.
      const start = out.length;
      this.#sock.dumpEach(routeDumpRequest(fam), "Cannot list routes", (b, dv, s) => {
        if (s.type !== C.RTM_NEWROUTE) return;
        if (s.length < 28) {
          throw new NetlinkDecodeError("rtmsg", `${s.length} bytes is too short`);
        }
        if (filter.protocol !== undefined && b[s.offset + 21] !== filter.protocol) return;
        if (dv.getUint32(s.offset + 24, true) & C.RTM_F_CLONED) return;
        const r = routeFromBytes(b, dv, s.offset, s.length);
        if (table !== "all" && r.table !== table) return;
        // A multipath route belongs to every device it has a next hop on.
        if (index !== undefined && r.oif !== index && !r.nexthops?.some((h) => h.oif === index)) {
          return;
        }
        out.push(r);
      }, () => {
        out.length = start;
      });
    }
    return out;
  }

  #routeMessage(
    cmd: "add" | "append" | "replace" | "del",
    opts: RouteOptions,
    op: () => string,
    devCache?: Map<string, number>,
  ) {
    if (!opts || typeof opts.dst !== "string") throw new TypeError(`${op()}: dst is required`);
    const spec: RouteSpec = { dst: opts.dst };
    if (opts.family !== undefined) spec.family = opts.family;
    if (opts.gateway !== undefined) spec.gateway = opts.gateway;
    if (opts.src !== undefined) spec.src = opts.src;
    if (opts.table !== undefined) spec.table = opts.table;
    if (opts.protocol !== undefined) spec.protocol = opts.protocol;
    if (opts.scope !== undefined) spec.scope = opts.scope;
    if (opts.type !== undefined) spec.type = opts.type;
    if (opts.onlink !== undefined) spec.onlink = opts.onlink;
    if (opts.metric !== undefined) spec.metric = opts.metric;
    if (opts.mtu !== undefined) spec.mtu = opts.mtu;
    if (opts.advmss !== undefined) spec.advmss = opts.advmss;
    if (opts.dev !== undefined) {
      let idx = typeof opts.dev === "string" ? devCache?.get(opts.dev) : undefined;
      if (idx === undefined) {
        idx = this.index(opts.dev, op());
        if (typeof opts.dev === "string") devCache?.set(opts.dev, idx);
      }
      spec.oif = idx;
    }
    try {
      return routeRequest(cmd, spec);
    } catch (e) {
      throw new TypeError(`${op()}: ${(e as Error).message}`, { cause: e });
    }
  }

  #route(cmd: "add" | "append" | "replace" | "del", verb: string, opts: RouteOptions): void {
    const op = `Cannot ${verb} route ${opts ? describeRoute(opts) : opts}${devText(opts?.dev)}`;
    this.#sock.request(this.#routeMessage(cmd, opts, () => op), op);
  }

  routeAdd(opts: RouteOptions): void {
    this.#route("add", "add", opts);
  }
  /**
   * `ip route append`: adds a route even when one to the same prefix exists (another gateway or
   * device); only an identical route fails with EEXIST. Not part of NetHandle: the CNI plugin
   * uses it for pod routes, as the reference plugins do (netlink.RouteAddEcmp).
   */
  routeAppend(opts: RouteOptions): void {
    this.#route("append", "append", opts);
  }
  routeReplace(opts: RouteOptions): void {
    this.#route("replace", "replace", opts);
  }
  routeDel(opts: RouteOptions): void {
    this.#route("del", "delete", opts);
  }

  routeBatch(ops: readonly RouteBatchOp[]): (Error | undefined)[] {
    const results: (Error | undefined)[] = new Array(ops.length).fill(undefined);
    const devCache = new Map<string, number>();
    // Error texts are built only for the ops that fail.
    const text = (o: RouteBatchOp | undefined) => () => {
      const verb = o?.op === "del" ? "delete" : o?.op;
      return `Cannot ${verb} route ${o?.route ? describeRoute(o.route) : o?.route}${
        devText(o?.route?.dev)
      }`;
    };
    // Device names are looked up before the batch (the lookup uses the socket the batch writes).
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i], dev = o?.route?.dev;
      if (typeof dev !== "string" || devCache.has(dev) || !validBatchOp(o)) continue;
      if (typeof o.route.dst !== "string") continue; // "dst is required" comes first
      try {
        devCache.set(dev, this.index(dev, text(o)()));
      } catch (e) {
        results[i] = e as Error;
      }
    }
    // Each op's message is built as the batch reaches it: 10,000 routes are never 10,000 live
    // messages (only one write's bytes), which was most of a big reconcile's peak heap.
    let reached = 0;
    const build = (i: number): NlMessage | undefined => {
      reached = i + 1;
      const o = ops[i];
      if (results[i]) return undefined;
      try {
        if (!validBatchOp(o)) throw new TypeError(`${text(o)()}: op must be add, replace or del`);
        return this.#routeMessage(o.op, o.route, text(o), devCache);
      } catch (e) {
        results[i] = e as Error;
        return undefined;
      }
    };
    const sent = this.#sock.batchEach(ops.length, build, (i) => text(ops[i])());
    // A failed read ends the batch: the ops never reached keep their own error, if any.
    for (let i = reached; i < ops.length; i++) build(i);
    for (let i = 0; i < sent.length; i++) {
      const e = sent[i];
      if (e && !results[i]) results[i] = e;
    }
    return results;
  }

  routeGet(dst: string, opts: RouteGetOptions = {}): RouteGetResult {
    const op = `Cannot get route to ${dst}${opts.src ? ` from ${opts.src}` : ""}${
      opts.iif !== undefined ? ` iif ${opts.iif}` : ""
    }${opts.mark !== undefined ? ` mark 0x${opts.mark.toString(16)}` : ""}${
      opts.ipProto !== undefined ? ` ipproto ${opts.ipProto}` : ""
    }`;
    const req: { src?: string; iif?: number; oif?: number; mark?: number; ipProto?: number } = {};
    if (opts.mark !== undefined) req.mark = opts.mark;
    if (opts.ipProto !== undefined) req.ipProto = opts.ipProto;
    if (opts.src !== undefined) req.src = opts.src;
    // A link the caller's list names needs no RTM_GETLINK round trip.
    const known = (l: string | number) =>
      typeof l === "string" ? opts.links?.find((x) => x.name === l)?.index : undefined;
    if (opts.iif !== undefined) req.iif = known(opts.iif) ?? this.index(opts.iif, op);
    if (opts.oif !== undefined) req.oif = known(opts.oif) ?? this.index(opts.oif, op);
    const r: RouteGetResult = routeFromMessage(this.#sock.get(routeGetRequest(dst, req), op));
    if (r.oif !== undefined) {
      const name = opts.links?.find((x) => x.index === r.oif)?.name ?? this.linkFind(r.oif)?.name;
      if (name !== undefined) r.devName = name;
    }
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Namespace ids

  /**
   * The id this handle's namespace gives namespace `ref` (what a veth's IFLA_LINK_NETNSID names,
   * `ip -d link` shows as link-netnsid), or undefined when it has none: RTM_GETNSID with
   * NETNSA_FD, as iproute2's get_netnsid_from_name() asks.
   */
  nsidOf(ref: NetnsRef): number | undefined {
    const fd = openNetnsFd(ref);
    try {
      const reply = this.#sock.get({
        type: C.RTM_GETNSID,
        flags: C.NLM_F_REQUEST,
        seq: 0,
        pid: 0,
        header: { family: C.AF_UNSPEC },
        attrs: [{ type: C.NETNSA_FD, value: fd }],
      }, `Cannot get the id of network namespace ${ref}`);
      const nsid = getNum(reply.attrs, C.NETNSA_NSID);
      return nsid !== undefined && nsid >= 0 ? nsid : undefined;
    } finally {
      closeFd(fd);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Policy routing rules

  /** `ip -4 rule show` (`family` 6: `ip -6 rule show`), in preference order. */
  ruleList(family: 4 | 6 = 4): Rule[] {
    return this.#sock.dump(
      ruleDumpRequest(family === 6 ? C.AF_INET6 : C.AF_INET),
      "Cannot list rules",
    ).map(ruleFromMessage).sort((a, b) => a.priority - b.priority);
  }

  // -------------------------------------------------------------------------------------------
  // Neighbours

  neighList(filter: { dev?: string | number; family?: 4 | 6; proxy?: boolean } = {}): Neigh[] {
    const index = filter.dev === undefined
      ? undefined
      : this.index(filter.dev, `Cannot list neighbours of ${filter.dev}`);
    return this.#sock.dump(
      neighDumpRequest(famOf(filter.family), !!filter.proxy),
      "Cannot list neighbours",
    )
      .filter((m) => m.header["family"] === C.AF_INET || m.header["family"] === C.AF_INET6)
      .map(neighFromMessage)
      .filter((n) =>
        (index === undefined || n.index === index) && !!(n.flags & C.NTF_PROXY) === !!filter.proxy
      );
  }

  /**
   * The IPv4 (`family` 6: IPv6) neighbour tables with their thresholds, entry count and overflow
   * counter: `ip -s -4 ntable show` (the per-device parameter messages are left out).
   */
  neighTables(family: 4 | 6 = 4): NeighTable[] {
    return this.#sock.dump(
      neighTableDumpRequest(family === 6 ? C.AF_INET6 : C.AF_INET),
      "Cannot list neighbour tables",
    ).map(neighTableFromMessage).filter((t): t is NeighTable => t !== undefined);
  }

  #neigh(cmd: "replace" | "del", verb: string, opts: NeighOptions): void {
    const op = `Cannot ${verb} neighbour ${opts?.proxy ? "proxy " : ""}${opts?.ip}${
      opts?.mac ? ` lladdr ${opts.mac}` : ""
    }${devText(opts?.dev)}`;
    if (opts?.dev === undefined) throw new TypeError(`${op}: dev is required`);
    const spec: Parameters<typeof neighRequest>[1] = { index: 0, ip: opts.ip };
    if (opts.mac !== undefined) spec.mac = opts.mac;
    if (opts.state !== undefined) spec.state = opts.state;
    if (opts.proxy) spec.proxy = true;
    neighRequest(cmd, { ...spec, index: 1 }); // validate before any lookup
    spec.index = this.index(opts.dev, op);
    this.#sock.request(neighRequest(cmd, spec), op);
  }

  neighSet(opts: NeighOptions): void {
    this.#neigh("replace", "set", opts);
  }
  neighDel(opts: NeighOptions): void {
    this.#neigh("del", "delete", opts);
  }

  // -------------------------------------------------------------------------------------------
  // Traffic control (read only)

  /**
   * The tc filters of a link on its ingress hook (an ingress or clsact qdisc), its egress hook
   * (clsact) and its root qdisc: `tc filter show dev DEV ingress`, `... egress`, `... root`.
   * A root qdisc that takes no filters has none (the kernel's EINVAL/ENOENT/EOPNOTSUPP).
   * `qdiscs` (tcQdiscKinds()) spares the qdisc dump when many links are asked in turn.
   */
  tcFilters(dev: string | number, qdiscs?: ReadonlyMap<number, ReadonlySet<string>>): TcFilter[] {
    const op = `Cannot list tc filters of ${dev}`;
    const index = this.index(dev, op);
    const kinds = (qdiscs ?? this.tcQdiscKinds()).get(index) ?? new Set<string>();
    // An ingress qdisc answers a dump for either hook with its one filter list: ask only the
    // hooks the link has (clsact: both; ingress: ingress).
    const hooks: TcHook[] = ["root"];
    if (kinds.has("clsact") || kinds.has("ingress")) hooks.unshift("ingress");
    if (kinds.has("clsact")) hooks.splice(1, 0, "egress");
    const out: TcFilter[] = [];
    for (const hook of hooks) {
      let msgs;
      try {
        msgs = this.#sock.dump(tcFilterDumpRequest(index, hook), `${op} (${hook})`);
      } catch (e) {
        if (isNetlinkError(e, "EINVAL", "ENOENT", "EOPNOTSUPP")) continue;
        throw e;
      }
      for (const m of msgs) {
        const f = tcFilterFromMessage(m, hook);
        if (f) out.push(f);
      }
    }
    return out;
  }

  /** `tc -s qdisc show`: every link's qdiscs with their limits, rates, loss and drop counters. */
  tcQdiscList(): TcQdisc[] {
    return this.#sock.dump(tcQdiscDumpRequest(), "Cannot list qdiscs").map(tcQdiscInfoFromMessage);
  }

  /** `tc qdisc show`: every link's qdisc kinds ("clsact", "ingress", "noqueue", ...) by index. */
  tcQdiscKinds(): Map<number, Set<string>> {
    const out = new Map<number, Set<string>>();
    for (const m of this.#sock.dump(tcQdiscDumpRequest(), "Cannot list qdiscs")) {
      const q = tcQdiscFromMessage(m);
      const kinds = out.get(q.ifindex) ?? new Set<string>();
      kinds.add(q.kind);
      out.set(q.ifindex, kinds);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Bridge FDB

  fdbList(filter: { dev?: string | number } = {}): Fdb[] {
    const index = filter.dev === undefined
      ? undefined
      : this.index(filter.dev, `Cannot list FDB of ${filter.dev}`);
    return this.#sock.dump(fdbDumpRequest(), "Cannot list FDB entries")
      .filter((m) => m.header["family"] === C.AF_BRIDGE)
      .map(fdbFromMessage)
      .filter((f) => index === undefined || f.index === index);
  }

  #fdb(cmd: "append" | "replace" | "del", verb: string, opts: FdbOptions): void {
    const op = `Cannot ${verb} FDB entry ${opts?.mac}${opts?.dst ? ` dst ${opts.dst}` : ""}${
      devText(opts?.dev)
    }`;
    if (opts?.dev === undefined) throw new TypeError(`${op}: dev is required`);
    const spec: Parameters<typeof fdbRequest>[1] = { index: 1, mac: opts.mac };
    if (opts.dst !== undefined) spec.dst = opts.dst;
    if (opts.self !== undefined) spec.self = opts.self;
    if (opts.master !== undefined) spec.master = opts.master;
    if (opts.state !== undefined) spec.state = opts.state;
    if (opts.vni !== undefined) spec.vni = opts.vni;
    if (opts.port !== undefined) spec.port = opts.port;
    fdbRequest(cmd, spec); // validate before any lookup
    spec.index = this.index(opts.dev, op);
    this.#sock.request(fdbRequest(cmd, spec), op);
  }

  fdbAppend(opts: FdbOptions): void {
    this.#fdb("append", "append", opts);
  }
  fdbSet(opts: FdbOptions): void {
    this.#fdb("replace", "replace", opts);
  }
  fdbDel(opts: FdbOptions): void {
    this.#fdb("del", "delete", opts);
  }
}
