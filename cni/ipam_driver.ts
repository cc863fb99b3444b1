/**
 * IPAM for the main plugin: inline when `ipam.type` is "skein" (cni/ipam/mod.ts), otherwise the
 * named plugin executed from CNI_PATH the way libcni's `invoke.DelegateAdd` does it (same stdin,
 * same environment with CNI_COMMAND set, result parsed and converted).
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import type { CmdArgs } from "./env.ts";
import type { CniArgs } from "./cni_args.ts";
import type { NetConf } from "./netconf.ts";
import { type CniResult, parseResult } from "./result.ts";
import { mark } from "./_trace.ts";
import { withRaisedPriority } from "./_priority.ts";

/** Which attachment an IPAM call is about. */
export interface IpamCall {
  /** The parsed network configuration. */
  conf: NetConf;
  /** The CNI_* parameters. */
  args: CmdArgs;
  /** Parsed CNI_ARGS. */
  cniArgs: CniArgs;
  /** The namespace the plugin runs in when it is not this process's (see RunContext). */
  hostNetns?: string;
  /** The path through which this process opens CNI_NETNS (see RunContext.peerPid). */
  podNetns: string;
}

/** `inline: true` forces the in-process skein IPAM (skein exec'd as another plugin's IPAM). */
export interface IpamMode {
  /** Use the in-process IPAM whatever `ipam.type` says. */
  inline?: boolean;
}

function isInline(call: IpamCall, mode?: IpamMode): boolean {
  return mode?.inline === true || call.conf.ipam?.type === "skein";
}

/** What the main plugin learns from IPAM besides addresses (skein IPAM only). */
export interface IpamHints {
  /** The pod MTU the daemon chose (node lease), used when the config sets no "mtu". */
  mtu?: number;
}

/** IPAM ADD: the addresses, routes and DNS for the attachment (no interfaces). */
export async function ipamAddFor(
  call: IpamCall,
  mode?: IpamMode,
): Promise<{ result: CniResult; hints: IpamHints }> {
  const { conf, args } = call;
  if (isInline(call, mode)) {
    const ipam = await import("./ipam/mod.ts");
    mark("IPAM modules loaded");
    const config = await ipam.parseIpamConfig(conf.raw);
    mark("IPAM config parsed");
    const r = await withRaisedPriority(() =>
      ipam.ipamAdd({
        config,
        containerId: args.containerId,
        ifName: args.ifName,
        // CNI_ARGS IP= first, then the config's (host-local's order); parsed once, at the
        // boundary (cni_args.ts, netconf.ts); the allocator drops prefixes and duplicates.
        requestedIps: [...call.cniArgs.ips, ...conf.requestedIps],
      })
    );
    return {
      result: {
        cniVersion: conf.cniVersion,
        ips: r.ips.map((ip) => ({ ...ip })),
        routes: r.routes.map((rt) => ({ ...rt })),
        ...(r.dns && Object.keys(r.dns).length ? { dns: { ...r.dns } } : {}),
      },
      hints: { mtu: config.nodeLease?.mtu },
    };
  }
  const out = await delegate(call, "ADD");
  return { result: parseResult(out ?? {}, conf.cniVersion), hints: {} };
}

/**
 * IPAM DEL: releases the attachment's addresses; succeeds when there is nothing to release.
 * Returns how many reservations skein IPAM released, undefined for a delegated IPAM plugin
 * (which does not say).
 */
export async function ipamDelFor(call: IpamCall, mode?: IpamMode): Promise<number | undefined> {
  const { conf, args } = call;
  if (isInline(call, mode)) {
    const ipam = await import("./ipam/mod.ts");
    mark("IPAM modules loaded");
    const config = await ipam.parseIpamConfig(conf.raw);
    return await withRaisedPriority(() =>
      ipam.ipamDel({ config, containerId: args.containerId, ifName: args.ifName })
    );
  }
  await delegate(call, "DEL");
  if (conf.ipam?.type === "host-local") await reclaimHostLocal(call);
  return undefined;
}

/**
 * After host-local's DEL: frees what a host-local killed between creating and filling a
 * reservation file left (an empty file its own DEL and ADD never remove), under the lock both
 * take. Best effort: the DEL itself already succeeded.
 */
