/**
 * `skein lab up --datastore kubernetes` end to end (root): etcd + kube-apiserver v1.20.2 with
 * RBAC in the control-plane namespace on the lab's segment (node namespaces reach the apiserver
 * directly, the daemons through the loopback forwarder), a Node per lab node, daemons on the manifest's service account, pods through the CNI
 * plugin. Bad Nodes are skipped and counted without touching valid routes; the apiserver stopped
 * (SIGSTOP) then killed loses no pod pair and shows in /readyz and skein_datastore_up; a deleted
 * Node's routes go from every peer. One lab for the whole file.
 */
import { assert_ as assert, assertEquals } from "../testing/assert.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";
import { netnsList } from "../net/mod.ts";
import { testPrefix } from "./_netns.ts";
import { kubeApiserverBin } from "./_kube_server.ts";
import {
  type Lab,
  LAB_ROOT,
  labDefaults,
  labDown,
  labStatus,
  labUp,
  openLabStore,
  pingMatrix,
  summarize,
} from "../lab/mod.ts";
import { pidsWithMarker, runCommand, spawnDetached } from "../lab/_proc.ts";
import { KubeClient } from "../store/_kube_client.ts";
import { loadKubeconfig } from "../store/kube_config.ts";
import { NODE_ANNOTATIONS as A } from "../store/kube_node.ts";
import { kubePaths } from "../lab/kube.ts";
import { labKubeDir } from "../lab/store.ts";
import { sleep } from "../store/sleeper.ts";

const isRoot = Deno.uid() === 0;
const OUTAGE_S = Number(Deno.env.get("SKEIN_KUBE_OUTAGE_S") ?? 10);

async function routes(ns: string): Promise<string[]> {
  const r = await runCommand(["ip", "-n", ns, "-j", "route", "show", "proto", "100"]);
  return (JSON.parse(r.stdout || "[]") as { dst: string }[]).map((x) => x.dst).sort();
}

async function metrics(listen: string): Promise<Map<string, number>> {
  const r = await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(2000) });
  return parsePrometheus(await r.text());
}

