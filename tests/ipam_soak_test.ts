/**
 * CI-sized IPAM kill -9 soak (issue 13; the full size is `deno task soak:ipam`, see
 * tests/ipam_soak.ts): the installed plugin's ADD, DEL and GC SIGKILLed at random moments,
 * writers killed between creating and filling a reservation, then the runtime's DEL for every
 * container. Nothing may leak and no address may be handed out twice. The seed is random and
 * printed, so a failure can be replayed with `deno run -A tests/ipam_soak.ts --seeds N`.
 */
import { assertEquals } from "../testing/assert.ts";
import { formatSoak, runIpamSoak } from "./ipam_soak.ts";

Deno.test("IPAM soak: 100 ADDs ~60% SIGKILLed, killed DELs and GCs, dead writers: 0 leaked, 0 duplicates", async () => {
  const seed = Math.floor(Math.random() * 1e6);
  const r = await runIpamSoak({ seed, iterations: 100 });
  console.log(formatSoak(r));
  assertEquals(r.errors, [], `seed ${seed}`);
  assertEquals(r.leftovers, {}, `seed ${seed}: leaked reservations`);
  assertEquals(r.duplicates, 0, `seed ${seed}: duplicates`);
  assertEquals(r.veths, 0, `seed ${seed}: host veths left`);
});
