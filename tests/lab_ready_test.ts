/**
 * `skein lab up --nodes 5`, again and again (issue 15): no run may have a failed pair, and no
 * route may be missing at the moment `lab up` says every daemon is ready. Each node's routes are
 * read from the kernel (`ip -j route show proto 100`, synchronously, inside the progress callback,
 * so labUp cannot move on meanwhile) and must be exactly the other nodes' subnets. The daemons'
 * periodic reconcile is 300 s, so only the list and the watch can program the routes: a lease
 * lost between them would be a missing route.
 *
 * Runs `SKEIN_LAB_UP_RUNS` labs (default 5, about 3 s each); `deno task soak:lab-up` runs 20.
 *
 * Run: deno test -A tests/lab_ready_test.ts
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { type Lab, labDefaults, labDown, type LabPlan, labUp, planLab } from "../lab/mod.ts";
import { netnsList } from "../net/mod.ts";
import { testPrefix } from "./_netns.ts";
import { upFailure } from "./_lab_logs.ts";

const RUNS = Number(Deno.env.get("SKEIN_LAB_UP_RUNS") ?? "5");
const NODES = 5;

/** Each node's skein routes (proto 100) by namespace, read now (blocking). */
function routesNow(plan: LabPlan): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of plan.nodes) {
    const r = new Deno.Command("ip", {
      args: ["-n", n.netns, "-j", "route", "show", "proto", "100"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!r.success) {
      throw new Error(`ip -n ${n.netns} route: ${new TextDecoder().decode(r.stderr)}`);
    }
    const rs = JSON.parse(new TextDecoder().decode(r.stdout) || "[]") as { dst: string }[];
    out.set(n.name, rs.map((x) => x.dst).sort());
  }
  return out;
}

function subnetOf(lab: Lab, node: string): string {
  const n = lab.plan.nodes.find((x) => x.name === node)!;
  return JSON.parse(Deno.readTextFileSync(n.leaseFile)).subnet as string;
}

Deno.test({
  name:
    `lab up --nodes ${NODES}, ${RUNS} runs in a row: no failed pair, no route missing when ready`,
  ignore: Deno.uid() !== 0,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const times: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const name = `${testPrefix()}r${run}`;
      const t0 = performance.now();
      let lab: Lab;
      let atReady: Map<string, string[]> | undefined;
      try {
        const options = labDefaults({
          name,
          nodes: NODES,
          podsPerNode: 1,
          backend: "vxlan",
          reconcilePeriod: 300,
        });
        const plan = planLab(options);
        const r = await labUp(options, (msg) => {
          if (msg.startsWith("every daemon has routes")) atReady = routesNow(plan);
        });
        lab = r.lab;
        times.push(performance.now() - t0);
        assert(atReady, "lab up never said every daemon has its routes");
        for (const n of lab.plan.nodes) {
          const want = lab.plan.nodes.filter((x) => x !== n).map((x) => subnetOf(lab, x.name));
          assertEquals(atReady.get(n.name), want.sort(), `run ${run}: routes of ${n.name}`);
        }
        assert(r.ok, `run ${run}: connectivity matrix has failures:\n${upFailure(r)}`);
        assertEquals(r.results.length, NODES * (NODES - 1));
      } finally {
        const d = await labDown(name);
        assertEquals(d.errors, []);
      }
      assertEquals(netnsList().filter((n) => n.startsWith(`${name}-`)), []);
    }
    const s = [...times].sort((a, b) => a - b);
    console.log(
      `${RUNS} x lab up --nodes ${NODES}: median ${(s[s.length >> 1]! / 1000).toFixed(2)} s, ` +
        `max ${(s[s.length - 1]! / 1000).toFixed(2)} s (up to the ping matrix)`,
    );
  },
});
