/**
 * createBackend(): validated options in, the Backend the backend table (registry.ts) builds for
 * `opts.type` out.
 *
 * @module
 */
import { validateOptions } from "./_context.ts";
import { netnsSysctl } from "../node/sysctl.ts";
import { backendDefinition } from "./registry.ts";
import type { Backend, BackendOptions } from "./types.ts";

/**
 * Creates the backend for `opts.type`. Validates every option first and throws
 * BackendConfigError naming the field (nothing in the kernel is touched until setup()).
 *
 * @example
 * ```ts ignore
 * const backend = createBackend({ type: "vxlan", handle, netns, uplink, publicIP, node });
 * const { backendData, mtu } = backend.setup();      // publish backendData in the lease
 * const report = backend.reconcile(leases, self);      // after every lease change / timer tick
 * ```
 */
export function createBackend(opts: BackendOptions): Backend {
  const ctx = validateOptions(opts, opts.sysctl ?? netnsSysctl(opts.netns));
  return backendDefinition(ctx.type)!.create(ctx);
}
