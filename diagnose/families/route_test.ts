import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import type { NodeView } from "../context.ts";
import { diffChecks } from "./route.ts";

Deno.test("diffChecks(): a stale route's fix checks the next hop's daemon first (its lease may only have expired)", () => {
  const node = { name: "n1", facts: { backend: "host-gw" } } as unknown as NodeView;
  const stale = { dst: "10.244.3.0/24", gateway: "192.168.77.13", dev: "eth0" };
  const [c] = diffChecks(node, { missing: [], wrongNexthop: [], stale: [stale], foreign: [] });
  assertEquals([c!.id, c!.status], ["route.stale", "warn"]);
  assertStringIncludes(c!.summary, "expired");
  assertStringIncludes(c!.fix ?? "", "check the daemon of the node at each route's next hop");
  assertStringIncludes(c!.fix ?? "", "if that node is gone: ip route del 10.244.3.0/24 proto 100");
});
