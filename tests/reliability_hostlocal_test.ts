/**
 * host-local killed between its O_EXCL create and its write leaves an empty reservation file
 * that its own DEL and ADD never remove (issue 13 item 1: "ours or host-local's"). With skein as
 * the main plugin and `"ipam": {"type": "host-local"}`, skein's DEL reclaims it after host-local's
 * DEL, under the lock both take; complete reservations stay. Root needed (a host namespace).
 */
import { assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk } from "./_cni.ts";
import { hasHostLocal } from "./ipam_helpers.ts";

Deno.test({
  name: "skein DEL with host-local IPAM reclaims host-local's empty reservation files",
  ignore: Deno.uid() !== 0 || !hasHostLocal(),
  fn: async () => {
    const dataDir = Deno.makeTempDirSync({ prefix: "skein-hl-reclaim-" });
    try {
      await withNamespaces(["host", "pod"], async (ns) => {
        const conf = {
          cniVersion: "1.0.0",
          name: "hlr",
          type: "skein",
          bridge: "skhlr0",
          isGateway: true,
          ipam: { type: "host-local", dataDir, subnet: "10.252.7.0/24" },
        };
        const call = (command: "ADD" | "DEL", id: string) => ({
          command,
          conf,
          containerId: id,
          netns: ns.pod!,
          hostNs: ns.host!,
        });
        await callOk(call("ADD", "live"));
        const dir = `${dataDir}/hlr`;
        // What a host-local killed between open(O_EXCL) and write() leaves, and a stray temp.
        Deno.writeTextFileSync(`${dir}/10.252.7.77`, "");
        Deno.writeTextFileSync(`${dir}/10.252.7.78`, "");
        await callOk(call("DEL", "never-added"));
        const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
          /^[0-9.]+$/.test(n)
        );
        assertEquals(left, ["10.252.7.2"], "only the live reservation stays");
        assertEquals(Deno.readTextFileSync(`${dir}/10.252.7.2`), "live\r\neth0");
        await callOk(call("DEL", "live"));
      });
    } finally {
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});
