/**
 * Test harness for the CNI plugin: runs skein (and the reference plugins) as real processes
 * inside a "host" namespace with the almost empty environment a container runtime gives
 * (PATH and CNI_* only, plus DENO_DIR so `deno run` finds its cache), and executes conflists
 * the way libcni does (ADD in order, DEL in reverse, prevResult piped through).
 *
 * @module
 */

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
/** Where the Debian reference plugins live. */
export const REF_CNI_DIR = "/usr/lib/cni";

let denoDir: string | undefined;
function getDenoDir(): string {
  if (denoDir) return denoDir;
  const out = new Deno.Command(DENO, { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .outputSync();
  denoDir = (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
  return denoDir;
}

/**
 * A directory holding `skein` for CNI_PATH: a launcher running this checkout's main.ts, or the
 * installed skein named by $SKEIN_BIN. Named after a hash of what it holds, so every test process
 * of a run (and of later runs) shares one directory instead of leaving one behind each.
 */
let binDir: string | undefined;
export function cniBinDir(): string {
  if (binDir) return binDir;
  const installed = Deno.env.get("SKEIN_BIN");
  // An installed skein (install.sh's binary or launcher) instead of this checkout.
  const content = installed ? `symlink ${installed}` : launcherScript();
  const dir = `${tmpDir()}/skein-cni-bin-${fnv1a(content)}`;
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Written under a name of its own and renamed: another test process may be reading it.
  const tmp = `${dir}/.skein.${Deno.pid}`;
  try {
    Deno.removeSync(tmp);
  } catch { /* not there */ }
  if (installed) Deno.symlinkSync(installed, tmp);
  else Deno.writeTextFileSync(tmp, content, { mode: 0o755 });
  Deno.renameSync(tmp, `${dir}/skein`);
  return binDir = dir;
}

function tmpDir(): string {
  return (Deno.env.get("TMPDIR") ?? "/tmp").replace(/\/$/, "");
}

/** 32-bit FNV-1a of a string, as 8 hex digits. */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** The same shape as install.sh's launcher: VERSION in sh, the forwarding client in perl. */
function launcherScript(): string {
  const deno = `'${DENO}' run -A --cached-only --quiet '${REPO}/main.ts'`;
  return `#!/bin/sh
DENO_DIR='${getDenoDir()}'
export DENO_DIR
if [ -n "\${CNI_COMMAND:-}" ] && [ $# -eq 0 ]; then
  if [ "$CNI_COMMAND" = VERSION ]; then
    . '${REPO}/cni/version_fast.sh'
    printf '%s' "$skein_stdin" | ${deno}
    exit $?
  fi
  if [ -x /usr/bin/perl ] && { [ -S "\${SKEIN_CNI_SOCKET:-/}" ] ||
    { [ -z "\${SKEIN_CNI_SOCKET+x}" ] && [ -f /run/skein/subnet.json ]; }; }; then
    exec /usr/bin/perl '${REPO}/cni/forward_fast.pl' ${deno}
  fi
fi
exec ${deno} "$@"
`;
}

/** One plugin call. */
export interface CallOptions {
  command: "ADD" | "DEL" | "CHECK" | "VERSION" | "STATUS" | "GC";
  /** Network config object (or raw stdin text). */
  conf: unknown;
  containerId?: string;
  netns?: string;
  ifName?: string;
  cniArgs?: string;
  /** Namespace path the plugin runs in (the "host"). */
  hostNs: string;
  /** Plugin: "skein" (default) or a reference plugin name in /usr/lib/cni. */
  plugin?: string;
  /** Override or drop (undefined) env variables. */
  env?: Record<string, string | undefined>;
}

/** What a plugin call returned. */
export interface CallResult {
  code: number;
  /** stdout parsed as JSON (undefined when empty). */
  json?: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

/**
 * How skein's plugin calls are served: "in-process" (the default: the plugin process does the
 * work) or "daemon" (`SKEIN_CNI_MODE=daemon`: a CNI service (tests/_cni_daemon.ts) runs in each
 * host namespace and the plugin forwards to it). Both must answer the same.
 */
export function cniMode(): "in-process" | "daemon" {
  return Deno.env.get("SKEIN_CNI_MODE") === "daemon" ? "daemon" : "in-process";
}

const services = new Map<string, string>();

/**
 * Starts the CNI service for `hostNs` (once) and returns its socket. It runs detached inside
 * that namespace and exits by itself when the namespace is deleted.
 */
export function cniService(hostNs: string): string {
  const have = services.get(hostNs);
  if (have) return have;
  const dir = Deno.makeTempDirSync({ prefix: "skein-cni-sock-" });
  const socket = `${dir}/cni.sock`;
  const cmd = `'${DENO}' run -A --cached-only --quiet '${REPO}/tests/_cni_daemon.ts' ` +
    `--socket '${socket}' --watch '${hostNs}' >'${dir}/log' 2>&1 &`;
  const out = new Deno.Command("nsenter", {
    args: [`--net=${hostNs}`, "setsid", "sh", "-c", cmd],
    env: { DENO_DIR: getDenoDir() },
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    throw new Error(`cannot start the CNI service: ${new TextDecoder().decode(out.stderr)}`);
  }
  const until = Date.now() + 20_000;
  while (true) {
    try {
      if (Deno.statSync(socket).isSocket) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      throw new Error(`the CNI service did not start: ${Deno.readTextFileSync(`${dir}/log`)}`);
    }
    const t = Date.now() + 20;
    while (Date.now() < t) { /* brief busy wait: this helper is synchronous */ }
  }
  services.set(hostNs, socket);
  return socket;
}

/** Runs one plugin process inside `hostNs` with a minimal environment. */
export async function callPlugin(o: CallOptions): Promise<CallResult> {
  const plugin = o.plugin ?? "skein";
  const bin = plugin === "skein" ? `${cniBinDir()}/skein` : `${REF_CNI_DIR}/${plugin}`;
  const env: Record<string, string | undefined> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: o.command,
    CNI_CONTAINERID: o.containerId,
    CNI_NETNS: o.netns,
    CNI_IFNAME: o.ifName ?? (o.containerId ? "eth0" : undefined),
    CNI_ARGS: o.cniArgs,
    CNI_PATH: `${cniBinDir()}:${REF_CNI_DIR}`,
    // Which path serves skein (a runtime passes no such variable: the lease file says).
    SKEIN_CNI_SOCKET: cniMode() === "daemon" ? cniService(o.hostNs) : "off",
    ...o.env,
  };
  const envArgs = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) =>
    `${k}=${v}`
  );
  const child = new Deno.Command("nsenter", {
    args: [`--net=${o.hostNs}`, "env", "-i", ...envArgs, bin],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  try {
    await w.write(
      new TextEncoder().encode(typeof o.conf === "string" ? o.conf : JSON.stringify(o.conf)),
    );
    await w.close();
  } catch (e) {
    // A plugin that fails on its environment (no CNI_NETNS, unknown CNI_COMMAND ...) exits
    // before reading stdin, as the reference skel does; its answer is on stdout all the same.
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
  }
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  let json: Record<string, unknown> | undefined;
  if (stdout.trim()) {
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
  }
  return { code: out.code, json, stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/** Like callPlugin() but throws with the plugin's output unless it exits 0. */
export async function callOk(o: CallOptions): Promise<Record<string, unknown> | undefined> {
  const r = await callPlugin(o);
  if (r.code !== 0) {
    throw new Error(
      `${o.plugin ?? "skein"} ${o.command} failed (exit ${r.code}): ${r.stdout}${r.stderr}`,
    );
  }
  return r.json;
}

/** A conflist as libcni reads it. */
export interface ConfList {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

/** Per-attachment state a runtime keeps between calls (libcni's result cache). */
export interface Attachment {
  hostNs: string;
  netns: string;
  containerId: string;
  ifName: string;
  cniArgs?: string;
  /** Runtime capabilities (e.g. portMappings, bandwidth), injected as runtimeConfig. */
  capabilities?: Record<string, unknown>;
  /** The cached final ADD result. */
  result?: Record<string, unknown>;
}

function pluginConf(
  list: ConfList,
  p: Record<string, unknown>,
  att: Attachment,
  prevResult?: Record<string, unknown>,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...p, name: list.name, cniVersion: list.cniVersion };
  const caps = (p.capabilities ?? {}) as Record<string, boolean>;
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(att.capabilities ?? {})) if (caps[k]) rc[k] = v;
  delete conf.capabilities;
  if (Object.keys(rc).length) conf.runtimeConfig = rc;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

function call(
  list: ConfList,
  p: Record<string, unknown>,
  att: Attachment,
  command: CallOptions["command"],
  prev?: Record<string, unknown>,
) {
  return callOk({
    command,
    conf: pluginConf(list, p, att, prev),
    containerId: att.containerId,
    netns: att.netns,
    ifName: att.ifName,
    cniArgs: att.cniArgs,
    hostNs: att.hostNs,
    plugin: p.type === "skein" ? "skein" : String(p.type),
  });
}

/** libcni AddNetworkList: each plugin in order, the previous result as prevResult. */
export async function addList(list: ConfList, att: Attachment): Promise<Record<string, unknown>> {
  let prev: Record<string, unknown> | undefined;
  for (const p of list.plugins) prev = (await call(list, p, att, "ADD", prev)) ?? prev;
  att.result = prev;
  return prev!;
}

/** libcni CheckNetworkList: each plugin in order with the cached result. */
export async function checkList(
  list: ConfList,
  att: Attachment,
  opts: { skip?: string[] } = {},
): Promise<void> {
  for (const p of list.plugins) {
    if (!opts.skip?.includes(String(p.type))) await call(list, p, att, "CHECK", att.result);
  }
}

/** libcni DelNetworkList: each plugin in reverse order with the cached result. */
export async function delList(list: ConfList, att: Attachment): Promise<void> {
  for (const p of [...list.plugins].reverse()) await call(list, p, att, "DEL", att.result);
}

/** Runs a command, returns stdout; throws with stderr on failure. */
export function sh(args: string[]): string {
  const out = new Deno.Command(args[0]!, { args: args.slice(1), stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Runs a command inside a namespace (`ip netns exec` style, via nsenter). */
export function inNs(ns: string, args: string[]): string {
  return sh(["nsenter", `--net=${ns}`, ...args]);
}

/** True when the command succeeds inside the namespace. */
export function okInNs(ns: string, args: string[]): boolean {
  return new Deno.Command("nsenter", {
    args: [`--net=${ns}`, ...args],
    stdout: "null",
    stderr: "null",
  })
    .outputSync().success;
}

/** `ip -j link show` in a namespace. */
export function links(
  ns: string,
): { ifname: string; master?: string; operstate: string; address?: string; mtu: number }[] {
  return JSON.parse(inNs(ns, ["ip", "-j", "link", "show"]));
}

/** `ip -j addr show dev X` addresses as "a/p". */
export function addrs(ns: string, dev: string): string[] {
  const j = JSON.parse(inNs(ns, ["ip", "-j", "addr", "show", "dev", dev])) as {
    addr_info: { local: string; prefixlen: number; scope: string }[];
  }[];
  return (j[0]?.addr_info ?? []).filter((a) => a.scope !== "link").map((a) =>
    `${a.local}/${a.prefixlen}`
  );
}

/** Files in an IPAM network directory that are reservations (not lock/last_reserved_ip). */
export function reservations(dataDir: string, network: string): string[] {
  try {
    return [...Deno.readDirSync(`${dataDir}/${network}`)]
      .map((e) => e.name)
      .filter((n) => n !== "lock" && !n.startsWith("last_reserved_ip") && !n.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

/** One ping that must succeed (`ping -c1 -W1`), from inside a namespace. */
export function ping(ns: string, dst: string): boolean {
  return okInNs(ns, ["ping", "-c1", "-W2", "-q", dst]);
}
