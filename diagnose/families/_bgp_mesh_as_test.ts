import { assertEquals } from "../../testing/assert.ts";
import { meshAs } from "./_bgp_mesh_as.ts";

Deno.test("meshAs: the majority wins; a tie goes to the default AS, else is unknown", () => {
  assertEquals(meshAs([65000, 65000, 65099]), 65000);
  assertEquals(meshAs([64512, 65099]), 64512);
  assertEquals(meshAs([65001, 65099]), undefined);
  assertEquals(meshAs([]), undefined);
});
