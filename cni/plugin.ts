/**
 * The CNI verbs: ADD, DEL, CHECK, STATUS, GC (VERSION lives in version_cmd.ts), for skein as a
 * main plugin (`"type": "skein"`) and as an IPAM plugin of another main plugin. Reads like the
 * reference plugins' cmdAdd: load config → validate → IPAM → wire the pod → result, with every
 * step's undo run in reverse when a later one fails.
 *
 * @module
 */
import { type Handle, type NetHandle, openHandle } from "../net/mod.ts";
import { CniCode, CniError } from "./errors.ts";
import type { CmdArgs } from "./env.ts";
import { type CniArgs, parseCniArgs } from "./cni_args.ts";
import { decodeConfig, type NetConf, parseNetConf } from "./netconf.ts";
import { type CniResult, formatResult } from "./result.ts";
import { versionAtLeast } from "./versions.ts";
import { assertPodNetns, podNetnsUsable } from "./_netns_check.ts";
import { podNetnsPath } from "./_peer_path.ts";
import {
  ipamAddFor,
  type IpamCall,
  ipamCheckFor,
  ipamDelFor,
  ipamGcFor,
  ipamStatusFor,
} from "./ipam_driver.ts";
import { assertBridgeUsable, wireBridge, wireLoopback, wireRouted } from "./modes.ts";
// CHECK (check.ts), masquerade (masq.ts) and VERSION (version_cmd.ts) are imported when used:
// ADD and DEL without ipMasq do not load them.
import { hostVethName } from "../node/veth_name.ts";
import { linkDelIfExists, linkDelIfExistsAsync, linkDelUnregistered, step } from "./_kernel.ts";
import { mark, traceFlush } from "./_trace.ts";
import { isOtherNetworksVeth, peerInOtherNetns } from "./_veth_owner.ts";
import { bridgeLeaks, networkSubnets, reservedHostVeths, routedLeaks } from "./_gc_leaks.ts";
import { atomicWriteFile } from "../node/atomic_write.ts";

mark("plugin modules loaded");

/** Where a call runs. */
export interface RunContext {
  /**
   * The namespace the plugin was started in, when it is not this process's own (the daemon
   * serving a plugin from its node's namespace): the "host" side of every attachment.
   */
  hostNetns?: string;
  /**
   * The plugin process, when this process runs the call for it (the daemon): CNI_NETNS is
   * resolved in that process's mount namespace (`/proc/<pid>/root/...`, `/proc/self` as
   * `/proc/<pid>`), since the runtime's /run/netns may be a mount the daemon does not see.
   */
  peerPid?: number;
  /**
   * This process outlives the call (the daemon): work the kernel finishes on its own, like
   * freeing a deleted veth after RCU grace periods, need not delay the answer.
   */
  longLived?: boolean;
  /**
   * The daemon: the ADD marker (forward.ts addMarkerPath) to mark "touched" once ADD got past
   * its checks, before IPAM reserves anything.
   */
  addMarker?: string;
  /**
   * In-process after the daemon died running this ADD past its checks (forward.ts
   * orphanedCall): its marker. ADD first undoes what that half-done ADD left, as DEL would.
   */
  recoverAdd?: string;
}

/**
 * Runs one CNI call. Returns the JSON object to print on stdout (undefined: print nothing).
 * Throws CniError for every failure.
 */
export async function runCni(
  args: CmdArgs,
  stdin: Uint8Array,
  ctx: RunContext = {},
): Promise<Record<string, unknown> | undefined> {
  try {
    return await runVerb(args, stdin, ctx);
  } finally {
    mark(`${args.command} done`);
    traceFlush();
  }
}

