/**
 * `--bundle FILE.tar.gz`: everything an expert needs afterwards, in one archive: the JSON report,
 * each inspected node's links, addresses, routes (all tables), neighbours and FDB as JSON (read
 * through net/), its nftables ruleset, sysctls, lease file, IPAM directory, the daemon's
 * /debug/state, metrics and last log lines, and the datastore's leases. Every text file passes
 * through redact() (credentials removed). Written atomically (temp file + rename).
 *
 * @module
 */
import { atomicWriteFile } from "../node/atomic_write.ts";
import { nft } from "../node/nft.ts";
import type { Report } from "./check.ts";
import type { Diagnosis, NodeView } from "./context.ts";
import { redact } from "./redact.ts";
import { gzip, tar, type TarEntry } from "./tar.ts";

/** sysctls the bundle records per node (IPv4 forwarding, rp_filter, conntrack, bridge-nf). */
const SYSCTLS = [
  "net.ipv4.ip_forward",
  "net/ipv4/conf/all/rp_filter",
  "net/ipv4/conf/default/rp_filter",
  "net.netfilter.nf_conntrack_count",
  "net.netfilter.nf_conntrack_max",
  "net.bridge.bridge-nf-call-iptables",
];

const LOG_LINES = 200;

function json(v: unknown): string {
  return JSON.stringify(v, null, 2) + "\n";
}

function tail(path: string, lines: number): string | undefined {
  try {
    const t = Deno.readTextFileSync(path).split("\n");
    return t.slice(-lines - 1).join("\n");
  } catch {
    return undefined;
  }
}

function ipamFiles(dir: string, base: string): TarEntry[] {
  const out: TarEntry[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile) continue;
      try {
        const st = Deno.statSync(`${dir}/${e.name}`);
        if (st.size > 4096) continue;
        out.push({ name: `${base}/${e.name}`, data: Deno.readTextFileSync(`${dir}/${e.name}`) });
      } catch { /* released meanwhile */ }
    }
  } catch { /* no directory */ }
  return out;
}

async function nodeEntries(n: NodeView): Promise<TarEntry[]> {
  const base = `nodes/${n.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
  const out: TarEntry[] = [];
  const add = (name: string, data: string | undefined) => {
    if (data !== undefined) out.push({ name: `${base}/${name}`, data });
  };
  const k = n.kernel;
  if (k) {
    const safe = <T>(f: () => T) => {
      try {
        return f();
      } catch (e) {
        return { error: (e as Error).message };
      }
    };
    add("links.json", json(safe(() => k.links())));
    add("addrs.json", json(safe(() => k.addrs())));
    add("routes.json", json(safe(() => k.routes())));
    add("neigh.json", json(safe(() => k.neighs())));
    add("fdb.json", json(safe(() => k.fdbs())));
    add("link_stats.json", json(safe(() => Object.fromEntries(k.stats(true)))));
    add(
      "tc-filters.json",
      json(safe(() => {
        const byLink: Record<string, unknown> = {};
        for (const l of k.links()) {
          const f = k.tcFilters(l.index);
          if (f.length) byLink[l.name] = f;
        }
        return byLink;
      })),
    );
    k.readSysctls(SYSCTLS);
    add("sysctls.json", json(Object.fromEntries(SYSCTLS.map((s) => [s, k.sysctl(s) ?? null]))));
    try {
      add(
        "nft-ruleset.json",
        await nft({ args: ["-j", "list", "ruleset"], ...(k.netns ? { netns: k.netns } : {}) }),
      );
    } catch (e) {
      add("nft-ruleset.error.txt", `${(e as Error).message}\n`);
    }
  }
  add("lease.json", n.lease ? json(n.lease) : undefined);
  if (n.facts.leaseFile && k) add("lease-file.txt", tail(n.facts.leaseFile, 1000));
  if (n.facts.ipamDir && k) out.push(...ipamFiles(n.facts.ipamDir, `${base}/ipam`));
  if (n.daemon?.debug) add("debug-state.json", json(n.daemon.debug));
  if (n.daemon?.metrics) add("metrics.txt", n.daemon.metrics);
  if (n.daemon?.readyz) add("readyz.txt", `${n.daemon.readyz.status} ${n.daemon.readyz.body}\n`);
  if (n.facts.logFile) add("daemon.log", tail(n.facts.logFile, LOG_LINES));
  if (n.facts.configFile) add("daemon.yaml", tail(n.facts.configFile, 1000));
  return out;
}

/** Writes the bundle for a finished diagnosis to `path` (a .tar.gz). */
export async function writeBundle(path: string, d: Diagnosis, report: Report): Promise<void> {
  const entries: TarEntry[] = [{ name: "report.json", data: json(report) }];
  entries.push({ name: "leases.json", data: json(d.store.leases ?? { error: d.store.error }) });
  for (const n of d.nodes) entries.push(...await nodeEntries(n));
  const mtime = Math.floor(Date.now() / 1000);
  const clean = entries.map((e) => ({
    ...e,
    mtime,
    data: typeof e.data === "string" ? redact(e.data) : e.data,
  }));
  const bytes = await gzip(tar(clean.map((e) => ({ ...e, name: `skein-diagnose/${e.name}` }))));
  try {
    // Temp file + rename, created exclusively: never written through a planted symlink.
    atomicWriteFile(path, bytes, { mode: 0o600 });
  } catch (e) {
    throw new Error(`Cannot write the bundle ${path}: ${(e as Error).message}`, { cause: e });
  }
}
