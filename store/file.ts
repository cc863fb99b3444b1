/**
 * The embedded lease store: one directory that several daemons on one machine share (what
 * `skein lab` uses).
 *
 * ```
 * DIR/config.json                    flannel-style network config
 * DIR/subnets/10.244.1.0-24.json     one lease per file: {"Subnet","PublicIP","BackendType",
 *                                    "BackendData","Node","Expiration"}
 * DIR/revision                       counter bumped by every change (watchers check it)
 * DIR/lock                           flock(2) held for every read-modify-write
 * ```
 * Every write is atomic (temp file + rename). Expiry is checked on read: an expired record is
 * invisible to list() and free for acquire(), which hands its subnet out only when no subnet
 * without a record is left, and to its own node first (a node back after its TTL, its
 * subnet.json gone, gets its subnet again). Every read is bounded: only a
 * small regular file is read (node/bounded_read.ts), so a FIFO or /dev/zero planted in the
 * directory cannot block the daemon; a record that is not one stays taken, like a corrupt one.
 *
 * watch() wakes up on inotify events for the directory (net/inotify.ts, the way `inotifywait -r
 * DIR` sees them; it never opens what it reports, so a FIFO planted in the directory cannot wedge
 * it), so a change is seen within milliseconds; the revision file is still polled as a
 * safety net (inotify can drop events when its queue overflows) and polled fast when the
 * directory cannot be watched (e.g. the inotify watch limit is reached).
 *
 * @module
 */
import {
  assertLeaseRecordSize,
  decodeLeaseRecord,
  decodeNetworkConfig,
  encodeLeaseRecord,
  encodeNetworkConfig,
  leaseStillLive,
  MAX_LEASE_RECORD_BYTES,
  parseSubnetKey,
  RESTORED_WARNING,
  subnetKey,
} from "./flannel.ts";
import { atomicWriteFile, removeAbandonedTemps } from "../node/atomic_write.ts";
import { type DirEvent, type DirWatcher, watchDirs, type WatchDirsFn } from "../net/inotify.ts";
import { FileRefusedError, readBoundedText } from "../node/bounded_read.ts";
import { chooseLease, type LeaseChoice } from "./allocate.ts";
import {
  BadNetworkConfigError,
  LeaseLostError,
  StoreError,
  SubnetExhaustedError,
} from "./errors.ts";
import { leaseIdentity, type WarnFn } from "./_util.ts";
import { sleep, Sleeper } from "./sleeper.ts";
import type {
  AcquireRequest,
  Lease,
  LeaseEvent,
  LeaseList,
  LeaseStore,
  NetworkConfig,
  Revision,
  WatchItem,
} from "./types.ts";
import { asRevision } from "./types.ts";

/** Options of {@linkcode FileStore}. */
export interface FileStoreOptions {
  /** The shared directory (created when missing). */
  dir: string;
  /**
   * How often watch() checks the revision file when file-change notification is unavailable or
   * off (ms, default 100: one small read).
   */
  pollIntervalMs?: number;
  /**
   * How often watch() checks the revision file while file-change notification works: the safety
   * net for lost inotify events (ms, default 1000).
   */
  safetyPollMs?: number;
  /** Wake watch() on inotify events for the directory (default true); false polls only. */
  fsEvents?: boolean;
  /**
   * Opens the inotify watch (default net/inotify.ts's `watchDirs`); tests pass one that drops
   * events and then reports an overflow, as the kernel does when its queue is full.
   */
  watchDirs?: WatchDirsFn;
  /**
   * watch() re-lists at least this often as a safety net (ms, default 30000); changes are seen
   * through the revision file and expiries through the earliest known expiration.
   */
  resyncIntervalMs?: number;
  /** Called for each bad record skipped (once per record until it changes). */
  onWarning?: WarnFn;
  /** Clock, for tests (ms since epoch). */
  now?: () => number;
}

/** The largest config.json read (a few hundred bytes are written). */
const MAX_CONFIG_BYTES = 64 * 1024;
/** The largest revision file read (a decimal counter and a newline). */
const MAX_REVISION_BYTES = 64;

/** How many list() snapshots a store remembers for watch(). */
const KEPT_SNAPSHOTS = 4;

/** One read of the directory, as watch() needs it to continue from there. */
interface Snapshot {
  byKey: Map<string, Lease>;
  /** The revision counter read before the leases. */
  counter: number;
  /** #dirIdent() at that read. */
  ident: string;
}