async function runVerb(
  args: CmdArgs,
  stdin: Uint8Array,
  ctx: RunContext,
): Promise<Record<string, unknown> | undefined> {
  if (args.command === "VERSION") {
    const { versionAnswer } = await import("./version_cmd.ts");
    return versionAnswer(new TextDecoder().decode(stdin));
  }
  const { cniVersion } = decodeConfig(stdin);
  const need = { CHECK: "0.4.0", STATUS: "1.1.0", GC: "1.1.0" } as Record<string, string>;
  const min = need[args.command];
  if (min && !versionAtLeast(cniVersion, min)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `config version does not allow ${args.command}`,
      `${args.command} needs cniVersion ${min} or later; the config says ${cniVersion}`,
    );
  }
  const conf = parseNetConf(stdin);
  const cniArgs = args.command === "ADD" || args.command === "CHECK"
    ? parseCniArgs(args.args)
    : lenientCniArgs(args.args);
  const call: IpamCall = {
    conf,
    // Loopback mode configures lo whatever CNI_IFNAME says, as the reference loopback plugin does.
    args: conf.type === "skein" && conf.mode === "loopback" ? { ...args, ifName: "lo" } : args,
    cniArgs,
    hostNetns: ctx.hostNetns,
    podNetns: podNetnsPath(args.netns, ctx.peerPid),
  };
  mark("config parsed");
  if (conf.type !== "skein") return await runAsIpam(call);
  switch (args.command) {
    case "ADD":
      if (ctx.recoverAdd) await undoDeadAdd(call, ctx.recoverAdd);
      return formatResult(await cmdAdd(call, ctx), conf.cniVersion);
    case "DEL":
      await cmdDel(call, ctx);
      return undefined;
    case "CHECK":
      await cmdCheck(call);
      return undefined;
    case "STATUS":
      if (conf.mode !== "loopback") await ipamStatusFor(call);
      return undefined;
    case "GC":
      await cmdGc(call);
      return undefined;
  }
}

/** DEL and GC must not fail on CNI_ARGS they do not need. */
function lenientCniArgs(text: string): CniArgs {
  try {
    return parseCniArgs(text);
  } catch {
    return { ignoreUnknown: true, ips: [], pairs: {} };
  }
}

/** skein as the IPAM of another main plugin: ADD answers with ips, routes and dns only. */
async function runAsIpam(call: IpamCall): Promise<Record<string, unknown> | undefined> {
  const { conf, args } = call;
  switch (args.command) {
    case "ADD": {
      const { result } = await ipamAddFor(call, { inline: true });
      return formatResult(result, conf.cniVersion);
    }
    case "DEL":
      await ipamDelFor(call, { inline: true });
      return undefined;
    case "CHECK": {
      const ips = (conf.prevResult?.ips ?? []).map((ip) => ip.address);
      await ipamCheckFor(call, ips, { inline: true });
      return undefined;
    }
    case "GC":
      await ipamGcFor(call, { inline: true });
      return undefined;
    case "STATUS":
      await ipamStatusFor(call, { inline: true });
      return undefined;
    default:
      return undefined;
  }
}

/**
 * Undoes what a dead daemon's ADD of this attachment left (IPAM reservation, host veth, pod
 * interface: what DEL removes), when its marker names this network; then drops the marker.
 */
async function undoDeadAdd(call: IpamCall, marker: string): Promise<void> {
  let network: unknown;
  try {
    network = JSON.parse(Deno.readTextFileSync(marker))?.network;
  } catch {
    return; // another plugin process recovered it already
  }
  if (network === call.conf.name) await cmdDel(call, {});
  try {
    Deno.removeSync(marker);
  } catch {
    // gone already
  }
}

async function cmdAdd(call: IpamCall, ctx: RunContext = {}): Promise<CniResult> {
  const { conf, args, cniArgs } = call;
  assertPodNetns(call.podNetns, call.hostNetns, args.netns);
  if (conf.mode === "loopback") {
    using pod = step(`cannot open netns ${args.netns}`, () => openHandle({ netns: call.podNetns }));
    return withDns(conf, wireLoopback(pod, args.netns, args.ifName, conf.cniVersion));
  }
  // Handles live for the whole call: the undo steps below still need them.
  using host = step(
    "cannot open a netlink handle in the host namespace",
    () => openHandle(hostOf(call)),
  );
  mark("host handle open");
  using pod = step(`cannot open netns ${args.netns}`, () => openHandle({ netns: call.podNetns }));
  mark("pod handle open");
  assertAttachable(call, host, pod);
  if (ctx.addMarker) markTouched(ctx.addMarker);
  const undo: (() => void | Promise<void>)[] = [];
  try {
    const { result: ipam, hints } = await ipamAddFor(call);
    undo.push(async () => void await ipamDelFor(call));
    mark("IPAM ADD done");
    if (!ipam.ips?.length) {
      throw new CniError(
        CniCode.InvalidConfig,
        `IPAM plugin "${conf.ipam?.type}" returned no addresses`,
      );
    }
    const opts = {
      conf,
      hostNetns: call.hostNetns,
      containerId: args.containerId,
      ifName: args.ifName,
      netns: args.netns,
      podNetns: call.podNetns,
      host,
      pod,
      ipam,
      mtu: conf.mtu ?? hints.mtu,
      mac: conf.mac ?? cniArgs.mac,
      undo,
    };
    const result = conf.mode === "bridge" ? wireBridge(opts) : wireRouted(opts);
    if (conf.ipMasq) {
      const owner = { network: conf.name, containerId: args.containerId, ifName: args.ifName };
      const { masqAdd, masqDel } = await import("./masq.ts");
      undo.push(() => masqDel(owner));
      await masqAdd(owner, (ipam.ips ?? []).map((ip) => ({ address: ip.address })));
    }
    return withDns(conf, result);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch {
        // Keep undoing; the original error is what the runtime needs to see.
      }
    }
    throw e;
  }
}

