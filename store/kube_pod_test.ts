import { assertEquals, assertThrows } from "../testing/assert.ts";
import { BadPodError, parsePod, validPodRef } from "./kube_pod.ts";

Deno.test("parsePod() reads addresses, node, phase and hostNetwork of a Pod", () => {
  const p = parsePod({
    metadata: { name: "web", namespace: "default" },
    spec: { nodeName: "n1", hostNetwork: false },
    status: {
      phase: "Running",
      podIP: "10.244.1.5",
      podIPs: [{ ip: "10.244.1.5" }, { ip: "fd00::5" }],
      hostIP: "192.168.77.11",
    },
  });
  assertEquals(p, {
    namespace: "default",
    name: "web",
    nodeName: "n1",
    hostNetwork: false,
    phase: "Running",
    podIP: "10.244.1.5",
    podIPs: ["10.244.1.5", "fd00::5"],
    hostIP: "192.168.77.11",
  });
});

Deno.test("parsePod() of a pending pod: no node, no addresses, empty strings", () => {
  const p = parsePod({ metadata: { name: "w", namespace: "ns" }, spec: {}, status: {} });
  assertEquals([p.nodeName, p.phase, p.podIP, p.podIPs, p.hostNetwork], ["", "", "", [], false]);
});

Deno.test("parsePod() refuses what is not a Pod: no name, a field of the wrong type", () => {
  assertThrows(() => parsePod(null), BadPodError);
  assertThrows(() => parsePod({ metadata: {} }), BadPodError, "metadata.name is missing");
  assertThrows(
    () => parsePod({ metadata: { name: "w", namespace: "ns" }, status: { podIP: 7 } }),
    BadPodError,
    "Cannot read pod ns/w: status.podIP is not a string",
  );
});

Deno.test("validPodRef() takes DNS-1123 namespaces and pod names only", () => {
  assertEquals(validPodRef("default", "web-0"), true);
  assertEquals(validPodRef("kube-system", "coredns-74ff55c5b-x8x2k"), true);
  assertEquals(validPodRef("default", "a.b.c"), true);
  assertEquals(validPodRef("Default", "web"), false);
  assertEquals(validPodRef("default", "-web"), false);
  assertEquals(validPodRef("a.b", "web"), false);
  assertEquals(validPodRef("x".repeat(64), "web"), false);
  assertEquals(validPodRef("default", ""), false);
});
