/**
 * findNetnsOf() with a node: two pod namespaces hold the same address (two labs or clusters on
 * one machine, as a Kubernetes lab beside a plain lab with the same network), each wired by a
 * veth to its own node. Only the pod wired to the asked node is its pod; without a node the
 * first namespace holding the address is returned, as before.
 */
import { assertEquals } from "../testing/assert.ts";
import { findNetnsOf } from "../diagnose/endpoint.ts";
import { withNamespaces } from "./_netns.ts";

function ip(args: string[]): void {
  const r = new Deno.Command("ip", { args, stderr: "piped" }).outputSync();
  if (!r.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/** `node` gets host end `host`, `pod` gets eth0 with 10.244.1.2/24. */
function wire(node: string, pod: string, host: string): void {
  const n = node.split("/").pop()!, p = pod.split("/").pop()!;
  ip(["-n", n, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", p]);
  ip(["-n", p, "addr", "add", "10.244.1.2/24", "dev", "eth0"]);
  ip(["-n", p, "link", "set", "eth0", "up"]);
  ip(["-n", n, "link", "set", host, "up"]);
}

Deno.test("findNetnsOf(): with a node, only the namespace wired to that node holds its pod", async () => {
  await withNamespaces(["na", "nb", "pa", "pb"], (ns) => {
    wire(ns.na!, ns.pa!, "vetha");
    wire(ns.nb!, ns.pb!, "vethb");
    const prefix = ns.pa!.split("/").pop()!.replace(/pa$/, "");
    const o = { prefix };
    const first = findNetnsOf("10.244.1.2", new Set(), o);
    assertEquals(first === ns.pa || first === ns.pb, true);
    assertEquals(findNetnsOf("10.244.1.2", new Set(), { ...o, node: { netns: ns.na } }), ns.pa);
    assertEquals(findNetnsOf("10.244.1.2", new Set(), { ...o, node: { netns: ns.nb } }), ns.pb);
    assertEquals(findNetnsOf("10.244.9.9", new Set(), { ...o, node: { netns: ns.na } }), undefined);
  });
});
