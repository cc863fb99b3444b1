/**
 * `skein diagnose`: argument parsing, config loading, output and exit codes for diagnose/.
 * Exit 0 when no check failed (warnings allowed), 1 when one did, 2 for usage errors and bad
 * input (unknown pod, unreadable config).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, type DaemonConfig, loadConfig } from "../daemon/config.ts";
import type { LocalSetup } from "../diagnose/mod.ts";

const HELP = `skein diagnose: why pod A cannot reach pod B, hop by hop, with evidence and a fix

Usage:
  skein diagnose --from POD --to POD [--config FILE] [--netns NS] [--kubeconfig FILE] [--json]
                 [--probe] [--trace] [--timeout S] [--bundle FILE.tar.gz]
  skein diagnose --node [--config FILE] [--netns NS] [--json] [--bundle FILE.tar.gz]

POD is a pod IP, a Kubernetes pod as NAMESPACE/NAME (its IP and node from the apiserver), or for a
pod on this node its container id or network namespace path (absolute).
--config is the daemon's config (default /etc/skein/daemon.yaml when it exists): diagnose finds the
datastore, the lease file, the backend and the namespace there. --netns overrides the namespace.
The other node is known from its lease and, when reachable, its daemon's GET /debug/state.

  --kubeconfig FILE
              where NAMESPACE/NAME pods are looked up (default $KUBECONFIG, else ~/.kube/config,
              as kubectl picks it); a missing pod, one without an IP, a hostNetwork pod: exit 2
  --json      one JSON object: {"schemaVersion":1,"verdict","from","to","checks":[...],"durationMs"}
  --probe     ICMP and DF-sized probes from inside the source pod, with per-hop counters
  --trace     also a temporary nftrace rule and the skb:kfree_skb tracepoint for the flow
  --timeout S upper bound for network waits (default 5)
  --bundle F  write a tar.gz with the report, kernel dumps, ruleset, sysctls, leases, IPAM, logs
  --node      node-wide checks: routes for every lease, IPAM audit, sysctls, daemon, datastore

Read-only: nothing in the kernel or on disk changes (--probe/--trace add temporary objects only
and remove them). Exit codes: 0 no check failed, 1 a check failed, 2 usage error or bad input.
`;

const DEFAULT_CONFIG = "/etc/skein/daemon.yaml";

function usage(msg: string): number {
  console.error(`skein diagnose: ${msg}\nRun "skein diagnose --help" for the options.`);
  return 2;
}

async function config(
  file: string | undefined,
  netns: string | undefined,
): Promise<{ cfg: DaemonConfig; file?: string }> {
  let configFile = file;
  if (configFile === undefined) {
    try {
      if (Deno.statSync(DEFAULT_CONFIG).isFile) configFile = DEFAULT_CONFIG;
    } catch { /* no default config: built-in defaults */ }
  }
  const cfg = await loadConfig({ help: false, configFile, overrides: netns ? { netns } : {} });
  return configFile ? { cfg, file: configFile } : { cfg };
}

/** Whether `path` exists (a bind-mounted namespace or /proc/PID/ns/net). */
function isNetns(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What diagnose needs to know about this node, from the daemon's config. */
function localSetup(cfg: DaemonConfig, cfgFile: string | undefined): LocalSetup {
  const setup: LocalSetup = {
    name: cfg.name,
    backend: cfg.backend,
    listen: cfg.listen,
    leaseFile: cfg.leaseFile,
    datastore: cfg.datastore, // type and fields, opened read-only through store/registry.ts
  };
  if (cfg.netns) setup.netns = cfg.netns;
  if (cfgFile) setup.configFile = cfgFile;
  if (cfg.network) setup.network = cfg.network;
  if (cfg.iface) setup.iface = cfg.iface;
  if (cfg.publicIP) setup.publicIP = cfg.publicIP;
  return setup;
}

/** `skein diagnose [options]`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        from: { type: "string" },
        to: { type: "string" },
        node: { type: "boolean" },
        config: { type: "string", short: "c" },
        netns: { type: "string" },
        kubeconfig: { type: "string" },
        json: { type: "boolean" },
        probe: { type: "boolean" },
        trace: { type: "boolean" },
        timeout: { type: "string" },
        bundle: { type: "string" },
      },
    }).values;
  } catch (e) {
    return usage((e as Error).message);
  }
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  if (v.node && (v.from || v.to)) return usage("--node takes no --from/--to");
  if (!v.node && (!v.from || !v.to)) return usage("give --from POD and --to POD, or --node");
  if (v.node && (v.probe || v.trace)) return usage("--probe and --trace need a pair (--from/--to)");
  const timeout = v.timeout === undefined ? 5 : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 600) {
    return usage(`--timeout must be seconds between 0 and 600, got ${JSON.stringify(v.timeout)}`);
  }
  if (v.bundle !== undefined && !/\.tar\.gz$|\.tgz$/.test(v.bundle)) {
    return usage(`--bundle must name a .tar.gz file, got ${JSON.stringify(v.bundle)}`);
  }
  let cfg: DaemonConfig;
  let cfgFile: string | undefined;
  try {
    ({ cfg, file: cfgFile } = await config(v.config, v.netns));
  } catch (e) {
    if (e instanceof ConfigError) return usage(`bad config: ${e.message}`);
    throw e;
  }
  if (cfg.netns && !isNetns(cfg.netns)) {
    return usage(
      `${v.netns ? "--netns" : "config netns"}: no network namespace at ${cfg.netns}` +
        " (ip netns list shows the named ones)",
    );
  }
  const d = await import("../diagnose/mod.ts");
  const setup = localSetup(cfg, cfgFile);
  const kubeconfig = d.kubeconfigFor(v.kubeconfig);
  if (kubeconfig) setup.kubeconfig = kubeconfig;
  const opts = {
    probe: v.probe === true,
    trace: v.trace === true,
    timeoutMs: timeout * 1000,
    ...(v.bundle !== undefined ? { bundle: v.bundle } : {}),
  };
  let report;
  try {
    report = v.node
      ? await d.localNodeDiagnose(setup, opts)
      : await d.localPairDiagnose(setup, v.from!, v.to!, opts);
  } catch (e) {
    if (e instanceof d.DiagnoseInputError) return usage(e.message);
    throw e;
  }
  console.log(v.json ? d.renderJson(report) : d.renderHuman(report));
  if (v.bundle !== undefined) console.error(`skein diagnose: bundle written to ${v.bundle}`);
  return report.verdict === "fail" ? 1 : 0;
}
