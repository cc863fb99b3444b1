/**
 * Every check family, in causal order. A new backend's family (`bgp`, `udp`) is one more file
 * here with `appliesTo` naming its backend.
 *
 * @module
 */
import type { Family } from "../family.ts";
import { daemonFamily } from "./daemon.ts";
import { ipamFamily } from "./ipam.ts";
import { ipipFamily } from "./ipip.ts";
import { leaseFamily } from "./lease.ts";
import { mtuFamily } from "./mtu.ts";
import { podFamily } from "./pod.ts";
import { routeFamily } from "./route.ts";
import { sysctlFamily } from "./sysctl.ts";
import { vxlanFamily } from "./vxlan.ts";
import { netfilterFamily } from "./netfilter.ts";
import { underlayFamily } from "./underlay.ts";
import { conntrackFamily } from "./conntrack.ts";
import { offloadFamily } from "./offload.ts";
import { probeFamily } from "./probe.ts";
import { traceFamily } from "./trace.ts";
import { udpFamily } from "./udp.ts";
import { bgpFamily } from "./bgp.ts";
import { bgpPortFamily } from "./_bgp_port.ts";
import { tcFamily } from "./tc.ts";
import { xfrmFamily } from "./xfrm.ts";

/** The families every diagnosis runs (those that apply to the nodes' backends). */
export const FAMILIES: readonly Family[] = [
  daemonFamily,
  leaseFamily,
  sysctlFamily,
  podFamily,
  underlayFamily,
  vxlanFamily,
  ipipFamily,
  udpFamily,
  bgpFamily,
  bgpPortFamily,
  routeFamily,
  mtuFamily,
  netfilterFamily,
  xfrmFamily,
  tcFamily,
  ipamFamily,
  conntrackFamily,
  offloadFamily,
  probeFamily,
  traceFamily,
];
