/**
 * The command prefix that runs a program inside a network namespace (`nsenter --net=<file>`),
 * for the few places that run a binary there (nft, the CNI plugin in the lab, ping).
 *
 * @module
 */
import { netnsPath } from "../net/netns.ts";
import type { NetnsRef } from "../net/types.ts";

/**
 * The `nsenter` prefix that runs a command in `netns` (empty for this process's namespace): a
 * path as is, a pid as /proc/PID/ns/net, a bare name as /run/netns/NAME (net's netnsPath()).
 * A bad name throws TypeError before anything runs.
 */
export function nsenterArgs(netns?: NetnsRef): string[] {
  if (netns === undefined) return [];
  return ["nsenter", `--net=${netnsPath(netns)}`];
}
