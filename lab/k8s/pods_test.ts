import { assertEquals } from "../../testing/assert.ts";
import { BUSYBOX_IMAGE, busyboxPod, pingPodName, readyPodIp } from "./pods.ts";

Deno.test("busyboxPod(): pinned to its node, the local image never pulled, exits on SIGTERM", () => {
  const p = busyboxPod({ name: "ping-lab-n1", node: "lab-n1" }) as {
    metadata: { namespace: string; labels: Record<string, string> };
    spec: {
      nodeName: string;
      containers: { image: string; imagePullPolicy: string; command: string[] }[];
    };
  };
  assertEquals(p.spec.nodeName, "lab-n1");
  assertEquals(p.metadata.namespace, "default");
  assertEquals(p.metadata.labels["app.kubernetes.io/name"], "skein-lab-ping");
  const c = p.spec.containers[0]!;
  assertEquals([c.image, c.imagePullPolicy], [BUSYBOX_IMAGE, "Never"]);
  assertEquals(c.command.join(" ").includes("trap 'exit 0' TERM"), true);
  assertEquals(pingPodName({ name: "lab-n2" }), "ping-lab-n2");
});

Deno.test("readyPodIp(): an address only for a Running pod whose Ready condition is True", () => {
  const pod = (phase: string, ready: string, podIP?: string) => ({
    metadata: { name: "p" },
    status: { phase, podIP, conditions: [{ type: "Ready", status: ready }] },
  });
  assertEquals(readyPodIp(pod("Running", "True", "10.244.1.2")), "10.244.1.2");
  assertEquals(readyPodIp(pod("Running", "False", "10.244.1.2")), undefined);
  assertEquals(readyPodIp(pod("Pending", "False")), undefined);
  assertEquals(readyPodIp(pod("Running", "True")), undefined);
  assertEquals(readyPodIp(undefined), undefined);
});
