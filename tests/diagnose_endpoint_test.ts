/**
 * findNetnsOf() with a node: two pod namespaces hold the same address (two labs or clusters on
 * one machine, as a Kubernetes lab beside a plain lab with the same network), each wired by a
 * veth to its own node. Only the pod wired to the asked node is its pod; without a node the
 * first namespace holding the address is returned, as before. A pod whose interface is not eth0
 * (CNI_IFNAME=pod0) is found the same way, and its interface name is read from the veth wired to
 * its node when IPAM records none (an eth0 of another network beside it does not count).
 */
import { assertEquals } from "../testing/assert.ts";
import { findNetnsOf } from "../diagnose/endpoint.ts";
import { Kernel } from "../diagnose/kernel.ts";
import { podIfnameOf } from "../diagnose/pod_ifname.ts";
import { withNamespaces } from "./_netns.ts";

function ip(args: string[]): void {
  const r = new Deno.Command("ip", { args, stderr: "piped" }).outputSync();
  if (!r.success) throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/** `node` gets host end `host`, `pod` gets `dev` (eth0) with 10.244.1.2/24. */
function wire(node: string, pod: string, host: string, dev = "eth0"): void {
  const n = node.split("/").pop()!, p = pod.split("/").pop()!;
  ip(["-n", n, "link", "add", host, "type", "veth", "peer", "name", dev, "netns", p]);
  ip(["-n", p, "addr", "add", "10.244.1.2/24", "dev", dev]);
  ip(["-n", p, "link", "set", dev, "up"]);
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

Deno.test("a pod attached as pod0: found by its node, its interface named from the wired veth", async () => {
  await withNamespaces(["na", "pa"], (ns) => {
    wire(ns.na!, ns.pa!, "vetha", "pod0");
    const p = ns.pa!.split("/").pop()!;
    // Another network's eth0 (its peer stays in the pod), not the node's.
    ip(["-n", p, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
    ip(["-n", p, "addr", "add", "10.99.0.2/24", "dev", "eth0"]);
    const prefix = p.replace(/pa$/, "");
    assertEquals(findNetnsOf("10.244.1.2", new Set(), { prefix, node: { netns: ns.na } }), ns.pa);
    const pod = new Kernel(ns.pa), node = new Kernel(ns.na);
    try {
      const e = { ip: "10.244.1.2", netns: ns.pa };
      assertEquals(podIfnameOf(e, { pod, node }), "pod0");
      assertEquals(podIfnameOf(e, { pod }), "eth0", "without the node nothing says pod0");
      const dir = Deno.makeTempDirSync({ prefix: "skein-ifname-" });
      try {
        Deno.writeTextFileSync(`${dir}/10.244.1.2`, "cid\r\npod0");
        assertEquals(podIfnameOf(e, { pod, ipamDir: dir }), "pod0", "IPAM's record");
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    } finally {
      pod.close();
      node.close();
    }
  });
});