/**
 * Every lease record of the directory: live, expired, and the subnets of records that cannot be
 * read (`bad`, `bad6`).
 */
interface RecordSet {
  live: Lease[];
  expired: Lease[];
  bad: Set<string>;
  bad6: Set<string>;
}

/** In-process queue per directory, so concurrent callers in one process do not pile up on flock. */
const queues = new Map<string, Promise<void>>();

/** The file-directory LeaseStore. */
export class FileStore implements LeaseStore {
  readonly type = "file";
  readonly dir: string;
  #poll: number;
  #safetyPoll: number;
  #fsEvents: boolean;
  #watchDirs: WatchDirsFn;
  #resync: number;
  #warn: WarnFn;
  #now: () => number;
  #warned = new Map<string, string>();
  /**
   * The last list's records by key, with the text they were decoded from: an unchanged file
   * gives back the same Lease object without JSON.parse and subnet/IP parsing (5,000 leases:
   * ~28 MiB of garbage per re-list otherwise, and one copy of every lease per list kept alive).
   * Holds only the keys of the last list. Leases are never mutated after decoding.
   */
  #decoded = new Map<string, { text: string; lease: Lease }>();
  /** The last few snapshots handed out, by revision: what watch(revision) diffs against. */
  #snapshots = new Map<string, Snapshot>();
  #id = crypto.randomUUID().slice(0, 8);
  #seq = 0;

