/**
 * The IPAM verbs: ADD, DEL, CHECK, GC and STATUS over the host-local-compatible disk store.
 *
 * Error codes: invalid config 7; invalid container ID/ifname 4; I/O failure 5; a range set
 * with no free address 11 (try again later: addresses come back as pods are deleted or GC
 * runs); a requested IP that is taken, outside every range set or reserved (gateway, network,
 * broadcast), or a second ADD for the same attachment: 100 (plugin-specific generic); CHECK
 * without any reservation: 3 (unknown container); STATUS when no address can be handed out: 50.
 *
 * @module
 */
import { compareIp, contains, formatIp, type Ip, tryParseIp } from "../../net/cidr.ts";
import { CniCode, CniError } from "../errors.ts";
import { crashPoint } from "./_crash.ts";
import { parseIpamConfig, rangeSetsOf } from "./config.ts";
import {
  candidates,
  cidrText,
  rangeFor,
  type RangeSet,
  rangeSetText,
  rangeText,
  reservedReason,
} from "./range.ts";
import { readResolvConf } from "./resolv_conf.ts";
import { recordMatches, reservationKeyProblem } from "../../node/reservation_file.ts";
import { ReservationStore, type ScannedReservation, type ScanResult } from "./store.ts";
import type {
  IpamAttachment,
  IpamCheckRequest,
  IpamConfig,
  IpamGcRequest,
  IpamIp,
  IpamRequest,
  IpamResult,
} from "./types.ts";
import { mark } from "../_trace.ts";

/** CNI STATUS code: the plugin cannot service ADD requests (spec 1.1). */
export const STATUS_UNAVAILABLE = 50;

function prefixOf(set: RangeSet, ip: Ip): number {
  return (rangeFor(set, ip) ?? set.find((r) => r.subnet.family === ip.family) ?? set[0]!)
    .subnet.prefix;
}

function whyOutside(sets: RangeSet[], ip: Ip): string {
  const taken = sets.findIndex((set) => rangeFor(set, ip) !== undefined);
  if (taken >= 0) {
    return `is in range set ${taken} (${
      rangeSetText(sets[taken]!)
    }), which gives one address per attachment and gave another requested one`;
  }
  for (const set of sets) {
    for (const r of set) {
      if (!contains(r.subnet, ip)) continue;
      return reservedReason(r, ip) ??
        `is in subnet ${cidrText(r.subnet)} but outside its range ${rangeText(r)}`;
    }
  }
  return `is in no range set (${sets.map(rangeSetText).join("; ")})`;
}

function ownerText(r: ScannedReservation | undefined): string {
  if (!r) return "another attachment";
  switch (r.record.kind) {
    case "current":
      return `container ${r.record.id} interface ${r.record.ifName}`;
    case "legacy":
      return `container ${r.record.id}`;
    case "empty":
      return "an empty reservation file left by a crashed writer (freed by the next DEL or GC)";
    case "corrupt":
      return `a corrupt reservation file (${r.record.reason}; freed by the next DEL or GC)`;
  }
}

function openStore(
  config: Pick<IpamConfig, "dataDir" | "networkName">,
  create = true,
): ReservationStore | undefined {
  const name = config.networkName;
  if (
    typeof name !== "string" || name === "" || name === "." || name === ".." || name.includes("/")
  ) {
    throw new CniError(
      CniCode.InvalidConfig,
      `Invalid IPAM config: network name ${JSON.stringify(name)} cannot name a directory`,
    );
  }
  return ReservationStore.open({ dataDir: config.dataDir, network: config.networkName, create });
}

/**
 * A reservation file that no attachment can own: zero-length (its writer died between creating
 * and filling it: host-local's O_EXCL create + write) or unreadable (corrupt). Only ever judged
 * while holding the store lock: every writer (skein, host-local) creates and fills its file
 * while holding that lock, so under it no live writer is between create and fill, and such a
 * file belongs to a dead process.
 */
