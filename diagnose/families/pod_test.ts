import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import { unheldAddress } from "./pod.ts";
import { otherMac } from "./_pod_neigh.ts";

Deno.test("unheldAddress(): an address no namespace holds fails unless IPAM reserves it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/10.244.3.2`, "c0ffee\r\neth0");
    Deno.writeTextFileSync(`${dir}/lock`, "");
    const free = unheldAddress("n1", "10.244.3.99", dir);
    assertEquals([free.id, free.status], ["pod.eth0", "fail"]);
    assertStringIncludes(free.summary, "no pod on n1 has 10.244.3.99");
    assertEquals(free.evidence.reservations, 1);
    const leaked = unheldAddress("n1", "10.244.3.2", dir);
    assertEquals([leaked.status, leaked.evidence.containerId], ["warn", "c0ffee"]);
    assertEquals(
      leaked.fix,
      `if the pod is gone: rm ${dir}/10.244.3.2 (or let the runtime's CNI GC release it)`,
    );
    assertEquals(unheldAddress("n1", "10.244.3.99").status, "skip");
    assertEquals(unheldAddress("n1", "10.244.3.99", `${dir}/none`).status, "skip");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("otherMac(): a unicast, locally administered MAC other than the pod's", () => {
  for (
    const mac of [
      "da:82:b9:65:f7:3c",
      "0a:58:0a:f4:01:02",
      "fe:ff:ff:ff:ff:ff",
      "00:00:00:00:00:01",
    ]
  ) {
    const m = otherMac(mac);
    const first = parseInt(m.slice(0, 2), 16);
    assertEquals([m !== mac, first & 1, first & 2, m.slice(2)], [true, 0, 2, mac.slice(2)]);
  }
  assertEquals(otherMac("da:82:b9:65:f7:3c"), "de:82:b9:65:f7:3c");
});
