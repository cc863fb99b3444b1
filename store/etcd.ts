/**
 * The etcd v3 lease store, in flannel's key layout so flannel-era tooling reads it:
 *
 * ```
 * <prefix>/config                  {"Network":"10.244.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}
 * <prefix>/subnets/10.244.1.0-24   {"PublicIP":"192.168.1.10","BackendType":"vxlan",
 *                                   "BackendData":{"VtepMAC":"..."},"Node":"node1"}   (TTL lease)
 * ```
 * A new subnet is claimed with a txn that only succeeds while the key does not exist
 * (create_revision == 0); taking back one's own record compares its mod_revision. Each record is
 * attached to its own etcd lease; renew() is a keep-alive. Watches resume from the last seen
 * revision after a disconnect and fall back to a full re-list when etcd compacted that revision,
 * or when etcd lost the history this store saw (wiped, restored from an older snapshot, another
 * cluster: an answer's header below the revision seen or with another cluster ID, confirmed by a
 * list; store/_etcd_history.ts). Lists read the subnets in pages, without keeping values too large
 * for a lease record (store/_etcd_values.ts).
 *
 * Expiration of leases read back from etcd is approximate (time of the read + the store's TTL):
 * etcd keeps the real TTL in its lease.
 *
 * @module
 */
import { chooseLease } from "./allocate.ts";
import {
  EtcdClient,
  EtcdCompactedError,
  type EtcdEvent,
  type EtcdKv,
  prefixEnd,
} from "./_etcd_client.ts";
import { describeHistoryLoss, type EtcdHeader, EtcdHistory } from "./_etcd_history.ts";
import { BadNetworkConfigError, LeaseLostError, StoreError } from "./errors.ts";
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
import type { WarnFn } from "./_util.ts";
import { sleep } from "./sleeper.ts";
import { DEFAULT_ETCD_PREFIX } from "./etcd_defaults.ts";
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

/**
 * Values of more bytes than this are not even decoded (nor kept while an answer streams in): a
 * lease record's text is at most MAX_LEASE_RECORD_BYTES UTF-16 units, 3 bytes each at most.
 */
const MAX_VALUE_BYTES = 3 * MAX_LEASE_RECORD_BYTES;

/** Options of {@linkcode EtcdStore}. */
export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
  endpoints: string[];
  /** Key prefix (default "/coreos.com/network", flannel's). */
  prefix?: string;
  /** Per-request timeout (ms, default 5000). */
  timeoutMs?: number;
  /** TTL assumed for other nodes' leases when reporting their expiration (s, default 86400). */
  assumedTtlSeconds?: number;
  /**
   * Report each lease's real expiration in list() (one `/v3/lease/timetolive` per lease: for
   * status displays, not for the daemon's hot path). Default false: read time + assumed TTL.
   */
  exactExpiration?: boolean;
  /** Called for each bad record skipped. */
  onWarning?: WarnFn;
  /** Called for background errors (a broken watch) before it is retried. */
  onError?: (e: Error) => void;
  /**
   * A watch stream is ended and opened again from its last revision after this long (ms, default
   * 300000), like the apiserver's watch timeout: a connection that went half-open (etcd's host
   * died or was cut off without a FIN or RST) is silent, not broken, and would hide every later
   * change for good.
   */
  watchRestartMs?: number;
  /** Keys per request when listing the leases (default 256; see EtcdClient.range()). */
  listPageSize?: number;
}

export { DEFAULT_ETCD_PREFIX };

/** The etcd-backed LeaseStore. */
export class EtcdStore implements LeaseStore {
  readonly type = "etcd";
  readonly prefix: string;
  readonly client: EtcdClient;
  #warn: WarnFn;
  #onError: (e: Error) => void;
  #assumedTtl: number;
  #exact: boolean;
  #watchRestartMs: number;
  #pageSize: number;
  /** The open watch streams (ended when another request finds etcd in trouble). */
  #streams = new Set<AbortController>();
  /** What this store has seen of etcd's history (every answer's header goes through it). */
  #history = new EtcdHistory();