function isAbandoned(r: ScannedReservation): boolean {
  return r.record.kind === "empty" || r.record.kind === "corrupt";
}

/**
 * Releases the abandoned reservation files (see isAbandoned) that `which` selects and drops them
 * from `scan`. Needs the lock. Returns how many were released.
 */
function reclaimAbandoned(
  store: ReservationStore,
  scan: ScanResult,
  which: (r: ScannedReservation) => boolean,
): number {
  let n = 0;
  for (const r of [...scan.reservations.values()]) {
    if (!isAbandoned(r) || !which(r)) continue;
    store.release(r.ip);
    scan.reservations.delete(r.ip);
    n++;
  }
  return n;
}

/** Reserves `ip`, first reclaiming it when an abandoned file (see isAbandoned) holds it. */
function reserveReclaiming(
  store: ReservationStore,
  scan: ScanResult,
  ip: string,
  who: IpamAttachment,
): boolean {
  if (store.reserve(ip, who)) return true;
  if (reclaimAbandoned(store, scan, (r) => r.ip === ip) === 0) return false;
  return store.reserve(ip, who);
}

/** The first address of range set `idx` after its cursor that this ADD could reserve. */
function nextFree(
  store: ReservationStore,
  scan: ScanResult,
  set: RangeSet,
  idx: number,
  who: IpamAttachment,
): Ip | undefined {
  for (const c of candidates(set, store.lastReserved(idx))) {
    const text = formatIp(c.ip);
    if (!scan.reservations.has(text) && store.reserve(text, who)) return c.ip;
  }
  return undefined;
}

/**
 * Validates an attachment key before it is written into a file: container ID and interface
 * name must be non-empty and free of whitespace/control characters (the file format could not
 * hold them). Throws CniError 4 (invalid environment variables).
 */
export function validateAttachment(a: IpamAttachment): void {
  const problem = reservationKeyProblem(a);
  if (problem === "containerId") {
    throw new CniError(
      CniCode.InvalidEnv,
      `Invalid container ID ${JSON.stringify(a.containerId)}`,
      "CNI_CONTAINERID must be non-empty without whitespace or control characters",
    );
  }
  if (problem === "ifName") {
    throw new CniError(
      CniCode.InvalidEnv,
      `Invalid interface name ${JSON.stringify(a.ifName)}`,
      "CNI_IFNAME must be 1-15 bytes without '/', ':', whitespace or control characters",
    );
  }
}

/** The requested addresses as IPs, without duplicates (a prefix length is ignored). Code 7. */
function requestedAddresses(req: IpamRequest): Ip[] {
  const requested: Ip[] = [];
  for (const t of req.requestedIps ?? []) {
    const ip = typeof t === "string" ? tryParseIp(t.replace(/\/[0-9]+$/, "")) : undefined;
    if (!ip) {
      throw new CniError(
        CniCode.InvalidConfig,
        `Cannot understand requested IP ${JSON.stringify(t)}`,
      );
    }
    if (!requested.some((x) => compareIp(x, ip) === 0)) requested.push(ip);
  }
  return requested;
}

/** What one ADD works with under the lock. */
interface AddState {
  store: ReservationStore;
  scan: ScanResult;
  req: IpamRequest;
}

/** Reserves the requested address `ip` of `set`, or throws why it cannot be had. */
function reserveRequested(s: AddState, set: RangeSet, ip: Ip): void {
  const why = reservedReason(rangeFor(set, ip)!, ip);
  if (why) {
    throw new CniError(CniCode.Internal, `Requested IP address ${formatIp(ip)} ${why}`);
  }
  if (!reserveReclaiming(s.store, s.scan, formatIp(ip), s.req)) {
    throw new CniError(
      CniCode.Internal,
      `Requested IP address ${formatIp(ip)} is not available in range set ${rangeSetText(set)}`,
      `it is held by ${ownerText(s.scan.reservations.get(formatIp(ip)))}`,
    );
  }
}