/**
 * ADD's checks before IPAM reserves anything (so a refusal changes nothing): the pod has no
 * link named CNI_IFNAME, the host no veth named after the attachment, and in bridge mode the
 * "bridge" name is free or a bridge.
 */
function assertAttachable(call: IpamCall, host: NetHandle, pod: NetHandle): void {
  const { conf, args } = call;
  if (pod.linkFind(args.ifName)) {
    // Rolling back a fresh allocation for this same attachment would release the address the
    // existing interface is using.
    throw new CniError(
      CniCode.Internal,
      `container interface ${args.ifName} already exists`,
      `netns ${args.netns} already has a link named ${args.ifName}; DEL the attachment first`,
    );
  }
  const hostName = hostVethName(args.containerId, args.ifName);
  if (host.linkFind(hostName)) {
    // Its peer lives on in some namespace (a veth pair goes with its namespace): another
    // network's attachment of this container id and ifname, or one never deleted. Replacing
    // it would take that pod's interface away.
    throw new CniError(
      CniCode.Internal,
      `host veth ${hostName} already exists`,
      `container ${args.containerId} interface ${args.ifName} is already attached (another ` +
        "network, or another namespace); DEL that attachment first",
    );
  }
  if (conf.mode === "bridge") assertBridgeUsable(host, conf.bridge);
}

/** Marks the daemon's ADD marker "touched": from here on the ADD changes the node. */
function markTouched(marker: string): void {
  try {
    const m = JSON.parse(Deno.readTextFileSync(marker));
    atomicWriteFile(marker, JSON.stringify({ ...m, state: "touched" }));
  } catch {
    // Not markable (removed, full disk): a plugin that loses the daemon runs a plain ADD.
  }
}

/** openHandle() options for the namespace the plugin runs in. */
function hostOf(call: IpamCall): { netns?: string } {
  return call.hostNetns === undefined ? {} : { netns: call.hostNetns };
}

/** The config's own "dns" wins over IPAM's (the reference bridge does the same). */
function withDns(conf: NetConf, r: CniResult): CniResult {
  const dns = conf.raw.dns;
  if (dns && typeof dns === "object" && Object.keys(dns).length) {
    return { ...r, dns: dns as CniResult["dns"] };
  }
  return r;
}

/** Loopback DEL: sets the pod's interface down (nothing else was made). */
function delLoopback(call: IpamCall): void {
  if (!podNetnsUsable(call.podNetns, call.hostNetns)) return;
  try {
    using pod = openHandle({ netns: call.podNetns });
    if (pod.linkFind(call.args.ifName)) pod.linkSet(call.args.ifName, { up: false });
  } catch {
    // the namespace is going away: nothing to undo
  }
}

/**
 * Starts deleting the attachment's host veth `hostName` (false when there is none of this
 * attachment's). Another network's attachment of this container id and ifname has the same host
 * veth name, and so has this attachment when it lives in another namespace than CNI_NETNS.
 */
function startHostVethDel(
  call: IpamCall,
  ctx: RunContext,
  host: Handle,
  hostName: string,
): Promise<unknown> {
  const link = host.linkFind(hostName);
  const notOurs = !link || isOtherNetworksVeth(host, link, call.conf) ||
    (podNetnsUsable(call.podNetns, call.hostNetns) &&
      peerInOtherNetns(host, link, call.podNetns));
  if (notOurs) return Promise.resolve(false);
  return ctx.longLived
    ? linkDelUnregistered(host, hostName)
    : linkDelIfExistsAsync(host, link.index);
}

