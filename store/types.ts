/**
 * Node leases and the datastore interface every store (file, etcd) implements.
 *
 * @module
 */
import type { Lifecycle } from "../component/lifecycle.ts";

/** A node's lease on one pod subnet. Field names follow flannel's etcd records where they overlap. */
export interface Lease {
  /** The pod subnet, canonical CIDR: "10.244.1.0/24". */
  subnet: string;
  /** Optional IPv6 pod subnet for dual-stack. */
  subnet6?: string;
  /** The node's public (underlay) address. */
  publicIP: string;
  /** The node's public IPv6 address, when dual-stack. */
  publicIP6?: string;
  /** Node name. */
  node: string;
  /** "host-gw" | "vxlan" | "ipip". */
  backendType: string;
  /** Backend-specific data, e.g. `{ vtepMAC: "0a:..." }` for VXLAN. */
  backendData?: Record<string, unknown>;
  /** When the lease runs out unless renewed (ISO 8601). */
  expiration: string;
}

/** A change seen by watch(): "added" also stands for a changed record (the new lease replaces the old). */
export interface LeaseEvent {
  type: "added" | "removed";
  lease: Lease;
}

/** The cluster-wide network configuration (flannel's `<prefix>/config`). */
export interface NetworkConfig {
  /** IPv4 cluster network, e.g. "10.244.0.0/16". */
  network: string;
  /** Optional IPv6 cluster network. */
  network6?: string;
  /** Per-node subnet length (default 24; 64 for v6). */
  subnetLen: number;
  subnetLen6?: number;
  /** First and last subnet that may be handed out (defaults: whole network, skipping the first). */
  subnetMin?: string;
  subnetMax?: string;
  /** Backend section as flannel writes it: `{ "Type": "vxlan", "VNI": 1, "Port": 8472 }`. */
  backend: { type: string; [k: string]: unknown };
}

/** What a node asks for when it takes (or takes back) a subnet. */
export interface AcquireRequest {
  /** Node name; a node gets its existing lease back by name (or, failing that, by publicIP). */
  node: string;
  publicIP: string;
  publicIP6?: string;
  backendType: string;
  backendData?: Record<string, unknown>;
  /** Lease time to live in seconds. */
  ttlSeconds: number;
  /** The subnet this node held before (e.g. from its lease file); preferred when still free. */
  previousSubnet?: string;
}

declare const revisionBrand: unique symbol;

/**
 * A datastore revision: an opaque token a store hands out with list() and takes back in
 * watch(). Callers only pass it along (and may log it); only the store that made it knows what
 * it means (etcd: the header revision; file store: its change counter and snapshot).
 */
export type Revision = string & { readonly [revisionBrand]: true };

/** Wraps a store's own token text as a Revision (for stores; callers never make one). */
export function asRevision(token: string): Revision {
  return token as Revision;
}

/** A consistent snapshot of the live (unexpired) leases. */
export interface LeaseList {
  leases: Lease[];
  /** Store revision of the snapshot; watch(revision) continues from exactly here. */
  revision: Revision;
}

/**
 * One item of a watch: either a batch of changes up to `revision`, or a full resync (the
 * watch lost its place, e.g. after etcd compaction or for a revision the store does not know:
 * replace everything with `resync.leases`).
 */
export type WatchItem =
  | { events: LeaseEvent[]; revision: Revision }
  | { resync: LeaseList };

/**
 * A lease datastore (file directory, etcd; see the table in registry.ts). Every method may throw
 * StoreError; a lease that vanished or was taken over makes renew() throw LeaseLostError. The
 * daemon calls start() (if any) before using it; whoever opened it closes it (Lifecycle,
 * component/lifecycle.ts).
 */
export interface LeaseStore extends Lifecycle {
  /** "file" | "etcd". */
  readonly type: string;
  /** The cluster network config, or undefined when none is stored yet. */
  getNetworkConfig(): Promise<NetworkConfig | undefined>;
  /** Stores `config` unless one exists; returns the one that is stored afterwards. */
  putNetworkConfigIfAbsent(config: NetworkConfig): Promise<NetworkConfig>;
  /** Takes a free subnet (or this node's existing one) atomically; never hands one subnet to two nodes. */
  acquire(req: AcquireRequest): Promise<Lease>;
  /** Extends the lease by `ttlSeconds` (and refreshes its attributes). */
  renew(lease: Lease, ttlSeconds: number): Promise<Lease>;
  /** All live leases. Bad records are skipped (and reported through the store's onWarning). */
  list(): Promise<LeaseList>;
  /**
   * Changes after `fromRevision` (a list()'s revision) until `signal` aborts: gapless (every
   * change after that snapshot is delivered, or a resync replaces the snapshot) and in order
   * per key. Ends by throwing StoreError when the store cannot go on (the caller re-lists).
   */
  watch(fromRevision: Revision, signal: AbortSignal): AsyncIterable<WatchItem>;
  /** Gives the subnet back (deletes the record). Missing records are not an error. */
  release(lease: Lease): Promise<void>;
  /** Frees resources (connections, timers). */
  close(): Promise<void>;
}
