/**
 * A node renumbered under its daemon (DHCP handing out another address, a VM moved): the daemon
 * sees its uplink's address change, starts its run over with the new address (vxlan: the device's
 * local address) and renews its lease with it, and the other node follows (its route or FDB entry
 * to the new address). An uplink left without any address for a moment changes nothing until the
 * new one arrives. Root needed: labs of network namespaces (tests/_diag_lab.ts).
 *
 * @module
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { type Lab, labDiagnose } from "../lab/mod.ts";
import { runCommand } from "../lab/_proc.ts";
import { sleep } from "../store/sleeper.ts";
import { waitFor } from "./_daemon_proc.ts";
import { withLab } from "./_diag_lab.ts";

const isRoot = Deno.uid() === 0;

async function sh(...argv: string[]): Promise<string> {
  const r = await runCommand(argv);
  if (!r.success) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function pings(lab: Lab, from: string, to: string): Promise<boolean> {
  const a = lab.state.pods.find((p) => p.name === from)!;
  const b = lab.state.pods.find((p) => p.name === to)!;
  const r = await runCommand(["ip", "netns", "exec", a.netns, "ping", "-c", "1", "-W", "1", b.ip!]);
  return r.success;
}

/** Renumbers n2 from .12 to .52, checks that n1 and the pods follow, and that diagnose agrees. */
async function renumber(lab: Lab, peerUses: (n1: string, newIp: string) => Promise<boolean>) {
  const ns = (n: string) => lab.plan.nodes.find((x) => x.name === n)!.netns;
  const log = () => Deno.readTextFileSync(lab.plan.nodes.find((x) => x.name === "n2")!.logFile);
  const old = "192.168.77.12", next = "192.168.77.52";
  assert(await pings(lab, "n1-p1", "n2-p1"), "no traffic before the renumbering");

  // No address at all for a moment: nothing to start over with, so the daemon waits.
  await sh("ip", "-n", ns("n2"), "addr", "del", `${old}/24`, "dev", "eth0");
  await sleep(500);
  assert(!log().includes("starting over"), log());
  const daemon = lab.state.daemons.find((d) => d.node === "n2")!;
  Deno.kill(daemon.pid, "SIGCONT"); // throws if the daemon exited

  await sh("ip", "-n", ns("n2"), "addr", "add", `${next}/24`, "dev", "eth0");
  await waitFor(
    "n2's daemon to start over with its new address",
    () => log().includes(`"eth0 ${old} -> eth0 ${next}"`),
    { log },
  );
  await waitFor(`n1 to send n2's pod traffic to ${next}`, () => peerUses(ns("n1"), next), { log });
  await waitFor("pod traffic across the renumbered node", () => pings(lab, "n1-p1", "n2-p1"), {
    log,
  });
  const r = await labDiagnose(lab.plan.options.name, "n1-p1", "n2-p1");
  assertEquals(r.checks.filter((c) => c.status === "fail"), []);
  const addr = r.checks.find((c) => c.id === "underlay.address" && c.node === "n2");
  assertEquals(addr?.status, "pass");
  assertStringIncludes(addr!.summary, next);
}

Deno.test({
  name:
    "daemon: vxlan node renumbered -> the daemon starts over with the new address, n1's FDB follows",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("rv", { backend: "vxlan", nodes: 2, leaseTtl: 120 }, async (lab) => {
      await renumber(lab, async (n1, ip) => {
        const fdb = JSON.parse(
          await sh("ip", "netns", "exec", n1, "bridge", "-j", "fdb", "show", "dev", "skein.1"),
        ) as { dst?: string }[];
        return fdb.some((e) => e.dst === ip);
      });
      const n2 = lab.plan.nodes.find((x) => x.name === "n2")!.netns;
      const dev = JSON.parse(await sh("ip", "-n", n2, "-j", "-d", "link", "show", "skein.1"))[0];
      assertEquals(dev.linkinfo.info_data.local, "192.168.77.52");
    }),
});

Deno.test({
  name: "daemon: host-gw node renumbered -> n1's route to n2's subnet goes via the new address",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("rh", { backend: "host-gw", nodes: 2, leaseTtl: 120 }, async (lab) => {
      await renumber(lab, async (n1, ip) => {
        const routes = JSON.parse(await sh("ip", "-n", n1, "-j", "route", "show", "proto", "100"));
        return (routes as { gateway?: string }[]).some((r) => r.gateway === ip);
      });
    }),
});

Deno.test({
  name: "daemon: its lease rewritten in the datastore with another node IP -> put back at once",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withLab("rw", { backend: "vxlan", nodes: 2, leaseTtl: 600 }, async (lab) => {
      const n2 = lab.plan.nodes.find((x) => x.name === "n2")!;
      const subnet = JSON.parse(Deno.readTextFileSync(n2.leaseFile)).subnet as string;
      const file = `${lab.plan.storeDir}/subnets/${subnet.replace("/", "-")}.json`;
      const record = JSON.parse(Deno.readTextFileSync(file));
      assertEquals(record.PublicIP, "192.168.77.12");
      Deno.writeTextFileSync(file, JSON.stringify({ ...record, PublicIP: "192.168.77.99" }) + "\n");
      // The lease TTL is 600 s: only the daemon's watch of its own record can put it back now.
      await waitFor("n2's record back to its node IP", () =>
        JSON.parse(Deno.readTextFileSync(file)).PublicIP === "192.168.77.12", {
        ms: 10_000,
        log: () =>
          Deno.readTextFileSync(n2.logFile),
      });
      assertStringIncludes(Deno.readTextFileSync(n2.logFile), "this node's lease changed");
      // n1 followed the rewrite and follows the repair (its own watch, soon after).
      const n1 = lab.plan.nodes.find((x) =>
        x.name === "n1"
      )!.netns;
      const fdb = async () =>
        (JSON.parse(await sh("bridge", "-n", n1, "-j", "fdb", "show", "dev", "skein.1")) as {
          dst?: string;
        }[]).map((f) => f.dst).filter((d) => d);
      let last: (string | undefined)[] = [];
      await waitFor("n1's FDB back to n2's node IP", async () => {
        last = await fdb();
        return last.length === 1 && last[0] === "192.168.77.12";
      }, { ms: 10_000, log: () => JSON.stringify(last) });
      assert(await pings(lab, "n1-p1", "n2-p1"));
    }),
});
