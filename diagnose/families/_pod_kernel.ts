/**
 * The pod family's view inside a pod: its own namespace's kernel, opened once per diagnosis,
 * and its route toward the other end of the flow. Shared by the pod checks (pod.ts and its
 * helpers) and the mtu and probe families.
 *
 * @module
 */
import type { Link, Route } from "../../net/types.ts";
import type { Diagnosis, Endpoint } from "../context.ts";
import { type FibAnswer, Kernel } from "../kernel.ts";
import { DEFAULT_POD_IFNAME } from "../pod_ifname.ts";

/** The pod's own kernel view (opened once per diagnosis, closed by the runner). */
export function podKernel(d: Diagnosis, e: Endpoint): Kernel | undefined {
  if (!e.netns) return undefined;
  const key = `podkernel|${e.netns}`;
  let k = d.memo.get(key) as Kernel | undefined;
  if (!k) {
    k = new Kernel(e.netns);
    d.memo.set(key, k);
  }
  return k;
}

/** The name of pod `e`'s interface on the pod network (its CNI_IFNAME: eth0, net1, ...). */
export function podIf(e: Endpoint): string {
  return e.ifName ?? DEFAULT_POD_IFNAME;
}

/** Pod `e`'s interface on the pod network, in its namespace (`ip -n POD link show IFNAME`). */
export function podLink(d: Diagnosis, e: Endpoint): Link | undefined {
  return podKernel(d, e)?.link(podIf(e));
}

/**
 * The pod's FIB answer for `dst` (`ip netns exec POD ip route get DST`), memoised; undefined
 * when the pod's namespace is not known.
 */
export function podRoute(d: Diagnosis, e: Endpoint, dst: string): FibAnswer | undefined {
  const k = podKernel(d, e);
  if (!k) return undefined;
  const key = `podroute|${e.netns}|${dst}`;
  let a = d.memo.get(key) as FibAnswer | undefined;
  if (!a) {
    a = k.fib({ dst });
    d.memo.set(key, a);
  }
  return a;
}

/** The prefix length of pod `e`'s own address on its interface, if it holds it. */
export function podPrefixLen(d: Diagnosis, e: Endpoint): number | undefined {
  const k = podKernel(d, e), eth0 = podLink(d, e);
  const own = k?.addrs().find((a) =>
    a.index === eth0?.index && a.family === 4 && a.cidr.split("/")[0] === e.ip
  );
  return own ? Number(own.cidr.split("/")[1]) : undefined;
}

/** The pod's IPv4 default route (main table), if any. */
export function defaultRouteOf(k: Kernel): Route | undefined {
  return k.routes().find((r) => r.family === 4 && r.dst === "0.0.0.0/0" && r.table === 254);
}

/** The other end of the flow, seen from `e`. */
export function peerOf(e: Endpoint, pair: { from: Endpoint; to: Endpoint }): Endpoint {
  return e === pair.from ? pair.to : pair.from;
}
