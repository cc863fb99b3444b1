/**
 * The options createBackend() gets on this node, from the config and the chosen uplink: one
 * place for the daemon's run() and its dry run.
 *
 * @module
 */
import type { BackendOptions } from "../backends/types.ts";
import type { NetHandle } from "../net/types.ts";
import { backendSettings, type DaemonConfig } from "./config.ts";
import type { UplinkChoice } from "./uplink.ts";

/** createBackend() options for config `c`, uplink `up` and the node's netlink `handle`. */
export function backendOptions(
  c: DaemonConfig,
  up: UplinkChoice,
  handle: NetHandle,
): BackendOptions {
  const opts: BackendOptions = {
    type: c.backend.type,
    handle,
    uplink: { name: up.name, index: up.index, mtu: up.mtu },
    publicIP: up.publicIP,
    node: c.name,
    stateDir: c.stateDir,
  };
  const settings = backendSettings(c.backend);
  if (Object.keys(settings).length) opts.settings = settings;
  if (c.backend.mtu !== undefined) opts.mtu = c.backend.mtu;
  if (c.netns) opts.netns = c.netns;
  if (up.publicIP6 && c.network6) opts.publicIP6 = up.publicIP6;
  return opts;
}
