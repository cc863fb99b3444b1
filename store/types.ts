/**
 * Node leases and the datastore interface every store (file, etcd) implements.
 *
 * @module
 */

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

/** A change seen by watchLeases(). */
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