  constructor(opts: FileStoreOptions) {
    if (!opts.dir) throw new TypeError("FileStore needs a directory");
    this.dir = opts.dir.replace(/\/+$/, "") || "/";
    this.#poll = opts.pollIntervalMs ?? 100;
    this.#safetyPoll = opts.safetyPollMs ?? 1000;
    this.#fsEvents = opts.fsEvents ?? true;
    this.#watchDirs = opts.watchDirs ?? watchDirs;
    this.#resync = opts.resyncIntervalMs ?? 30_000;
    this.#warn = opts.onWarning ?? (() => {});
    this.#now = opts.now ?? Date.now;
    try {
      Deno.mkdirSync(`${this.dir}/subnets`, { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new StoreError(
        `Cannot create lease directory ${this.dir}/subnets: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** Reads DIR/config.json; undefined when absent. */
  getNetworkConfig(): Promise<NetworkConfig | undefined> {
    return Promise.resolve(this.#readConfig());
  }

  /** Writes DIR/config.json unless present; returns the stored config. */
  putNetworkConfigIfAbsent(config: NetworkConfig): Promise<NetworkConfig> {
    return this.#locked(() => {
      const cur = this.#readConfig();
      if (cur) return cur;
      this.#writeAtomic(
        `${this.dir}/config.json`,
        JSON.stringify(encodeNetworkConfig(config), null, 2) + "\n",
      );
      this.#bump();
      return decodeNetworkConfig(encodeNetworkConfig(config));
    });
  }

  /** Takes this node's subnet under the directory lock (lowest free one for a new node). */
  acquire(req: AcquireRequest): Promise<Lease> {
    return this.#locked(() => {
      const config = this.#readConfig();
      if (!config) throw new StoreError(`No network config in ${this.dir}/config.json`);
      this.#removeAbandonedTemps();
      const now = this.#now();
      const all = this.#readAll(now);
      const choice = this.#choose(req, all, config);
      const base = "reuse" in choice
        ? { subnet: choice.reuse.subnet, subnet6: choice.reuse.subnet6 }
        : { subnet: choice.subnet, subnet6: choice.subnet6 };
      // Expired records go when they stand in the way: this node's own, and the one of the
      // subnet it takes. The others stay (invisible, free when nothing else is) so their node,
      // back after its TTL without its subnet.json (a reboot empties /run), gets its subnet back.
      for (const e of all.expired) {
        if (
          e.node === req.node || e.subnet === base.subnet ||
          (base.subnet6 !== undefined && e.subnet6 === base.subnet6)
        ) this.#remove(e);
      }
      // A node holds one lease: drop other records of the same node (e.g. after a config change).
      for (const l of all.live) {
        if (l.node === req.node && l.subnet !== base.subnet) this.#remove(l);
      }
      const lease = this.#leaseFor(req, base.subnet, base.subnet6, now);
      this.#writeLease(lease);
      this.#bump();
      return lease;
    });
  }

  /**
   * The subnet for `req`: its live lease; else the subnet it names as previous (its lease file)
   * or, when it names none, the subnet of its own expired record; else the first subnet without
   * any record; else the first one whose record expired. A subnet whose record is unreadable
   * stays taken: it may be a node's lease written by a newer or broken writer; overwriting it
   * could hand one subnet to two nodes.
   */
  #choose(req: AcquireRequest, all: RecordSet, config: NetworkConfig): LeaseChoice {
    const own = all.expired.find((e) => e.node === req.node);
    const r = own && !req.previousSubnet ? { ...req, previousSubnet: own.subnet } : req;
    const others = all.expired.filter((e) => e.node !== req.node);
    const fresh = {
      pick: "first" as const,
      exclude: new Set([...all.bad, ...others.map((e) => e.subnet)]),
      exclude6: new Set([...all.bad6, ...others.flatMap((e) => e.subnet6 ? [e.subnet6] : [])]),
    };
    try {
      return chooseLease(r, all.live, config, fresh);
    } catch (e) {
      if (!(e instanceof SubnetExhaustedError) || others.length === 0) throw e;
      return chooseLease(r, all.live, config, {
        pick: "first",
        exclude: all.bad,
        exclude6: all.bad6,
      });
    }
  }

  /** Extends `lease`; LeaseLostError when the record is gone or belongs to another node. */
  renew(lease: Lease, ttlSeconds: number): Promise<Lease> {
    return this.#locked(() => {
      const key = subnetKey(lease.subnet, lease.subnet6);
      const cur = this.#readOne(key);
      if (!cur && !this.#exists(key)) throw new LeaseLostError(lease.subnet, "the record is gone");
      if (!cur || cur.node !== lease.node) {
        const why = cur ? `it now belongs to node "${cur.node}"` : "the record is unreadable";
        if (!leaseStillLive(lease, this.#now())) throw new LeaseLostError(lease.subnet, why);
        this.#warn(RESTORED_WARNING, { subnet: lease.subnet, node: lease.node, invalid: why });
      }
      const next: Lease = {
        ...lease,
        expiration: new Date(this.#now() + ttlSeconds * 1000).toISOString(),
      };
      this.#writeLease(next);
      this.#bump();
      return next;
    });
  }

  /**
   * Live leases (unexpired, decodable) with a revision that watch() continues from exactly:
   * the store keeps this snapshot (the last few) and diffs the next reads against it.
   */
  list(): Promise<LeaseList> {
    try {
      const snap = this.#read();
      return Promise.resolve({ leases: snap.leases, revision: snap.revision });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Yields lease changes after `fromRevision`: re-reads the directory when the revision file
   * changed, when a lease file changed (also one edited by hand without a revision bump), when
   * the directory was replaced, at the earliest known expiration, and every resyncIntervalMs,
   * and yields the difference from the last read (the snapshot of `fromRevision` first; a
   * revision this store did not hand out, or forgot, starts with a resync). Woken by inotify
   * events; polls as a safety net. Changes that land while it reads are seen by the next round
   * (one re-read for a burst). Throws StoreError when the directory is gone.
   */
  async *watch(fromRevision: Revision, signal: AbortSignal): AsyncIterable<WatchItem> {
    const base = this.#snapshots.get(fromRevision);
    let notes: DirNotifier | undefined;
    try {
      let known = base?.byKey;
      let counter = base?.counter;
      let ident = base?.ident;
      let nextResync = 0;
      let retryNotes = 0;
      // The first round always re-reads: a change between list() and the notifier's start
      // (e.g. a hand edit without a revision bump) has no event.
      let force = true;
      while (!signal.aborted) {
        const curIdent = this.#dirIdent();
        if (
          this.#fsEvents && (curIdent !== ident || (!notes?.active && this.#now() >= retryNotes))
        ) {
          // First round, the directory was replaced (the old watch is on a dead inode), or the
          // notifier died: watch the directory as it is now.
          await notes?.close();
          notes = new DirNotifier(this.dir, this.#warn, this.#watchDirs);
          retryNotes = this.#now() + this.#resync;
          force = true;
        }
        // Taken before reading, so an event that lands during the read wakes the next round.
        const leaseFilesChanged = notes?.take() ?? false;
        const cur = this.#readRevision();
        const now = this.#now();
        let listMs = 0;
        if (
          force || known === undefined || cur !== counter || curIdent !== ident ||
          leaseFilesChanged || now >= nextResync || earliestExpiry(known) <= now
        ) {
          force = false;
          const t0 = performance.now();
          const list = await this.list();
          const snap = { ...list, ...this.#snapshots.get(list.revision)! };
          listMs = performance.now() - t0;
          nextResync = now + this.#resync;
          const prev = known;
          known = snap.byKey;
          counter = snap.counter;
          ident = snap.ident;
          if (prev === undefined) {
            yield { resync: { leases: snap.leases, revision: snap.revision } };
          } else {
            const events = diffLeases(prev, snap.byKey);
            if (events.length > 0) yield { events, revision: snap.revision };
          }
        }
        // After an expensive re-read (thousands of leases) pause about as long, so a burst of
        // writes costs at most about half a core instead of back-to-back re-reads.
        if (listMs >= 1) await sleep(Math.min(listMs, 1000), signal);
        const wait = Math.min(
          notes?.active ? this.#safetyPoll : this.#poll,
          Math.max(0, nextResync - this.#now()),
          Math.max(0, earliestExpiry(known) - this.#now()),
        );
        await (notes ? notes.wait(wait, signal) : sleep(wait, signal));
      }
    } finally {
      await notes?.close();
    }
  }

  /** Deletes the record when it is still this node's. */
  release(lease: Lease): Promise<void> {
    return this.#locked(() => {
      const cur = this.#readOne(subnetKey(lease.subnet, lease.subnet6));
      if (cur && cur.node === lease.node) {
        this.#remove(cur);
        this.#bump();
      }
    });
  }

  /** Nothing to free: every operation opens and closes its own files. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  // ---- internals ----

  /**
   * Reads the directory into a snapshot and remembers it under a fresh revision token
   * (`<counter>.<store id>.<sequence>`: the counter is only for people reading logs).
   */
  #read(): Snapshot & { leases: Lease[]; revision: Revision } {
    const counter = this.#readRevision();
    const ident = this.#dirIdent();
    const leases = this.#readAll(this.#now()).live;
    const byKey = new Map(leases.map((l) => [subnetKey(l.subnet, l.subnet6), l]));
    const revision = asRevision(`${counter}.${this.#id}.${++this.#seq}`);
    this.#snapshots.set(revision, { byKey, counter, ident });
    for (const k of this.#snapshots.keys()) {
      if (this.#snapshots.size <= KEPT_SNAPSHOTS) break;
      this.#snapshots.delete(k);
    }
    return { leases, revision, byKey, counter, ident };
  }

  /**
   * Identity of DIR/subnets (device, inode, birth time): it changes when the directory is
   * deleted and made again. Throws StoreError when it is gone.
   */
  #dirIdent(): string {
    try {
      const st = Deno.statSync(`${this.dir}/subnets`);
      return `${st.dev}:${st.ino}:${st.birthtime?.getTime() ?? ""}`;
    } catch (e) {
      throw new StoreError(
        `Cannot use lease directory ${this.dir}/subnets: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  async #locked<T>(fn: () => T): Promise<T> {
    const prev = queues.get(this.dir) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    queues.set(this.dir, tail);
    await prev;
    let f: Deno.FsFile | undefined;
    try {
      try {
        // Read and write: opened write-only, a FIFO planted as the lock blocks for good.
        f = await Deno.open(`${this.dir}/lock`, {
          create: true,
          read: true,
          write: true,
          mode: 0o644,
        });
        await f.lock(true);
      } catch (e) {
        // Gone, not permitted, a read-only or full file system: whatever it is, a StoreError.
        throw new StoreError(`Cannot use lease directory ${this.dir}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      return fn();
    } finally {
      f?.close(); // closing drops the flock
      release();
      if (queues.get(this.dir) === tail) queues.delete(this.dir);
    }
  }

  #readConfig(): NetworkConfig | undefined {
    let text: string;
    try {
      // Bounded: a FIFO planted here would block every operation (and the daemon) for good.
      text = readBoundedText(`${this.dir}/config.json`, MAX_CONFIG_BYTES);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      const msg = e instanceof FileRefusedError
        ? e.message
        : `Cannot read ${this.dir}/config.json: ${(e as Error).message}`;
      throw new StoreError(msg, { cause: e });
    }
    try {
      return decodeNetworkConfig(JSON.parse(text));
    } catch (e) {
      throw new BadNetworkConfigError(
        `Cannot use ${this.dir}/config.json: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }

  #readRevision(): number {
    try {
      // Anything but a small regular file (a FIFO, /dev/zero) reads as 0; the next bump
      // replaces it.
      const n = Number(readBoundedText(`${this.dir}/revision`, MAX_REVISION_BYTES).trim());
      return Number.isSafeInteger(n) ? n : 0;
    } catch {
      return 0;
    }
  }

  #bump(): void {
    this.#writeAtomic(`${this.dir}/revision`, `${this.#readRevision() + 1}\n`);
  }

  #exists(key: string): boolean {
    try {
      Deno.lstatSync(`${this.dir}/subnets/${key}.json`);
      return true;
    } catch {
      return false;
    }
  }

  #readOne(key: string): Lease | undefined {
    const text = this.#readRecord(key);
    return typeof text === "string" ? this.#decode(key, text) : undefined;
  }

  /**
   * The text of `subnets/<key>.json`; undefined when it is gone; null when it is not a regular
   * file of at most MAX_LEASE_RECORD_BYTES (a FIFO would block the read for good, /dev/zero
   * never ends): warned about once, and unreadable like a corrupt record, so its subnet stays
   * taken. Other read errors throw StoreError.
   */
  #readRecord(key: string): string | undefined | null {
    const path = `${this.dir}/subnets/${key}.json`;
    try {
      return readBoundedText(path, MAX_LEASE_RECORD_BYTES);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined; // released meanwhile
      if (e instanceof FileRefusedError) return this.#refuse(key, e.reason);
      throw new StoreError(`Cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Warns once (until the reason changes) that a record file was refused unread; null. */
  #refuse(key: string, reason: string): null {
    const mark = `\0refused: ${reason}`; // never the text of a file that was read
    if (this.#warned.get(key) !== mark) {
      this.#warned.set(key, mark);
      this.#warn("skipping bad lease record", {
        file: `${this.dir}/subnets/${key}.json`,
        error: `not read: ${reason}`,
      });
    }
    return null;
  }

  #decode(key: string, text: string): Lease | undefined {
    try {
      assertLeaseRecordSize(key, text);
      const v = JSON.parse(text);
      const exp = v?.Expiration;
      if (typeof exp !== "string" || Number.isNaN(Date.parse(exp))) {
        throw new SyntaxError(`Expiration ${JSON.stringify(exp)} is not an ISO 8601 time`);
      }
      const lease = decodeLeaseRecord(key, v, new Date(Date.parse(exp)).toISOString());
      if (typeof v.Subnet === "string" && v.Subnet !== lease.subnet) {
        throw new SyntaxError(`Subnet ${v.Subnet} does not match the file name`);
      }
      this.#warned.delete(key);
      return lease;
    } catch (e) {
      if (this.#warned.get(key) !== text) {
        this.#warned.set(key, text);
        this.#warn("skipping bad lease record", {
          file: `${this.dir}/subnets/${key}.json`,
          error: (e as Error).message,
        });
      }
      return undefined;
    }
  }

  /**
   * Every lease record: live, expired, and the subnets of records that cannot be read (`bad`,
   * `bad6`): those may be a node's lease, so they are never handed out.
   */
  #readAll(now: number): RecordSet {
    const live: Lease[] = [];
    const expired: Lease[] = [];
    const bad = new Set<string>();
    const bad6 = new Set<string>();
    const decoded = new Map<string, { text: string; lease: Lease }>();
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${this.dir}/subnets`)];
    } catch (e) {
      throw new StoreError(`Cannot list ${this.dir}/subnets: ${(e as Error).message}`, {
        cause: e,
      });
    }
    for (const ent of entries) {
      if (!ent.name.endsWith(".json") || ent.name.startsWith(".")) continue;
      const key = ent.name.slice(0, -5);
      // A directory, FIFO or symlink under a record's name is never read, and its subnet is not
      // handed out: writing a lease over a directory fails, so acquire() would pick it forever.
      const text = ent.isFile
        ? this.#readRecord(key)
        : this.#refuse(key, `it is ${entryKind(ent, `${this.dir}/subnets/${ent.name}`)}`);
      if (text === undefined) continue;
      const prev = this.#decoded.get(key);
      let l: Lease | undefined;
      if (text === null) {
        l = undefined;
      } else if (prev !== undefined && prev.text === text) {
        l = prev.lease;
        decoded.set(key, prev);
      } else {
        l = this.#decode(key, text);
        if (l) decoded.set(key, { text, lease: l });
      }
      if (!l) {
        const sub = parseSubnetKey(key);
        if (sub) bad.add(sub.subnet);
        if (sub?.subnet6) bad6.add(sub.subnet6);
        continue;
      }
      (Date.parse(l.expiration) <= now ? expired : live).push(l);
    }
    // Each key computed once: computing it in the comparator (~120,000 calls for 5,000 leases)
    // made tens of MiB of garbage per list.
    this.#decoded = decoded;
    const order = new Map<Lease, number>();
    for (const l of live) order.set(l, subnetOrder(l.subnet));
    live.sort((a, b) => order.get(a)! - order.get(b)!);
    return { live, expired, bad, bad6 };
  }

  #leaseFor(req: AcquireRequest, subnet: string, subnet6: string | undefined, now: number): Lease {
    const l: Lease = {
      subnet,
      publicIP: req.publicIP,
      node: req.node,
      backendType: req.backendType,
      expiration: new Date(now + req.ttlSeconds * 1000).toISOString(),
    };
    if (subnet6) l.subnet6 = subnet6;
    if (req.publicIP6) l.publicIP6 = req.publicIP6;
    if (req.backendData) l.backendData = req.backendData;
    return l;
  }

  #writeLease(l: Lease): void {
    const rec: Record<string, unknown> = { Subnet: l.subnet };
    if (l.subnet6) rec.IPv6Subnet = l.subnet6;
    Object.assign(rec, encodeLeaseRecord(l), { Expiration: l.expiration });
    this.#writeAtomic(
      `${this.dir}/subnets/${subnetKey(l.subnet, l.subnet6)}.json`,
      JSON.stringify(rec) + "\n",
    );
  }

  #remove(l: Lease): void {
    try {
      Deno.removeSync(`${this.dir}/subnets/${subnetKey(l.subnet, l.subnet6)}.json`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new StoreError(`Cannot delete lease ${l.subnet}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
  }

  /**
   * Removes the temporary files of writers killed between their write and rename (a daemon
   * SIGKILLed mid-renewal leaves `subnets/.<key>.json.<pid>.<hex>.tmp`). Every writer writes
   * under the lock, so under it they are all abandoned. Runs in acquire() (each daemon start).
   */
  #removeAbandonedTemps(): void {
    removeAbandonedTemps(`${this.dir}/revision`);
    removeAbandonedTemps(`${this.dir}/config.json`);
    let names: string[];
    try {
      names = [...Deno.readDirSync(`${this.dir}/subnets`)].filter((e) => e.isFile)
        .map((e) => e.name);
    } catch {
      return; // acquire() reports an unreadable directory
    }
    for (const n of names) {
      if (!/^\.[^/]+\.json\.[0-9]+\.[0-9a-f]{8}\.tmp$/.test(n)) continue;
      try {
        Deno.removeSync(`${this.dir}/subnets/${n}`);
      } catch { /* gone meanwhile */ }
    }
  }

  #writeAtomic(path: string, text: string): void {
    try {
      atomicWriteFile(path, text);
    } catch (e) {
      throw new StoreError(`Cannot write ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
}

/**
 * Change notification for a store directory: inotify (net/inotify.ts, recursive) read on its own
 * task; relevant events set a flag and wake the waiter. The lock file and temporary files are
 * ignored, and reads make no events, so the watcher's own reads never wake it.
 */
class DirNotifier {
  #dir: string;
  #prefix: string;
  #warn: WarnFn;
  #watcher?: DirWatcher;
  #pump?: Promise<void>;
  #woken = false;
  #leaseFiles = false;
  #sleeper = new Sleeper();

  constructor(dir: string, warn: WarnFn, watch: WatchDirsFn) {
    this.#dir = dir;
    this.#warn = warn;
    // Events name the path as watched, joined with the entry's.
    this.#prefix = dir.endsWith("/") ? dir : `${dir}/`;
    try {
      this.#watcher = watch(dir, { recursive: true });
    } catch (e) {
      warn("cannot watch the lease directory; polling it", { dir, error: (e as Error).message });
      return;
    }
    this.#pump = this.#run(this.#watcher);
  }

  /** True while events are being delivered (false: the caller must poll fast). */
  get active(): boolean {
    return this.#watcher !== undefined;
  }

  /** Clears the wake-up flag; true when a lease file (or the subnets directory) changed. */
  take(): boolean {
    const lease = this.#leaseFiles;
    this.#woken = false;
    this.#leaseFiles = false;
    return lease;
  }

  /** Resolves on the next relevant event (at once if one came since take()), after `ms`, or on abort. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#woken || signal.aborted) return Promise.resolve();
    return this.#sleeper.sleep(ms, signal);
  }

  /** Stops watching and waits for the reader task to end. */
  async close(): Promise<void> {
    const w = this.#watcher;
    this.#watcher = undefined;
    try {
      w?.close();
    } catch { /* already closed */ }
    await this.#pump;
  }

  async #run(w: DirWatcher): Promise<void> {
    try {
      for await (const ev of w) {
        const what = this.#classify(ev);
        if (what === "none") continue;
        if (what === "lease") this.#leaseFiles = true;
        this.#woken = true;
        this.#sleeper.wake();
      }
    } catch (e) {
      if (this.#watcher) {
        this.#warn("watching the lease directory failed; polling it", {
          dir: this.#dir,
          error: (e as Error).message,
        });
      }
    } finally {
      // Ended (closed, or the directory went away): fall back to polling, wake the waiter.
      this.#watcher = undefined;
      this.#woken = true;
      this.#sleeper.wake();
    }
  }

  #classify(ev: DirEvent): "none" | "wake" | "lease" {
    // Overflow (or something unusual, e.g. an unmount): something may have been missed.
    if (ev.kind === "overflow" || ev.kind === "other") return "lease";
    let out: "none" | "wake" | "lease" = "none";
    for (const p of ev.paths) {
      if (!p.startsWith(this.#prefix)) continue;
      const rel = p.slice(this.#prefix.length);
      if (rel === "subnets" || (rel.startsWith("subnets/") && isLeaseName(rel.slice(8)))) {
        return "lease";
      }
      if (rel === "revision" || rel === "config.json") out = "wake";
    }
    return out;
  }
}

/** What a directory entry that is not a regular file is, in words ("a FIFO"). */
function entryKind(ent: Deno.DirEntry, path: string): string {
  if (ent.isDirectory) return "a directory, not a regular file";
  if (ent.isSymlink) return "a symbolic link, not a regular file";
  try {
    const st = Deno.lstatSync(path);
    if (st.isFifo) return "a FIFO, not a regular file";
    if (st.isSocket) return "a socket, not a regular file";
    if (st.isCharDevice || st.isBlockDevice) return "a device, not a regular file";
  } catch { /* gone meanwhile */ }
  return "not a regular file";
}

/** A lease record's file name (not a temporary file). */
function isLeaseName(name: string): boolean {
  return name.endsWith(".json") && !name.startsWith(".") && !name.includes("/");
}

/** Sort key of an IPv4 subnet: its address as a number (cheap; no collator). */
function subnetOrder(subnet: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = subnet.split("/")[0]!.split(".").map(Number);
  return ((a * 256 + b) * 256 + c) * 256 + d;
}

/**
 * The events that turn `prev` into `next`: "added" for a new or rewritten record (a renewal too,
 * so a watcher knows each lease's current expiration; LeaseInformer reports no change for it),
 * "removed" with the last record seen. An unchanged file decodes to the same Lease object.
 */
function diffLeases(prev: Map<string, Lease>, next: Map<string, Lease>): LeaseEvent[] {
  const events: LeaseEvent[] = [];
  for (const [k, l] of next) {
    const old = prev.get(k);
    if (
      old !== l &&
      (!old || old.expiration !== l.expiration || leaseIdentity(old) !== leaseIdentity(l))
    ) {
      events.push({ type: "added", lease: l });
    }
  }
  for (const [k, l] of prev) if (!next.has(k)) events.push({ type: "removed", lease: l });
  return events;
}

function earliestExpiry(leases: Map<string, Lease> | undefined): number {
  if (!leases) return Infinity;
  let min = Infinity;
  for (const l of leases.values()) min = Math.min(min, Date.parse(l.expiration));
  return min;
}