/**
 * Reserves the next free address of range set `idx` round-robin (reclaiming abandoned files when
 * the set looks full); refuses a second address for the same attachment in the set.
 */
function reserveNext(s: AddState, set: RangeSet, idx: number): Ip {
  const { store, scan, req } = s;
  for (const r of scan.reservations.values()) {
    if (recordMatches(r.record, req) && rangeFor(set, r.addr)) {
      throw new CniError(
        CniCode.Internal,
        `${r.ip} has been allocated to ${req.containerId} (${req.ifName}), duplicate allocation is not allowed`,
        "the runtime must DEL an attachment before adding it again",
      );
    }
  }
  let found = nextFree(store, scan, set, idx, req);
  // The range looks full: free what dead writers left in it, then look again.
  if (!found && reclaimAbandoned(store, scan, (r) => !!rangeFor(set, r.addr)) > 0) {
    found = nextFree(store, scan, set, idx, req);
  }
  if (!found) {
    throw new CniError(
      CniCode.TryAgainLater,
      `no IP addresses available in range set: ${rangeSetText(set)}`,
      `every address of network "${req.config.networkName}" in this range set is reserved (${store.dir})`,
    );
  }
  return found;
}

/**
 * Reserves one address per range set (recording each in `done` and moving the cursors); throws
 * when an address cannot be had or a requested one fits no set. Needs the lock.
 */
function reserveAll(s: AddState, sets: RangeSet[], requested: Ip[], done: string[]): IpamIp[] {
  const pending = [...requested];
  const out: IpamIp[] = [];
  sets.forEach((set, idx) => {
    const want = pending.findIndex((ip) => rangeFor(set, ip) !== undefined);
    let got: Ip;
    if (want >= 0) {
      got = pending.splice(want, 1)[0]!;
      reserveRequested(s, set, got);
    } else {
      got = reserveNext(s, set, idx);
    }
    const text = formatIp(got);
    done.push(text);
    s.store.setLastReserved(idx, text);
    if (idx === 0) crashPoint("after-reserve");
    const range = rangeFor(set, got)!;
    out.push({ address: `${text}/${prefixOf(set, got)}`, gateway: formatIp(range.gateway) });
  });
  if (pending.length > 0) {
    throw new CniError(
      CniCode.Internal,
      `failed to allocate all requested IPs: ${pending.map(formatIp).join(" ")}`,
      pending.map((ip) => `${formatIp(ip)} ${whyOutside(sets, ip)}`).join("; "),
    );
  }
  return out;
}

/**
 * ADD: reserves one address from every range set for the attachment (a requested IP when one
 * falls in the set, else the next free address round-robin after `last_reserved_ip.<n>`, as
 * host-local). Everything happens under the store lock; each reservation is created atomically
 * before anything else; if any range set fails, the reservations of this call are released
 * before the error is thrown, so a failed ADD changes nothing.
 */
export async function ipamAdd(req: IpamRequest): Promise<IpamResult> {
  validateAttachment(req);
  const sets = rangeSetsOf(req.config);
  const requested = requestedAddresses(req);
  const dns = req.config.resolvConf ? readResolvConf(req.config.resolvConf) : undefined;
  const store = openStore(req.config)!;
  try {
    const ips = await store.withLock(() => {
      crashPoint("after-lock");
      mark("IPAM locked");
      const scan = store.scan();
      mark("IPAM reservations read");
      const done: string[] = [];
      const cursors = sets.map((_, idx) => store.readCursor(idx));
      try {
        const out = reserveAll({ store, scan, req }, sets, requested, done);
        if (scan.temps.length > 0) store.removeTemps(scan.temps);
        crashPoint("before-unlock");
        return out;
      } catch (e) {
        for (const ip of done) store.release(ip);
        cursors.forEach((text, idx) => store.restoreCursor(idx, text));
        throw e;
      }
    });
    crashPoint("after-unlock");
    const result: IpamResult = { ips, routes: req.config.routes.map((r) => ({ ...r })) };
    if (dns) result.dns = dns;
    return result;
  } finally {
    store.close();
  }
}

