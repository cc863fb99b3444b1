/**
 * Fakes for the daemon's unit tests: a netlink handle with a fixed set of links, addresses and
 * routes, and a backend that records what it was asked to program.
 *
 * @module
 */
import type { LifecycleHost } from "../component/lifecycle.ts";
import type {
  Backend,
  BackendOptions,
  DriftCounts,
  ReconcileReport,
  SetupResult,
} from "../backends/types.ts";
import type { Plan } from "../backends/plan.ts";
import type { Addr, Link, NetHandle, Route, RouteGetResult } from "../net/types.ts";
import type { Lease } from "../store/types.ts";

/** A fake handle: links/addrs/routes given up front; unsupported calls throw. */
export function fakeHandle(state: { links: Link[]; addrs: Addr[]; routes: Route[] }): NetHandle {
  const find = (l: string | number) => state.links.find((x) => x.name === l || x.index === l);
  const notHere = () => {
    throw new Error("not supported by the fake handle");
  };
  const h = {
    closed: false,
    close() {
      h.closed = true;
    },
    [Symbol.dispose]() {},
    linkList: () => state.links,
    linkFind: find,
    linkGet: (l: string | number) => find(l) ?? notHere(),
    addrList: (f?: { dev?: string | number; family?: 4 | 6 }) =>
      state.addrs.filter((a) =>
        (f?.dev === undefined || a.index === find(f.dev)?.index) &&
        (f?.family === undefined || a.family === f.family)
      ),
    routeList: (f?: { family?: 4 | 6 }) =>
      state.routes.filter((r) => f?.family === undefined || r.family === f.family),
    routeGet: (dst: string): RouteGetResult => {
      const r = state.routes.find((x) => x.dst === "0.0.0.0/0");
      if (!r) throw new Error(`no route to ${dst}`);
      return { ...r, dst: `${dst}/32` };
    },
    linkAdd: notHere,
    linkSet: notHere,
    linkDel: notHere,
    addrAdd: notHere,
    addrReplace: notHere,
    addrDel: notHere,
    routeAdd: notHere,
    routeReplace: notHere,
    routeDel: notHere,
    routeBatch: notHere,
    neighList: notHere,
    neighSet: notHere,
    neighDel: notHere,
    fdbList: notHere,
    fdbAppend: notHere,
    fdbSet: notHere,
    fdbDel: notHere,
  };
  return h as unknown as NetHandle;
}

/** A node with eth0 = 192.168.1.10/24 and a default route through it. */
export function nodeHandle(ip = "192.168.1.10"): NetHandle {
  const link = (index: number, name: string): Link => ({
    index,
    name,
    mtu: name === "lo" ? 65536 : 1500,
    flags: 1,
    up: true,
    operState: "up",
  });
  return fakeHandle({
    links: [link(1, "lo"), link(2, "eth0"), link(3, "eth1")],
    addrs: [
      { index: 1, cidr: "127.0.0.1/8", family: 4, scope: "host", flags: 0 },
      { index: 2, cidr: `${ip}/24`, family: 4, scope: "universe", flags: 0 },
      { index: 3, cidr: "10.10.0.5/16", family: 4, scope: "universe", flags: 0 },
      { index: 3, cidr: "fd00::5/64", family: 6, scope: "universe", flags: 0 },
    ],
    routes: [
      {
        family: 4,
        dst: "0.0.0.0/0",
        gateway: "192.168.1.1",
        oif: 2,
        table: 254,
        protocol: 3,
        scope: "universe",
        type: "unicast",
        onlink: false,
      },
    ],
  });
}

/** A backend that records calls; `fail` makes reconcile() report kernel errors. */
export class FakeBackend implements Backend {
  readonly type;
  setups = 0;
  calls: { leases: string[]; self: string }[] = [];
  fail = false;
  /** Drift the next reports carry (what the "snapshot" found, what is left). */
  drift: DriftCounts = {};
  driftLeft: DriftCounts = {};
  data: Record<string, unknown> = { vtepMAC: "0a:00:00:00:00:01" };
  constructor(readonly opts: BackendOptions) {
    this.type = opts.type;
  }
  /** What start() was given (the daemon's way to ask for a reconcile). */
  host?: LifecycleHost;
  closed = false;
  start(host: LifecycleHost): Promise<void> {
    this.host = host;
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  setup(): SetupResult {
    this.setups++;
    return { backendData: this.data, mtu: this.opts.uplink.mtu - 50 };
  }
  reconcile(leases: readonly Lease[], self: Lease): ReconcileReport {
    this.calls.push({ leases: leases.map((l) => l.subnet).sort(), self: self.subnet });
    return {
      added: 0,
      removed: 0,
      unchanged: leases.length,
      skipped: [],
      errors: this.fail ? ["Cannot add route: kernel returned ENETUNREACH"] : [],
      routes: this.fail ? 0 : leases.length,
      durationMs: 0.1,
      drift: { ...this.drift },
      driftLeft: { ...this.driftLeft },
    };
  }
  /** A plan that finds the (fake) kernel right: the daemon never plans while it runs. */
  plan(): Plan {
    return { ops: [], skipped: [], unchanged: 0, unchangedRoutes: 0 };
  }
  /** The leases of the last reconcile call. */
  get last(): string[] | undefined {
    return this.calls.at(-1)?.leases;
  }
}
