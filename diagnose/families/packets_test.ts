import { assertEquals } from "../../testing/assert.ts";
import type { NodeView } from "../context.ts";
import { encapPacket, tunnelPorts } from "./packets.ts";

/** A node without kernel access (no uplink name) whose tunnel is `tunnel` on `port`. */
function node(name: string, ip: string, tunnel: "vxlan" | "udp" | "ipip", port: number): NodeView {
  return {
    name,
    nodeName: name,
    facts: { backend: tunnel, vni: 1, port, tunnel },
    lease: { publicIP: ip },
  } as unknown as NodeView;
}

Deno.test("encapPacket(): the udp backend's packets go from its port to its port (its socket is bound there); VXLAN's source port is not known; ipip has none", () => {
  const n1 = node("n1", "192.168.77.11", "udp", 8285),
    n2 = node("n2", "192.168.77.12", "udp", 8285);
  assertEquals(encapPacket(n1, n2, "output"), {
    hook: "output",
    saddr: "192.168.77.11",
    daddr: "192.168.77.12",
    l4proto: "udp",
    sport: 8285,
    dport: 8285,
  });
  assertEquals(encapPacket(n1, n2, "input"), {
    hook: "input",
    saddr: "192.168.77.12",
    daddr: "192.168.77.11",
    l4proto: "udp",
    sport: 8285,
    dport: 8285,
  });
  const v1 = node("n1", "192.168.77.11", "vxlan", 8472);
  assertEquals(encapPacket(v1, n2, "output")?.sport, undefined);
  assertEquals(tunnelPorts(v1), { dport: 8472 });
  const i1 = node("n1", "192.168.77.11", "ipip", 0);
  const p = encapPacket(i1, n2, "output");
  assertEquals([p?.l4proto, p?.sport, p?.dport], ["ipip", undefined, undefined]);
});