/**
 * DEL: releases every reservation of the attachment (when it has none in the current format,
 * the legacy container-ID-only records of that container, as host-local does).
 * Idempotent: an unknown container, or a network directory that does not exist, is success.
 * Also removes what crashed writers left (temporary files, zero-length and corrupt reservation
 * files: see isAbandoned).
 * Returns how many of the attachment's reservations it released (0: it held none).
 */
export async function ipamDel(req: { config: IpamConfig } & IpamAttachment): Promise<number> {
  validateAttachment(req);
  const store = openStore(req.config, false);
  if (!store) return 0;
  try {
    return await store.withLock(() => {
      const scan = store.scan();
      const all = [...scan.reservations.values()];
      // Like host-local: current-format records first; legacy (ID-only) ones when none matched.
      let mine = all.filter((r) => r.record.kind === "current" && recordMatches(r.record, req));
      if (mine.length === 0) mine = all.filter((r) => recordMatches(r.record, req));
      for (const r of mine) store.release(r.ip);
      reclaimAbandoned(store, scan, () => true);
      store.removeTemps(scan.temps);
      return mine.length;
    });
  } finally {
    store.close();
  }
}

/**
 * Reclaims what dead writers left in `<dataDir>/<network>` (zero-length and corrupt reservation
 * files, temporary files), under the store lock, touching nothing else. For a directory another
 * IPAM writes (host-local, whose own DEL never removes the empty file it leaves when killed
 * between its create and its write). Returns the reclaimed addresses; a missing directory is
 * nothing to do.
 */
export async function ipamReclaim(
  opts: { dataDir: string; networkName: string },
): Promise<string[]> {
  const store = openStore(opts, false);
  if (!store) return [];
  try {
    return await store.withLock(() => {
      const scan = store.scan();
      const gone = [...scan.reservations.values()].filter(isAbandoned).map((r) => r.ip);
      reclaimAbandoned(store, scan, () => true);
      store.removeTemps(scan.temps);
      return gone;
    });
  } finally {
    store.close();
  }
}

/**
 * CHECK: the attachment must hold at least one reservation (CniError 3 otherwise), and every
 * address in `expectedIps` (from prevResult) must be reserved by it (CniError 100 otherwise).
 */
export async function ipamCheck(req: IpamCheckRequest): Promise<void> {
  validateAttachment(req);
  const expected = (req.expectedIps ?? []).map((t) => {
    const ip = typeof t === "string" ? tryParseIp(t.replace(/\/[0-9]+$/, "")) : undefined;
    if (!ip) throw new CniError(CniCode.InvalidConfig, `Cannot understand IP ${JSON.stringify(t)}`);
    return ip;
  });
  const store = openStore(req.config, false);
  const noReservation = (extra: string) =>
    new CniError(
      CniCode.UnknownContainer,
      `No IP address reserved for container ${req.containerId} interface ${req.ifName} in network "${req.config.networkName}"`,
      extra,
    );
  if (!store) throw noReservation(`${req.config.dataDir}/${req.config.networkName} does not exist`);
  try {
    await store.withLock(() => {
      const scan = store.scan();
      const mine = [...scan.reservations.values()].filter((r) => recordMatches(r.record, req));
      if (mine.length === 0) {
        const bad = [...scan.reservations.values()].filter((r) => r.record.kind === "corrupt");
        throw noReservation(
          bad.length > 0
            ? `corrupt reservation files (unreadable owner): ${
              bad.map((r) => `${r.ip}: ${ownerText(r)}`).join("; ")
            }`
            : "",
        );
      }
      for (const ip of expected) {
        const r = scan.reservations.get(formatIp(ip));
        if (!r || !recordMatches(r.record, req)) {
          throw new CniError(
            CniCode.Internal,
            `IP address ${
              formatIp(ip)
            } of container ${req.containerId} interface ${req.ifName} is not reserved for it`,
            r ? `it is held by ${ownerText(r)}` : "no reservation file exists for it",
          );
        }
      }
    });
  } finally {
    store.close();
  }
}

