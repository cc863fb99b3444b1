/**
 * The daemon's HTTP endpoint (localhost by default): `/healthz` (the process is alive),
 * `/readyz` (200 only when the lease is held and unexpired, every lease known at the daemon's first
 * datastore list was programmed without error, the lease file is written, and the kernel has not
 * differed from the plan for longer than the grace period; the body says what is wrong;
 * `/readyz?subnets=A,B` also waits until routes to those subnets are programmed, which is how
 * `skein lab up` knows every node reaches every other), `/metrics` (Prometheus text) and the
 * read-only `/debug/state` (JSON for `skein diagnose`, built by daemon/debug_state.ts).
 *
 * @module
 */
import { parseListen } from "./config.ts";
import { serveBounded } from "./http_server.ts";

/** What /readyz reports. */
export interface Readiness {
  leaseHeld: boolean;
  routesProgrammed: boolean;
  leaseFileWritten: boolean;
  /** False when the kernel has differed from the plan for longer than the grace period. */
  kernelMatchesPlan?: boolean;
  /** What differs and for how long ("2 route, 1 device differ from the plan for 14 s"). */
  drift?: string;
  /** Why the lease is not held although one was (expired). */
  leaseProblem?: string;
  /** Extra detail for a not-ready answer (e.g. the last error). */
  detail?: string;
  /**
   * The pod subnets the last error-free reconcile covered (this node's own included): what
   * `?subnets=` is checked against.
   */
  programmed?: ReadonlySet<string>;
  /** Set while the datastore is unreachable (routes are kept meanwhile). */
  datastoreProblem?: string;
}

/**
 * The answer /readyz gives for a readiness state: status and body. `want`: pod subnets whose
 * routes must be programmed too (from `?subnets=`).
 */
export function readyzAnswer(
  r: Readiness,
  want: readonly string[] = [],
): { status: number; body: string } {
  const missing: string[] = [];
  if (!r.leaseHeld) {
    missing.push(
      r.leaseProblem ? `no subnet lease held: ${r.leaseProblem}` : "no subnet lease held",
    );
  }
  if (r.kernelMatchesPlan === false) {
    missing.push(`the kernel differs from the plan: ${r.drift ?? "unknown drift"}`);
  }
  if (!r.routesProgrammed) missing.push("routes not programmed without error yet");
  if (!r.leaseFileWritten) missing.push("lease file not written");
  const notYet = want.filter((s) => !r.programmed?.has(s));
  if (notYet.length > 0) missing.push(`routes to ${notYet.join(", ")} not programmed yet`);
  if (r.datastoreProblem) missing.push(r.datastoreProblem);
  if (missing.length === 0) return { status: 200, body: "ready\n" };
  return {
    status: 503,
    body: `not ready: ${missing.join("; ")}${r.detail ? ` (${r.detail})` : ""}\n`,
  };
}

/** A running health server. */
export interface HealthServer {
  /** The address actually bound ("127.0.0.1:9472"). */
  addr: string;
  shutdown(): Promise<void>;
}

/** Starts the server on `listen` ("host:port"). */
export function serveHealth(opts: {
  listen: string;
  readiness: () => Readiness;
  metrics: () => string;
  /** The read-only `/debug/state` object (daemon/debug_state.ts); 404 when not given. */
  debugState?: () => unknown;
}): HealthServer {
  const { hostname, port } = parseListen(opts.listen);
  // Bounded in size, time and connections (daemon/http_server.ts): a slowloris client cannot
  // hold the endpoint.
  const server = serveBounded({ hostname, port }, (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    switch (path) {
      case "/healthz":
        return new Response("ok\n");
      case "/readyz": {
        const want = (url.searchParams.get("subnets") ?? "").split(",").filter((x) => x);
        const a = readyzAnswer(opts.readiness(), want);
        return new Response(a.body, { status: a.status });
      }
      case "/metrics":
        return new Response(opts.metrics(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      case "/debug/state":
        if (!opts.debugState) break;
        try {
          return new Response(JSON.stringify(opts.debugState(), null, 2) + "\n", {
            headers: { "content-type": "application/json" },
          });
        } catch (e) {
          return new Response(`cannot build the debug state: ${(e as Error).message}\n`, {
            status: 500,
          });
        }
    }
    return new Response("not found: try /healthz, /readyz, /metrics or /debug/state\n", {
      status: 404,
    });
  });
  const a = server.addr;
  return {
    addr: `${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`,
    shutdown: () => server.shutdown(),
  };
}