async function reclaimHostLocal(call: IpamCall): Promise<void> {
  const dataDir = call.conf.ipam?.dataDir;
  try {
    const ipam = await import("./ipam/mod.ts");
    await ipam.ipamReclaim({
      dataDir: typeof dataDir === "string" && dataDir !== "" ? dataDir : ipam.DEFAULT_DATA_DIR,
      networkName: call.conf.name,
    });
  } catch {
    // An unusable directory is host-local's to report; its DEL succeeded.
  }
}

/** IPAM CHECK: the attachment still holds `expectedIps`. */
export async function ipamCheckFor(
  call: IpamCall,
  expectedIps: string[],
  mode?: IpamMode,
): Promise<void> {
  const { conf, args } = call;
  if (isInline(call, mode)) {
    const ipam = await import("./ipam/mod.ts");
    await ipam.ipamCheck({
      config: await ipam.parseIpamConfig(conf.raw),
      containerId: args.containerId,
      ifName: args.ifName,
      expectedIps,
    });
    return;
  }
  await delegate(call, "CHECK");
}

/** IPAM GC (1.1): releases every reservation not in the config's valid attachments. */
export async function ipamGcFor(call: IpamCall, mode?: IpamMode): Promise<void> {
  const { conf } = call;
  if (isInline(call, mode)) {
    const ipam = await import("./ipam/mod.ts");
    await ipam.ipamGc({
      config: await ipam.parseIpamConfig(conf.raw),
      validAttachments: (conf.validAttachments ?? []).map((a) => ({
        containerID: a.containerId,
        ifname: a.ifName,
      })),
    });
    return;
  }
  await delegate(call, "GC");
}

/** IPAM STATUS (1.1): throws CniError (e.g. code 50) when no address can be handed out. */
export async function ipamStatusFor(call: IpamCall, mode?: IpamMode): Promise<void> {
  const { conf } = call;
  if (isInline(call, mode)) {
    const ipam = await import("./ipam/mod.ts");
    await ipam.ipamStatus(await ipam.parseIpamConfig(conf.raw));
    return;
  }
  await delegate(call, "STATUS");
}

/** Finds plugin `type` in the CNI_PATH directories (libcni's invoke.FindInPath). */
export function findInPath(type: string, dirs: readonly string[]): string {
  for (const dir of dirs) {
    const p = `${dir}/${type}`;
    try {
      const st = Deno.statSync(p);
      if (st.isFile) return p;
    } catch {
      // not in this directory
    }
  }
  throw new CniError(
    CniCode.InvalidConfig,
    `failed to find plugin "${type}" in path`,
    `searched CNI_PATH [${dirs.join(" ")}]`,
  );
}

/**
 * Writes the config to the plugin's stdin. A plugin may exit without reading it (a DEL that does
 * nothing, an error before reading): like Go's os/exec, a broken pipe is not the call's failure,
 * the plugin's exit status and output judge it.
 */
async function feed(stdin: WritableStream<Uint8Array>, bytes: Uint8Array): Promise<void> {
  const w = stdin.getWriter();
  try {
    await w.write(bytes);
    await w.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    await w.abort().catch(() => {});
  }
}

/**
 * Runs the IPAM plugin named by `ipam.type` with `command`, the caller's config bytes on
 * stdin and the caller's environment. Returns the parsed stdout JSON (undefined when empty);
 * a failing plugin's error JSON is re-thrown as CniError with its code.
 */
export async function delegate(call: IpamCall, command: string): Promise<unknown> {
  const type = call.conf.ipam!.type;
  const bin = findInPath(type, call.args.path);
  // The call's own CNI_* values, not this process's environment: in the daemon they differ.
  const a = call.args;
  const child = new Deno.Command(bin, {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: a.containerId,
      CNI_NETNS: a.netns,
      CNI_IFNAME: a.ifName,
      CNI_ARGS: a.args,
      CNI_PATH: a.path.join(":"),
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await feed(child.stdin, call.conf.bytes);
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout).trim();
  let json: unknown;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      throw new CniError(
        CniCode.DecodeFailure,
        `IPAM plugin "${type}" ${command} printed something that is not JSON`,
        text.slice(0, 500),
      );
    }
  }
  if (!out.success) {
    const e = (json ?? {}) as { code?: unknown; msg?: unknown; details?: unknown };
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new CniError(
      typeof e.code === "number" ? e.code : CniCode.Internal,
      `IPAM plugin "${type}" ${command} failed: ${
        typeof e.msg === "string" ? e.msg : `exit ${out.code}`
      }`,
      typeof e.details === "string" ? e.details : stderr.slice(0, 500) || undefined,
    );
  }
  return json;
}
