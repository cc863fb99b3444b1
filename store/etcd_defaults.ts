/**
 * Constants of the etcd store that callers need without loading the store itself.
 *
 * @module
 */

/** Default etcd key prefix, flannel's. */
export const DEFAULT_ETCD_PREFIX = "/coreos.com/network";
