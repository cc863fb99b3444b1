/**
 * ipip with directRouting, down to the bytes: this kernel has no ipip module, so the live path
 * cannot run here. The plan for one on-link and one off-link peer is turned into the netlink
 * requests the handle sends (routeRequest(), as net/handle.ts builds them) and compared with what
 * iproute2 6.1 sends for the same routes, captured with
 *
 * ```sh
 * SETUP=$'ip link add v0 type veth peer name v1\nip link add v2 type veth peer name v3' \
 *   bash net/nl/testdata/capture_golden.sh ip route replace <route>
 * ```
 *
 * (v0 = 3 plays the uplink, v2 = 5 the skein-ipip device). nlmsg_seq (bytes 8-11) is ignored.
 *
 * @module
 */
import { assertEquals } from "../testing/assert.ts";
import { lease } from "../testing/fake_node.ts";
import { encodeMessage } from "../net/nl/message.ts";
import { routeRequest } from "../net/nl/route.ts";
import { Writer } from "../net/nl/writer.ts";
import { onLinkOf } from "./direct_routing.ts";
import { ipipDesired } from "./ipip.ts";
import { plan } from "./plan.ts";
import type { KernelSnapshot } from "./snapshot.ts";

const UPLINK = 3;
const IPIP = 5;

const GOLDEN = {
  "ip route replace 10.244.2.0/24 via 192.168.1.12 dev v0 proto 100":
    "34000000180005054895156b0000000002180000fe64000100000000080001000af4020008000500c0a8010c0800040003000000",
  "ip route replace 10.244.3.0/24 via 192.168.2.13 dev v2 onlink proto 100":
    "34000000180005055195156b0000000002180000fe64000104000000080001000af4030008000500c0a8020d0800040005000000",
};

function empty(): KernelSnapshot {
  return {
    table: 254,
    routes: new Map(),
    foreign: new Map(),
    legacyCni: [],
    neighs: new Map(),
    fdbs: new Map(),
    devices: [],
    links: new Map(),
  };
}

function hexNoSeq(b: Uint8Array): string {
  const c = b.slice();
  c.fill(0, 8, 12);
  return Array.from(c, (x) => x.toString(16).padStart(2, "0")).join("");
}

Deno.test("ipip directRouting: the planned routes are iproute2's bytes (host-gw on-link, onlink tunnel off-link)", () => {
  const self = lease(1);
  const desired = ipipDesired(
    { publicIP: self.publicIP },
    IPIP,
    [lease(2), lease(3, { publicIP: "192.168.2.13" })],
    self,
    { uplink: UPLINK, onlink: onLinkOf(["192.168.1.0/24"]) },
  );
  const p = plan(desired, empty());
  const got = p.ops.map((op) => {
    if (op.kind !== "route") throw new Error(`unexpected ${op.kind} op`);
    assertEquals(op.action, "replace");
    const r = op.route as unknown as Record<string, unknown>;
    // What Handle.#routeMessage does with RouteOptions: dev becomes oif, undefined fields drop.
    const { dev, ...rest } = r;
    const spec = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    const w = new Writer(64);
    encodeMessage(w, routeRequest("replace", { ...spec, oif: dev } as never));
    return hexNoSeq(w.view().slice());
  });
  const want = Object.values(GOLDEN).map((h) => {
    const b = new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
    return hexNoSeq(b);
  });
  assertEquals(got, want);
});
