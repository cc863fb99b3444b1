/**
 * Errors of the lease datastores.
 *
 * @module
 */

/** A datastore could not be read or written (I/O error, etcd unreachable, bad response). */
export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
  }
}

/**
 * The datastore answered, but its cluster network config cannot be used (not JSON, a bad field):
 * an operator's mistake to fix there, not an outage.
 */
export class BadNetworkConfigError extends StoreError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BadNetworkConfigError";
  }
}

/** Every subnet of the cluster network is leased. */
export class SubnetExhaustedError extends StoreError {
  constructor(message: string) {
    super(message);
    this.name = "SubnetExhaustedError";
  }
}

/** The lease being renewed no longer exists or belongs to another node. */
export class LeaseLostError extends StoreError {
  constructor(readonly subnet: string, reason: string) {
    super(`Lease on ${subnet} is lost: ${reason}`);
    this.name = "LeaseLostError";
  }
}