  constructor(opts: EtcdStoreOptions) {
    this.prefix = (opts.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, "");
    this.client = new EtcdClient({
      endpoints: opts.endpoints,
      timeoutMs: opts.timeoutMs,
      // A request that got no usable answer: the open watch streams may be dead too (half-open).
      onTrouble: () => this.#endStreams(),
      // An answer below the revision seen, or from another cluster: the watch loop re-lists and
      // checks (a stream that waits for a revision etcd will not reach soon is ended).
      observer: {
        mark: () => this.#history.mark(),
        observe: (h, mark) => {
          const fresh = this.#history.suspect === undefined;
          if (this.#history.observe(h, mark) && fresh) this.#endStreams();
        },
      },
    });
    this.#warn = opts.onWarning ?? (() => {});
    this.#onError = opts.onError ?? (() => {});
    this.#assumedTtl = opts.assumedTtlSeconds ?? 86400;
    this.#exact = opts.exactExpiration ?? false;
    this.#watchRestartMs = opts.watchRestartMs ?? 300_000;
    this.#pageSize = opts.listPageSize ?? 256;
  }

  #endStreams(): void {
    for (const s of this.#streams) s.abort();
  }

  get #subnets(): string {
    return `${this.prefix}/subnets/`;
  }

  /** Reads `<prefix>/config`. */
  async getNetworkConfig(): Promise<NetworkConfig | undefined> {
    const { kvs } = await this.client.range(`${this.prefix}/config`);
    const kv = kvs[0];
    if (!kv) return undefined;
    try {
      return decodeNetworkConfig(JSON.parse(kv.value));
    } catch (e) {
      throw new BadNetworkConfigError(`Cannot use ${this.prefix}/config: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }

  /** Creates `<prefix>/config` unless present (txn on create_revision 0). */
  async putNetworkConfigIfAbsent(config: NetworkConfig): Promise<NetworkConfig> {
    const key = `${this.prefix}/config`;
    await this.client.putIf([{ key, target: "CREATE", createRevision: 0 }], {
      key,
      value: JSON.stringify(encodeNetworkConfig(config)),
    });
    const cur = await this.getNetworkConfig();
    if (!cur) throw new StoreError(`${key} vanished right after it was written`);
    return cur;
  }

  /** Claims a subnet with a compare-and-put; retries on a lost race. */
  async acquire(req: AcquireRequest): Promise<Lease> {
    const config = await this.getNetworkConfig();
    if (!config) throw new StoreError(`No network config at ${this.prefix}/config`);
    const ttl = Math.max(1, Math.round(req.ttlSeconds));
    let leaseId: string | undefined;
    const lost = new Set<string>();
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const snap = await this.#listRaw();
        // A subnet whose record is unreadable stays taken (like store/file.ts): it may be a node's
        // lease written by a newer or broken writer. Left out of the choice up front, it cannot
        // cost a lost compare-and-put (many of them would use up the attempts).
        const choice = chooseLease(req, snap.leases, config, {
          pick: "random",
          exclude: snap.bad.size ? new Set([...lost, ...snap.bad]) : lost,
          exclude6: snap.bad6,
        });
        leaseId ??= await this.client.grant(ttl);
        const subnet = "reuse" in choice ? choice.reuse.subnet : choice.subnet;
        const subnet6 = "reuse" in choice ? choice.reuse.subnet6 : choice.subnet6;
        const lease = leaseOf(req, subnet, subnet6, ttl);
        const key = this.#subnets + subnetKey(subnet, subnet6);
        const old = snap.kvs.get(key);
        const cmp = old && "reuse" in choice
          ? { key, target: "MOD" as const, modRevision: old.modRevision }
          : { key, target: "CREATE" as const, createRevision: 0 };
        const r = await this.client.putIf([cmp], {
          key,
          value: JSON.stringify(encodeLeaseRecord(lease)),
          lease: leaseId,
        });
        if (r.succeeded) {
          if (old && old.lease !== "0" && old.lease !== leaseId) {
            await this.client.revoke(old.lease).catch(() => {});
          }
          // A node holds one lease: drop other records of this node (e.g. after a config change).
          for (const l of snap.leases) {
            const k = this.#subnets + subnetKey(l.subnet, l.subnet6);
            const kv = snap.kvs.get(k);
            if (l.node === req.node && k !== key && kv) {
              await this.client.deleteIf(k, kv.modRevision);
            }
          }
          leaseId = undefined;
          return lease;
        }
        if (!("reuse" in choice)) lost.add(subnet);
      }
      throw new StoreError(`Cannot claim a subnet in etcd: lost the race 20 times`);
    } finally {
      if (leaseId) await this.client.revoke(leaseId).catch(() => {});
    }
  }

  /** Keep-alive of the lease's etcd lease, re-putting the record when its attributes changed. */
  async renew(lease: Lease, ttlSeconds: number): Promise<Lease> {
    const key = this.#subnets + subnetKey(lease.subnet, lease.subnet6);
    const { kvs } = await this.client.range(key);
    const kv = kvs[0];
    if (!kv) throw new LeaseLostError(lease.subnet, "the record is gone (expired or deleted)");
    let why: string | undefined;
    try {
      const cur = decodeLeaseRecord(
        key.slice(this.#subnets.length),
        JSON.parse(kv.value),
        lease.expiration,
      );
      if (cur.node !== lease.node) why = `it now belongs to node "${cur.node}"`;
    } catch (e) {
      why = `the record is unreadable: ${(e as Error).message}`;
    }
    if (why !== undefined) {
      // Below, the record is put back (its value differs from this node's).
      if (!leaseStillLive(lease, Date.now())) throw new LeaseLostError(lease.subnet, why);
      this.#warn(RESTORED_WARNING, { subnet: lease.subnet, node: lease.node, invalid: why });
    }
    const ttl = Math.max(1, Math.round(ttlSeconds));
    let id = kv.lease;
    const remaining = id !== "0" ? await this.client.keepAlive(id) : 0;
    const value = JSON.stringify(encodeLeaseRecord(lease));
    if (remaining <= 0 || remaining < ttl - 1 || value !== kv.value) {
      // No usable etcd lease (or a different TTL, or new attributes): attach a fresh one.
      const fresh = remaining > 0 && remaining >= ttl - 1 ? id : await this.client.grant(ttl);
      const r = await this.client.putIf([{ key, target: "MOD", modRevision: kv.modRevision }], {
        key,
        value,
        lease: fresh,
      });
      if (!r.succeeded) {
        if (fresh !== id) await this.client.revoke(fresh).catch(() => {});
        throw new LeaseLostError(lease.subnet, "the record changed while renewing");
      }
      if (fresh !== id && id !== "0") await this.client.revoke(id).catch(() => {});
      id = fresh;
    }
    return { ...lease, expiration: new Date(Date.now() + ttl * 1000).toISOString() };
  }

  /**
   * Every decodable lease under `<prefix>/subnets/`, with the range's header revision: one
   * consistent read; watch() continues at the next revision.
   */
  async list(): Promise<LeaseList> {
    const { leases, revision } = await this.#listRaw();
    return { leases, revision };
  }

  /**
   * Every record: the decodable leases, the raw kvs by key, and the subnets (from the key) of
   * the records that could not be decoded (`bad`, `bad6`).
   */
  async #listRaw(): Promise<
    LeaseList & {
      kvs: Map<string, EtcdKv>;
      bad: Set<string>;
      bad6: Set<string>;
      header: EtcdHeader;
    }
  > {
    const { kvs, revision, header } = await this.client.range(
      this.#subnets,
      prefixEnd(this.#subnets),
      { pageSize: this.#pageSize, maxValueBytes: MAX_VALUE_BYTES },
    );
    const leases: Lease[] = [];
    const byKey = new Map<string, EtcdKv>();
    const bad = new Set<string>();
    const bad6 = new Set<string>();
    const exp = new Date(Date.now() + this.#assumedTtl * 1000).toISOString();
    const ttls = this.#exact ? await this.#ttls(kvs) : undefined;
    for (const kv of kvs) {
      byKey.set(kv.key, kv);
      const left = ttls?.get(kv.lease);
      const l = this.#decode(
        kv,
        left === undefined ? exp : new Date(Date.now() + Math.max(0, left) * 1000).toISOString(),
      );
      if (l) leases.push(l);
      else {
        const sub = parseSubnetKey(kv.key.slice(this.#subnets.length));
        if (sub) bad.add(sub.subnet);
        if (sub?.subnet6) bad6.add(sub.subnet6);
      }
    }
    return { leases, revision: asRevision(String(revision)), kvs: byKey, bad, bad6, header };
  }

  /** Remaining TTL per etcd lease ID, 16 requests at a time. */
  async #ttls(kvs: EtcdKv[]): Promise<Map<string, number>> {
    const ids = [...new Set(kvs.map((k) => k.lease).filter((id) => id !== "0"))];
    const out = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 16) {
      const part = ids.slice(i, i + 16);
      const ttls = await Promise.all(part.map((id) => this.client.timeToLive(id)));
      part.forEach((id, j) => out.set(id, ttls[j]!));
    }
    return out;
  }

  #decode(kv: EtcdKv, expiration: string, warn = true): Lease | undefined {
    const name = kv.key.slice(this.#subnets.length);
    try {
      assertLeaseRecordSize(name, kv.value, kv.skippedBytes);
      return decodeLeaseRecord(name, JSON.parse(kv.value), expiration);
    } catch (e) {
      if (warn) {
        this.#warn("skipping bad lease record", { key: kv.key, error: (e as Error).message });
      }
      return undefined;
    }
  }

  /**
   * Streams changes after `fromRevision` (etcd's header revision of a list()): every event from
   * the next revision on, in etcd's order. On a disconnect it reconnects (backoff 0.2 s … 10 s)
   * from the last revision seen, and so it does every `watchRestartMs` and after any other request
   * of this store got no usable answer (the stream may be half-open: silent, never closed). When
   * etcd compacted it (or `fromRevision` is not one of etcd's), or etcd lost the history this store
   * saw (an answer below the revision seen or from another cluster, confirmed by a list: a wiped
   * or restored etcd accepts a watch from a revision it has not reached and waits), it yields a
   * `resync` with a full list, never a silent skip. A record that becomes unreadable is reported
   * removed (list() skips it too).
   */
  async *watch(fromRevision: Revision, signal: AbortSignal): AsyncIterable<WatchItem> {
    let rev = /^\d+$/.test(fromRevision) ? Number(fromRevision) : undefined;
    let backoff = 200;
    const pause = async () => {
      await sleep(backoff, signal); // etcd is in trouble: no hot loop
      backoff = Math.min(backoff * 2, 10_000);
    };
    while (!signal.aborted) {
      try {
        if (rev === undefined || this.#history.suspect) {
          const r = await this.#relist(rev);
          rev = r.rev;
          if (r.resync) yield { resync: r.resync };
          else await pause(); // no loss after all (a member behind the others): retry calmly
        }
        // The stream ends quietly after watchRestartMs, when another request found etcd in
        // trouble (it may be half-open too) or an answer came from another history, and the loop
        // opens it again from `rev` (after a list for the latter).
        const ctl = new AbortController();
        this.#streams.add(ctl);
        const stream = AbortSignal.any([
          signal,
          ctl.signal,
          AbortSignal.timeout(this.#watchRestartMs),
        ]);
        const mark = this.#history.mark();
        let resynced = false;
        try {
          const subnets = this.#subnets;
          const watch = this.client.watch(subnets, prefixEnd(subnets), rev + 1, stream, {
            maxValueBytes: MAX_VALUE_BYTES,
          });
          for await (const msg of watch) {
            backoff = 200;
            if (msg.header) this.#history.observe(msg.header, mark);
            if (this.#history.suspect) {
              // Created below the revision seen (waiting for a revision etcd may never reach
              // again) or by another cluster: a list tells a member behind the others (the stream
              // goes on) from a lost history (a resync, then a new stream from its revision).
              const r = await this.#relist(rev);
              if (r.resync) {
                ctl.abort();
                resynced = true;
                rev = r.rev;
                yield { resync: r.resync };
                break;
              }
            }
            const out = await this.#leaseEvents(msg.events);
            for (const ev of msg.events) rev = Math.max(rev, ev.kv.modRevision);
            if (out.length > 0) yield { events: out, revision: asRevision(String(rev)) };
          }
        } finally {
          this.#streams.delete(ctl);
        }
        if (ctl.signal.aborted && !signal.aborted && !this.#history.suspect && !resynced) {
          await pause();
        }
      } catch (e) {
        if (signal.aborted) return;
        this.#onError(e as Error);
        if (e instanceof EtcdCompactedError) {
          rev = undefined; // re-list on the next round
          continue;
        }
        await pause();
      }
    }
  }

  /**
   * Lists for a watch: a resync when it has no revision to go on from (`rev` undefined: compacted
   * or not one of etcd's), and when an answer suggested that etcd lost the history seen and this
   * list (a linearizable read) confirms it: then one warning names both revisions or cluster IDs.
   * Otherwise (a member behind the others, a late answer) the watch goes on from `rev`.
   */
  async #relist(rev: number | undefined): Promise<{ rev: number; resync?: LeaseList }> {
    const mark = this.#history.mark();
    const snap = await this.#listRaw();
    const loss = this.#history.suspect ? this.#history.confirm(snap.header, mark) : undefined;
    if (loss) {
      this.#warn(
        `${describeHistoryLoss(loss)}; re-listing every lease and watching from revision ` +
          snap.revision,
        {
          revision: loss.now.revision,
          seenRevision: loss.seen.revision,
          clusterId: loss.now.clusterId || undefined,
          seenClusterId: loss.seen.clusterId,
          member: loss.now.memberId || undefined,
        },
      );
    } else if (rev !== undefined) return { rev };
    return { rev: Number(snap.revision), resync: { leases: snap.leases, revision: snap.revision } };
  }

  /** Lease events of etcd watch events (a record that turned unreadable is a removal). */
  async #leaseEvents(events: EtcdEvent[]): Promise<LeaseEvent[]> {
    const out: LeaseEvent[] = [];
    const exp = new Date(Date.now() + this.#assumedTtl * 1000).toISOString();
    for (const ev of events) {
      const l = ev.type === "PUT" ? this.#decode(ev.kv, exp) : undefined;
      if (l) {
        out.push({ type: "added", lease: l });
        continue;
      }
      const prev = ev.prevKv ? this.#decode(ev.prevKv, exp, false) : undefined;
      const sub = parseSubnetKey(ev.kv.key.slice(this.#subnets.length));
      if (prev) {
        const expiration = await this.#removedAt(ev.prevKv!.lease, exp);
        out.push({ type: "removed", lease: { ...prev, expiration } });
      } else if (sub) {
        out.push({
          type: "removed",
          lease: { ...sub, publicIP: "", node: "", backendType: "", expiration: exp },
        });
      }
    }
    return out;
  }

  /** Deletes the record (when still this node's) and revokes its etcd lease. */
  async release(lease: Lease): Promise<void> {
    const key = this.#subnets + subnetKey(lease.subnet, lease.subnet6);
    const { kvs } = await this.client.range(key);
    const kv = kvs[0];
    if (!kv) return;
    try {
      const cur = decodeLeaseRecord(
        key.slice(this.#subnets.length),
        JSON.parse(kv.value),
        lease.expiration,
      );
      if (cur.node !== lease.node) return;
    } catch {
      return;
    }
    // The etcd lease is left to run out by itself (it holds no key any more): revoked now, this
    // deletion would look like an expiry to watchers (see #removedAt()), and peers keep an
    // expired node's routes while it answers.
    await this.client.deleteIf(key, kv.modRevision);
  }

  /**
   * The expiration to report for a record that was deleted while attached to etcd lease `id`:
   * its lease gone means it expired (now); its lease alive means someone deleted the record (the
   * lease's end, still ahead); `assumed` when that cannot be told.
   */
  async #removedAt(id: string, assumed: string): Promise<string> {
    if (id === "0") return assumed;
    try {
      const ttl = await this.client.timeToLive(id);
      return new Date(Date.now() + Math.max(0, ttl) * 1000).toISOString();
    } catch {
      return assumed;
    }
  }

  /** Nothing is held open between calls (watches end with their signal). */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function leaseOf(
  req: AcquireRequest,
  subnet: string,
  subnet6: string | undefined,
  ttl: number,
): Lease {
  const l: Lease = {
    subnet,
    publicIP: req.publicIP,
    node: req.node,
    backendType: req.backendType,
    expiration: new Date(Date.now() + ttl * 1000).toISOString(),
  };
  if (subnet6) l.subnet6 = subnet6;
  if (req.publicIP6) l.publicIP6 = req.publicIP6;
  if (req.backendData) l.backendData = req.backendData;
  return l;
}