/**
 * GC (CNI 1.1): releases every reservation whose (containerID, ifname) is not in
 * `validAttachments` (a legacy container-only record survives when its container has any valid
 * attachment), plus what crashed writers left: zero-length and corrupt reservation files and
 * temporary files. Returns the released addresses. The lock and `last_reserved_ip.*` stay.
 */
export async function ipamGc(opts: IpamGcRequest): Promise<{ released: string[] }> {
  if (!Array.isArray(opts.validAttachments)) {
    throw new CniError(
      CniCode.InvalidConfig,
      "Invalid config: cni.dev/valid-attachments must be an array",
    );
  }
  const valid: IpamAttachment[] = opts.validAttachments.map((a, i) => {
    if (!a || typeof a.containerID !== "string" || typeof a.ifname !== "string") {
      throw new CniError(
        CniCode.InvalidConfig,
        `Invalid config: cni.dev/valid-attachments[${i}] needs string containerID and ifname`,
      );
    }
    return { containerId: a.containerID, ifName: a.ifname };
  });
  const store = openStore(opts.config, false);
  if (!store) return { released: [] };
  try {
    return await store.withLock(() => {
      const scan = store.scan();
      const released: string[] = [];
      for (const r of scan.reservations.values()) {
        const keep = (r.record.kind === "current" || r.record.kind === "legacy") &&
          valid.some((a) => recordMatches(r.record, a));
        if (!keep) {
          store.release(r.ip);
          released.push(r.ip);
        }
      }
      store.removeTemps(scan.temps);
      return { released };
    });
  } finally {
    store.close();
  }
}

/**
 * STATUS: throws CniError 50 when an ADD could not succeed now: the node lease file is missing
 * or unusable (`"subnet": "auto"`), the data directory cannot be used, or a range set has no
 * free address. Changes nothing on disk except creating the
 * network directory and lock file, as ADD would.
 */
export async function ipamStatus(config: IpamConfig): Promise<void> {
  if (config.leaseError) {
    throw new CniError(STATUS_UNAVAILABLE, config.leaseError.message, config.leaseError.details);
  }
  let sets: RangeSet[];
  try {
    sets = rangeSetsOf(config);
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    throw new CniError(STATUS_UNAVAILABLE, e.message, e.details);
  }
  let store: ReservationStore;
  try {
    store = openStore(config)!;
  } catch (e) {
    throw new CniError(STATUS_UNAVAILABLE, (e as Error).message, "IPAM cannot store reservations");
  }
  try {
    await store.withLock(() => {
      const scan = store.scan();
      sets.forEach((set, idx) => {
        for (const c of candidates(set, store.lastReserved(idx))) {
          const r = scan.reservations.get(formatIp(c.ip));
          if (!r || isAbandoned(r)) return; // ADD reclaims abandoned files when the range is full
        }
        throw new CniError(
          STATUS_UNAVAILABLE,
          `no IP addresses available in range set: ${rangeSetText(set)}`,
          `network "${config.networkName}" cannot add pods until addresses are released`,
        );
      });
    });
  } catch (e) {
    if (e instanceof CniError && e.code === STATUS_UNAVAILABLE) throw e;
    throw new CniError(STATUS_UNAVAILABLE, (e as Error).message, "IPAM cannot read its state");
  } finally {
    store.close();
  }
}

/**
 * STATUS from a netconf: parses the IPAM section first, so a missing node lease file (the daemon
 * has not leased a subnet yet) or a bad config is reported as CniError 50 too.
 */
export async function ipamStatusOfNetconf(netconf: Record<string, unknown>): Promise<void> {
  let config: IpamConfig;
  try {
    config = await parseIpamConfig(netconf);
  } catch (e) {
    if (e instanceof CniError) throw new CniError(STATUS_UNAVAILABLE, e.message, e.details);
    throw e;
  }
  await ipamStatus(config);
}