async function cmdDel(call: IpamCall, ctx: RunContext): Promise<void> {
  const { conf, args } = call;
  const errors: unknown[] = [];
  if (conf.mode === "loopback") return delLoopback(call);
  // Deleting a veth keeps the kernel busy ~20 ms (RCU grace periods): start it on a helper
  // thread and release the addresses meanwhile. Errors are reported IPAM's first, as before.
  // The daemon answers once the kernel unregistered the veth (linkDelUnregistered).
  const hostName = hostVethName(args.containerId, args.ifName);
  let host: Handle | undefined;
  let hostDel: Promise<unknown>;
  try {
    host = openHandle(hostOf(call));
    hostDel = startHostVethDel(call, ctx, host, hostName);
  } catch (e) {
    hostDel = Promise.reject(e);
  }
  hostDel.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
  let released: number | undefined;
  try {
    released = await ipamDelFor(call);
  } catch (e) {
    errors.push(e);
  }
  mark("IPAM DEL done");
  try {
    await hostDel;
    mark("host veth deleted");
  } catch (e) {
    errors.push(
      new CniError(CniCode.Internal, `cannot delete host veth ${hostName}`, (e as Error).message),
    );
  } finally {
    host?.close();
  }
  // Deleting the host veth took its peer with it. An interface still in the pod namespace is
  // therefore not the peer of this attachment's host veth: it is this attachment's only when
  // IPAM held a reservation for it (the host veth was lost, the pod side leaked) and it is not
  // a veth whose peer lives in another namespace (a live attachment, this container's in
  // another pod or another container's). Otherwise DEL leaves it alone.
  if (released && podNetnsUsable(call.podNetns, call.hostNetns)) {
    try {
      using pod = openHandle({ netns: call.podNetns });
      const l = pod.linkFind(args.ifName);
      const leftover = l && (l.kind === "veth" || l.kind === undefined) &&
        l.linkNetnsId === undefined;
      if (leftover) linkDelIfExists(pod, args.ifName);
      mark("pod side checked");
    } catch {
      // A path that is no longer a namespace: the pod side is gone with it.
    }
  }
  if (conf.ipMasq) {
    try {
      const { masqDel } = await import("./masq.ts");
      await masqDel({ network: conf.name, containerId: args.containerId, ifName: args.ifName });
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}

async function cmdCheck(call: IpamCall): Promise<void> {
  const { conf, args } = call;
  if (!conf.prevResult) {
    throw new CniError(
      CniCode.InvalidConfig,
      "required prevResult missing",
      'CHECK needs the ADD result in "prevResult"',
    );
  }
  assertPodNetns(call.podNetns, call.hostNetns, args.netns);
  using host = step(
    "cannot open a netlink handle in the host namespace",
    () => openHandle(hostOf(call)),
  );
  using pod = step(`cannot open netns ${args.netns}`, () => openHandle({ netns: call.podNetns }));
  const { checkAttachment } = await import("./check.ts");
  const ips = checkAttachment({
    conf,
    prev: conf.prevResult,
    containerId: args.containerId,
    ifName: args.ifName,
    netns: args.netns,
    host,
    pod,
  });
  if (conf.mode !== "loopback") await ipamCheckFor(call, ips);
}

async function cmdGc(call: IpamCall): Promise<void> {
  const { conf } = call;
  if (conf.mode === "loopback") return;
  const keep = new Set(
    (conf.validAttachments ?? []).map((a) => hostVethName(a.containerId, a.ifName)),
  );
  // Before IPAM GC: routed mode attributes leaked veths through the ranges IPAM knows, bridge
  // mode through the reservations IPAM GC is about to release.
  const subnets = conf.mode === "routed" ? await networkSubnets(call) : [];
  const reserved = conf.mode === "bridge" ? await reservedHostVeths(call) : new Set<string>();
  await ipamGcFor(call);
  const { masqGc } = await import("./masq.ts");
  await masqGc(conf.name, conf.validAttachments ?? []);
  using host = openHandle(hostOf(call));
  const leaks = conf.mode === "bridge"
    ? bridgeLeaks(host, conf.bridge, keep, reserved)
    : routedLeaks(host, subnets, keep);
  for (const name of leaks) linkDelIfExists(host, name);
}