async function until(what: string, f: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function allPairs(lab: Lab): Promise<number> {
  const pods = lab.state.pods.filter((p) => p.ip).map((p) => ({
    name: p.name,
    ip: p.ip!,
    netnsPath: `/run/netns/${p.netns}`,
  }));
  return summarize(await pingMatrix(pods)).failed;
}

function invalid(m: Map<string, number>, reason: string): number {
  return m.get(`skein_leases_invalid_total{reason="${reason}"}`) ?? 0;
}

Deno.test({
  name: "lab --datastore kubernetes: matrix, bad Nodes, apiserver outage, Node deletion",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    if (!(await kubeApiserverBin("lab --datastore kubernetes"))) return;
    const name = `${testPrefix()}k`;
    try {
      const up = await labUp(labDefaults({
        name,
        nodes: 3,
        podsPerNode: 1,
        backend: "vxlan",
        datastore: "kubernetes",
        leaseTtl: 60,
        reconcilePeriod: 1,
      }));
      assert(up.ok, up.matrixText);
      const lab = up.lab;
      const admin = new KubeClient(loadKubeconfig(kubePaths(labKubeDir(lab.plan)).admin));
      const daemon = (n: string) => lab.state.daemons.find((d) => d.node === n)!;
      const ns = (n: string) => lab.plan.nodes.find((x) => x.name === n)!.netns;
      try {
        await t.step("status reads the leases from the Nodes", async () => {
          const store = openLabStore(lab.plan);
          const { leases } = await store.list();
          await store.close();
          assertEquals(leases.length, 3);
          assertEquals((await routes(ns("n1"))).length, 2);
        });

        await t.step("the control plane runs in <lab>-cp on the segment", async () => {
          const cp = lab.plan.controlPlane!;
          assertEquals(cp.netns, `${name}-cp`);
          const cpIno = Deno.statSync(`/run/netns/${cp.netns}`).ino;
          for (const p of ["etcd", "kube-apiserver"]) {
            const pid = lab.state.processes.find((x) => x.name === p)!.pid;
            assertEquals(
              Deno.statSync(`/proc/${pid}/ns/net`).ino,
              cpIno,
              `${p} runs in ${cp.netns}`,
            );
          }
          const fwd = lab.state.processes.find((x) => x.name === "kube-forwarder")!;
          assertEquals(
            Deno.statSync(`/proc/${fwd.pid}/ns/net`).ino,
            Deno.statSync("/proc/self/ns/net").ino,
            "the forwarder runs in the root namespace",
          );
          const r = await runCommand([
            "nsenter",
            `--net=/run/netns/${ns("n1")}`,
            "curl",
            "-sk",
            "--max-time",
            "10",
            `https://${cp.ip}:${cp.apiserverPort}/healthz`,
          ]);
          assertEquals(r.stdout.trim(), "ok", `healthz from ${ns("n1")}: ${r.stderr}`);
          const root = await runCommand(["ip", "-j", "-4", "addr", "show"]);
          assert(
            !root.stdout.includes(`"${cp.segment.prefix}.`),
            "no lab address in the root namespace",
          );
          const s = (await labStatus(name))!;
          assert(s.wires!.some((w) => w.netns === cp.netns && w.exists), JSON.stringify(s.wires));
          assertEquals(s.processes.map((p) => `${p.name} ${p.running}`), [
            "etcd true",
            "kube-apiserver true",
            "kube-forwarder true",
          ]);
        });

        await t.step("bad Nodes are skipped and counted; no valid route removed", async () => {
          const before = await routes(ns("n1"));
          const n1Subnet = (await openLabStore(lab.plan).list()).leases.find((l) =>
            l.node.endsWith("-n1")
          )!.subnet;
          const mk = (nodeName: string, podCIDR: string, ann: Record<string, string>) =>
            admin.request({
              verb: "create",
              resource: "nodes",
              method: "POST",
              path: "/api/v1/nodes",
              body: {
                apiVersion: "v1",
                kind: "Node",
                metadata: { name: nodeName, annotations: ann },
                spec: { podCIDR, podCIDRs: [podCIDR] },
              },
            });
          const good = {
            [A.backendType]: "vxlan",
            [A.publicIP]: "192.168.77.99",
            [A.backendData]: '{"VtepMAC":"0a:00:00:00:00:99"}',
          };
          await mk(`${name}-malformed`, "10.244.250.0/24", { ...good, [A.backendData]: "{nope" });
          await mk(`${name}-foreign`, "10.244.251.0/24", {
            ...good,
            [A.publicIP]: "not-an-address",
          });
          await mk(`${name}-dup`, n1Subnet, good);
          await mk(`${name}-outside`, "10.99.0.0/24", good);
          await until("the daemons count the bad Nodes", async () => {
            const m = await metrics(daemon("n2").listen);
            return invalid(m, "undecodable") >= 3 && invalid(m, "outside-network") >= 1;
          });
          await sleep(1500); // a few reconcile rounds
          assertEquals(await routes(ns("n1")), before);
          assertEquals(await allPairs(lab), 0);
          for (const n of ["malformed", "foreign", "dup", "outside"]) {
            await admin.request({
              verb: "delete",
              resource: "nodes",
              method: "DELETE",
              path: `/api/v1/nodes/${name}-${n}`,
            });
          }
        });

        await t.step(
          `apiserver stopped, then killed (${OUTAGE_S} s): 0 lost pod pairs, /readyz and skein_datastore_up say so`,
          async () => {
            const api = lab.state.processes.find((p) => p.name === "kube-apiserver")!;
            const argv = Deno.readTextFileSync(`/proc/${api.pid}/cmdline`).split("\0").filter((x) =>
              x
            );
            const before = await routes(ns("n1"));
            let lost = 0;
            const t0 = Date.now();
            Deno.kill(api.pid, "SIGSTOP");
            try {
              await until("skein_datastore_up 0 on n1", async () => {
                lost += await allPairs(lab);
                return (await metrics(daemon("n1").listen)).get("skein_datastore_up") === 0;
              }, 90_000);
              const ready = await (await fetch(`http://${daemon("n1").listen}/readyz`)).text();
              assert(/datastore unreachable/.test(ready), ready);
              while (Date.now() - t0 < OUTAGE_S * 1000) {
                lost += await allPairs(lab);
                await sleep(500);
              }
            } finally {
              Deno.kill(api.pid, "SIGKILL");
            }
            lost += await allPairs(lab);
            assertEquals(await routes(ns("n1")), before);
            api.pid = await spawnDetached(argv, {
              logFile: `${api.dir}/apiserver.log`,
              netns: lab.plan.controlPlane!.netns,
            });
            lab.save();
            await until("skein_datastore_up 1 everywhere", async () => {
              for (const d of lab.state.daemons) {
                if ((await metrics(d.listen)).get("skein_datastore_up") !== 1) return false;
              }
              return true;
            }, 120_000);
            lost += await allPairs(lab);
            assertEquals(lost, 0, "pod pairs lost during the outage");
            console.log(`outage ${Math.round((Date.now() - t0) / 1000)} s: 0 pod pairs lost`);
          },
        );

        await t.step("a deleted Node's routes go from every peer", async () => {
          const l3 = (await openLabStore(lab.plan).list()).leases.find((l) =>
            l.node.endsWith("-n3")
          )!;
          assert((await routes(ns("n1"))).includes(l3.subnet));
          await admin.request({
            verb: "delete",
            resource: "nodes",
            method: "DELETE",
            path: `/api/v1/nodes/${l3.node}`,
          });
          await until(
            "n1 and n2 prune n3's route",
            async () =>
              !(await routes(ns("n1"))).includes(l3.subnet) &&
              !(await routes(ns("n2"))).includes(l3.subnet),
            30_000,
          );
          assertEquals((await routes(ns("n1"))).length, 1);
        });
      } finally {
        admin.close();
      }
    } finally {
      await labDown(name);
      assertEquals(netnsList().filter((n) => n.startsWith(`${name}-`)), []);
      assertEquals(pidsWithMarker(`${LAB_ROOT}/${name}/`), [], "no process of the lab is left");
    }
  },
});
