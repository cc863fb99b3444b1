/**
 * `daemon`: the node's skein daemon is running, answers `/readyz` with 200, reconciled
 * successfully not long ago, and reaches its datastore (from its `/debug/state`).
 *
 * @module
 */
import { processAlive, processState } from "../../node/process.ts";
import { type CheckResult, fail, pass, skip, warn } from "../check.ts";
import type { Diagnosis, NodeView } from "../context.ts";
import type { Family } from "../family.ts";
import { tcpListenerPid } from "./_port_holder.ts";

/** How to start the node's daemon again (its own config file when known). */
function startFix(node: NodeView): string {
  return `start it: \`skein daemon --config ${
    node.facts.configFile ?? "/etc/skein/daemon.yaml"
  }\` (on Kubernetes: \`kubectl -n skein get pods -o wide\` shows this node's DaemonSet pod)`;
}

function running(node: NodeView): CheckResult {
  const id = "daemon.running";
  const p = node.facts.daemonPid;
  const a = node.daemon;
  if (p) {
    const st = processState(p.pid);
    const ev = { pid: p.pid, state: st ?? "gone", healthz: a?.healthz?.status ?? a?.error };
    if (st === "T" || st === "t") {
      return fail(
        id,
        node.name,
        `${node.name}'s daemon (pid ${p.pid}) is stopped (SIGSTOP): nothing reconciles`,
        {
          evidence: ev,
          fix: `kill -CONT ${p.pid}`,
        },
      );
    }
    if (!processAlive(p.pid, p.marker)) {
      return fail(id, node.name, `${node.name}'s daemon (pid ${p.pid}) is not running`, {
        evidence: ev,
        fix: startFix(node),
      });
    }
    return pass(id, node.name, `${node.name}'s daemon runs (pid ${p.pid})`, { evidence: ev });
  }
  if (!a) {
    return skip(id, node.name, node.unreachable ?? `${node.name}'s daemon address is not known`);
  }
  if (a.healthz?.status === 200) {
    return pass(id, node.name, `${node.name}'s daemon answers ${a.url}/healthz`, {
      evidence: { url: a.url },
    });
  }
  const error = a.error ?? `status ${a.healthz?.status}`;
  // Something still holds the daemon's port (in this namespace): a stopped or hung daemon, which
  // a second `skein daemon` would only fight for the node's lock.
  const port = Number(new URL(a.url).port);
  const pid = Number.isInteger(port) && port > 0 ? tcpListenerPid(port) : undefined;
  const st = pid !== undefined ? processState(pid) : undefined;
  if (pid !== undefined && (st === "T" || st === "t")) {
    return fail(
      id,
      node.name,
      `${node.name}'s daemon (pid ${pid}) is stopped (SIGSTOP): nothing reconciles`,
      {
        evidence: { url: a.url, error, pid, state: st },
        fix: `kill -CONT ${pid}`,
      },
    );
  }
  return fail(id, node.name, `${node.name}'s daemon does not answer ${a.url}/healthz`, {
    evidence: { url: a.url, error, ...(pid !== undefined ? { pid, state: st ?? "?" } : {}) },
    fix: pid !== undefined
      ? `pid ${pid} holds ${a.url} but does not answer: read its log, then restart it`
      : startFix(node),
  });
}

function ready(node: NodeView): CheckResult | undefined {
  const a = node.daemon;
  if (!a || a.error) return undefined;
  const id = "daemon.ready";
  if (!a.readyz) return skip(id, node.name, `no /readyz answer from ${a.url}`);
  const ev = { url: `${a.url}/readyz`, status: a.readyz.status, body: a.readyz.body };
  return a.readyz.status === 200
    ? pass(id, node.name, `${node.name}'s daemon is ready`, { evidence: ev })
    : fail(id, node.name, `${node.name}'s daemon is not ready: ${a.readyz.body}`, {
      evidence: ev,
      fix: `read the daemon's log on ${node.name}; the /readyz body names what is missing`,
    });
}

function reconcileAge(node: NodeView, now: number): CheckResult[] {
  const a = node.daemon;
  if (!a || a.error) return [];
  const dbg = a.debug;
  if (!dbg) {
    return [
      skip(
        "daemon.reconcile",
        node.name,
        `no /debug/state from ${a.url}: ${a.debugError ?? "not asked"}`,
      ),
    ];
  }
  const out: CheckResult[] = [];
  const interval = dbg.reconcileIntervalSeconds ?? 10;
  const last = dbg.lastSuccessAt ? Date.parse(dbg.lastSuccessAt) : NaN;
  const ageS = Number.isFinite(last) ? Math.round((now - last) / 100) / 10 : undefined;
  const ev = {
    lastSuccessAt: dbg.lastSuccessAt ?? "never",
    ageSeconds: ageS,
    reconcileIntervalSeconds: interval,
    lastReconcile: dbg.lastReconcile,
  };
  if (ageS === undefined) {
    out.push(
      fail("daemon.reconcile", node.name, `${node.name}'s daemon never reconciled without errors`, {
        evidence: ev,
        fix: `read the errors in lastReconcile and the daemon's log on ${node.name}`,
      }),
    );
  } else if (ageS > Math.max(3 * interval, 30)) {
    out.push(
      warn(
        "daemon.reconcile",
        node.name,
        `${node.name}'s last successful reconcile was ${ageS} s ago (interval ${interval} s)`,
        {
          evidence: ev,
          fix: `read the daemon's log on ${node.name}: reconciles are failing or not running`,
        },
      ),
    );
  } else {
    out.push(
      pass("daemon.reconcile", node.name, `${node.name} reconciled ${ageS} s ago`, {
        evidence: ev,
      }),
    );
  }
  const detail = dbg.health.detail ?? "";
  if (/^(watch|renew|acquire|config):/.test(detail)) {
    out.push(
      fail(
        "daemon.datastore",
        node.name,
        `${node.name}'s daemon cannot reach its datastore: ${detail}`,
        {
          evidence: { detail },
          fix:
            "check the datastore (etcd endpoints, file store directory) the daemon is configured with",
        },
      ),
    );
  } else {
    out.push(
      pass("daemon.datastore", node.name, `${node.name}'s daemon reports no datastore error`, {
        evidence: { detail: detail || "none" },
      }),
    );
  }
  return out;
}

function nodeChecks(node: NodeView): CheckResult[] {
  const out = [running(node)];
  const r = ready(node);
  if (r) out.push(r);
  out.push(...reconcileAge(node, Date.now()));
  return out;
}

/** The daemon family. */
export const daemonFamily: Family = {
  name: "daemon",
  pair: (_d: Diagnosis, pair) => pair.nodes.flatMap(nodeChecks),
  node: (_d, node) => nodeChecks(node),
};
