/**
 * End-to-end (root): a 3-node lab on the bgp backend (skein's own speaker, iBGP full mesh).
 * Pods on every node reach each other over routes learned by BGP (`ip route show proto bgp`);
 * a daemon killed with kill -9 while pods ping, then restarted, changes no route on any node:
 * its peers keep its routes (graceful restart, receiving speaker) and its own kernel routes stay
 * until it has converged again (restarting speaker), with no withdraw then re-add.
 *
 * @module
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { testPrefix } from "./_netns.ts";
import {
  type Lab,
  labDefaults,
  labDown,
  labStatus,
  labUp,
  pingMatrix,
  restartNodeDaemon,
  stopNodeDaemon,
  summarize,
} from "../lab/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { sleep } from "../store/sleeper.ts";
import { upFailure } from "./_lab_logs.ts";

const isRoot = Deno.uid() === 0;

async function bgpRoutes(ns: string): Promise<string[]> {
  const r = await runCommand(["ip", "-n", ns, "-j", "route", "show", "proto", "bgp"]);
  assert(r.success, r.stderr);
  return (JSON.parse(r.stdout || "[]") as { dst: string; gateway?: string }[]).map((x) =>
    `${x.dst} via ${x.gateway}`
  ).sort();
}

async function allPing(lab: Lab): Promise<boolean> {
  const pods = lab.state.pods.map((p) => ({
    name: p.name,
    ip: p.ip!,
    netnsPath: `/run/netns/${p.netns}`,
  }));
  return summarize(await pingMatrix(pods)).failed === 0;
}

Deno.test({
  name:
    "lab bgp: 3-node iBGP mesh, pods ping over proto bgp routes; kill -9 and restart changes no route",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const o = labDefaults({
      name: `${testPrefix()}b`,
      nodes: 3,
      podsPerNode: 1,
      backend: "bgp",
      leaseTtl: 10,
      reconcilePeriod: 1,
    });
    try {
      const r = await labUp(o);
      const lab = r.lab;
      assert(r.ok, `connectivity matrix has failures:\n${upFailure(r)}`);
      const ns = (n: string) => lab.plan.nodes.find((x) => x.name === n)!.netns;
      const ip = (n: string) => lab.plan.nodes.find((x) => x.name === n)!.ip;
      const subnet = (n: string) =>
        JSON.parse(Deno.readTextFileSync(lab.plan.nodes.find((x) => x.name === n)!.leaseFile))
          .subnet as string;
      const nodes = ["n1", "n2", "n3"];

      await t.step(
        "every node has the others' subnets as proto bgp routes via their IPs",
        async () => {
          for (const n of nodes) {
            const want = nodes.filter((m) => m !== n).map((m) => `${subnet(m)} via ${ip(m)}`)
              .sort();
            assertEquals(await bgpRoutes(ns(n)), want, `proto bgp routes of ${n}`);
          }
          // `skein lab status` counts them (its ROUTES column).
          const st = await labStatus(o.name);
          assertEquals(st?.nodes.map((x) => x.skeinRoutes), [2, 2, 2]);
        },
      );

      await t.step(
        "kill -9 of n2's daemon while pods ping, then restart: no route changes anywhere",
        async () => {
          const before = Object.fromEntries(
            await Promise.all(nodes.map(async (n) => [n, await bgpRoutes(ns(n))])),
          );
          const mons = nodes.map((n) =>
            new Deno.Command("ip", {
              args: ["-n", ns(n), "monitor", "route"],
              stdout: "piped",
              stderr: "piped",
            }).spawn()
          );
          await sleep(300);
          await stopNodeDaemon(lab, "n2", "SIGKILL");
          assert(await allPing(lab), "pods stopped reaching each other while n2's daemon was down");
          await restartNodeDaemon(lab, "n2");
          await sleep(3000); // sessions re-establish, End-of-RIB both ways, a few reconciles
          const seen: string[] = [];
          for (const m of mons) {
            try {
              m.kill("SIGTERM");
            } catch { /* gone */ }
            seen.push(new TextDecoder().decode((await m.output()).stdout));
          }
          const subnets = nodes.map(subnet);
          const changes = seen.join("\n").split("\n").filter((l) =>
            subnets.some((s) => l.includes(s))
          );
          assertEquals(changes, [], "route changes during the restart");
          for (const n of nodes) {
            assertEquals(await bgpRoutes(ns(n)), before[n], `routes of ${n} after the restart`);
          }
          assert(await allPing(lab), "pods cannot reach each other after the restart");
        },
      );
    } finally {
      await labDown(o.name);
    }
  },
});
