/**
 * The pod's interface name: recorded by IPAM (when the pod has it), else the veth wired to its
 * node, else the recorded name, else eth0; a reservation file's interface name is read for the
 * pod's address (and container, when known), never from a legacy or corrupt file.
 */
import { assertEquals } from "../testing/assert.ts";
import { choosePodIfname, recordedIfname } from "./pod_ifname.ts";

Deno.test("choosePodIfname: IPAM's record, then the wired veth, then eth0", () => {
  const lo = ["lo"];
  assertEquals(choosePodIfname({ recorded: "net1", present: [...lo, "net1"], wired: [] }), "net1");
  assertEquals(
    choosePodIfname({ recorded: "net1", present: [...lo, "eth0", "net1"], wired: ["eth0"] }),
    "net1",
    "the record wins over another wired veth (multus: eth0 from the default network)",
  );
  assertEquals(choosePodIfname({ present: [...lo, "pod0"], wired: ["pod0"] }), "pod0");
  assertEquals(
    choosePodIfname({ recorded: "net1", present: [...lo, "pod0"], wired: ["pod0"] }),
    "pod0",
    "a stale record loses to the veth that is there",
  );
  assertEquals(
    choosePodIfname({ recorded: "net1", present: lo, wired: [] }),
    "net1",
    "a pod that lost its interface: named as recorded",
  );
  assertEquals(choosePodIfname({ present: lo, wired: [] }), "eth0");
  assertEquals(choosePodIfname({ present: [], wired: [] }), "eth0");
});

Deno.test("recordedIfname reads the reservation of the pod's address", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-ifname-" });
  try {
    Deno.writeTextFileSync(`${dir}/10.244.1.2`, "abc\r\nnet1");
    Deno.writeTextFileSync(`${dir}/10.244.1.3`, "legacy-id");
    Deno.writeTextFileSync(`${dir}/10.244.1.4`, "");
    Deno.writeTextFileSync(`${dir}/10.244.1.5`, "x\r\nbad name");
    assertEquals(recordedIfname(dir, "10.244.1.2"), "net1");
    assertEquals(recordedIfname(dir, "10.244.1.2", "abc"), "net1");
    assertEquals(recordedIfname(dir, "10.244.1.2", "other"), undefined, "another container's");
    for (const ip of ["10.244.1.3", "10.244.1.4", "10.244.1.5", "10.244.1.9"]) {
      assertEquals(recordedIfname(dir, ip), undefined, ip);
    }
    assertEquals(recordedIfname(`${dir}/none`, "10.244.1.2"), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
