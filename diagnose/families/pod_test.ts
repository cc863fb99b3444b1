import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import { unheldAddress } from "./pod.ts";

Deno.test("unheldAddress(): an address no namespace holds fails, naming the leaked reservation when IPAM still has one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/10.244.3.2`, "c0ffee\r\neth0");
    Deno.writeTextFileSync(`${dir}/lock`, "");
    const free = unheldAddress("n1", "10.244.3.99", dir);
    assertEquals([free.id, free.status], ["pod.eth0", "fail"]);
    assertStringIncludes(free.summary, "no pod on n1 has 10.244.3.99");
    assertEquals(free.evidence.reservations, 1);
    const leaked = unheldAddress("n1", "10.244.3.2", dir);
    assertEquals([leaked.status, leaked.evidence.containerId], ["fail", "c0ffee"]);
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
