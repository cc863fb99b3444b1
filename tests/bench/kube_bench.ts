/**
 * The kubernetes datastore next to etcd, in one run (root; a real kube-apiserver v1.20.2 from
 * scripts/build-kube.sh and Debian's etcd 3.4):
 *
 * 1. Convergence: in a 10-node lab (vxlan, no pods, periodic reconcile 300 s so only the watch
 *    acts), a new node appears — etcd: its lease written (flannel's layout, a txn); kubernetes: a
 *    Node created with spec.podCIDR and flannel's annotations — and the time until all 10 nodes
 *    have the route to its subnet (netlink dumps every `--probe-ms`), p50 and p99 over `--rounds`.
 * 2. Idle load: requests per node per minute over `--idle-s` with nothing changing — the
 *    apiserver's own `apiserver_request_total` (skein's JSON requests; the apiserver's internal
 *    protobuf loops left out) and etcd's `grpc_server_started_total` for the etcd store.
 *
 * Run: deno run -A tests/bench/kube_bench.ts [--rounds N] [--idle-s S] [--probe-ms MS]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { openHandle, SKEIN_ROUTE_PROTOCOL } from "../../net/mod.ts";
import { type Lab, labDefaults, labDown, labUp, openLabStore } from "../../lab/mod.ts";
import { sleep } from "../../store/sleeper.ts";
import { KubeClient } from "../../store/_kube_client.ts";
import { loadKubeconfig } from "../../store/kube_config.ts";
import { annotationPatch } from "../../store/kube_node.ts";
import { kubePaths } from "../../lab/kube.ts";
import { labKubeDir } from "../../lab/store.ts";
import { testPrefix } from "../_netns.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "20" },
    "idle-s": { type: "string", default: "60" },
    "probe-ms": { type: "string", default: "2" },
    nodes: { type: "string", default: "10" },
  },
});
const ROUNDS = Number(flags.rounds);
const IDLE_S = Number(flags["idle-s"]);
const PROBE_MS = Number(flags["probe-ms"]);
const NODES = Number(flags.nodes);

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

async function routesEverywhere(lab: Lab, t0: number, subnet: string): Promise<number> {
  const hs = lab.plan.nodes.map((n) => openHandle({ netns: `/run/netns/${n.netns}` }));
  try {
    while (performance.now() < t0 + 60_000) {
      if (
        hs.every((h) =>
          h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).some((r) => r.dst === subnet)
        )
      ) {
        return performance.now() - t0;
      }
      await sleep(PROBE_MS);
    }
    throw new Error(`route ${subnet} not on every node after 60 s`);
  } finally {
    for (const h of hs) h.close();
  }
}

/** A new node's lease (etcd) or Node (kubernetes); resolves when the write was acknowledged. */
type Writer = (i: number) => Promise<string>;

function etcdWriter(lab: Lab, name: string): { write: Writer; close(): Promise<void> } {
  const store = openLabStore(lab.plan);
  return {
    write: async (i) =>
      (await store.acquire({
        node: `${name}-new${i}`,
        publicIP: `192.168.77.${150 + i}`,
        backendType: "vxlan",
        backendData: { vtepMAC: `0a:58:0a:00:01:${(16 + i).toString(16)}` },
        ttlSeconds: 3600,
      })).subnet,
    close: () => store.close(),
  };
}

function kubeWriter(admin: KubeClient, name: string, taken: Set<string>): Writer {
  let next = 1;
  return async (i) => {
    while (taken.has(`10.244.${next}.0/24`)) next++;
    const subnet = `10.244.${next}.0/24`;
    taken.add(subnet);
    const lease = {
      subnet,
      publicIP: `192.168.77.${150 + i}`,
      node: `${name}-new${i}`,
      backendType: "vxlan",
      backendData: { vtepMAC: `0a:58:0a:00:01:${(16 + i).toString(16)}` },
      expiration: "",
    };
    await admin.request({
      verb: "create",
      resource: "nodes",
      method: "POST",
      path: "/api/v1/nodes",
      body: {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name: lease.node,
          annotations: Object.fromEntries(
            Object.entries(annotationPatch(lease).metadata.annotations).filter(([, v]) =>
              v !== null
            ),
          ),
        },
        spec: { podCIDR: subnet, podCIDRs: [subnet] },
      },
    });
    return subnet;
  };
}

/** Sum of the counter lines that `keep` accepts. */
function sumCounter(text: string, metric: string, keep: (line: string) => boolean): number {
  let n = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${metric}{`) && keep(line)) {
      n += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return n;
}

async function idleRequests(read: () => Promise<number>): Promise<number> {
  const a = await read();
  await sleep(IDLE_S * 1000);
  const b = await read();
  return (b - a) / NODES / (IDLE_S / 60);
}

async function run(kind: "etcd" | "kubernetes"): Promise<{ conv: number[]; idle: number }> {
  const name = `${testPrefix()}b${kind === "etcd" ? "e" : "k"}`;
  try {
    const { lab } = await labUp(labDefaults({
      name,
      nodes: NODES,
      podsPerNode: 0,
      backend: "vxlan",
      datastore: kind,
      reconcilePeriod: 300,
      leaseTtl: 3600,
    }));
    const conv: number[] = [];
    let idle: number;
    if (kind === "etcd") {
      const w = etcdWriter(lab, name);
      try {
        for (let i = 0; i < ROUNDS; i++) {
          await sleep(Math.random() * 300);
          const subnet = await w.write(i);
          conv.push(await routesEverywhere(lab, performance.now(), subnet));
        }
      } finally {
        await w.close();
      }
      const url = lab.state.processes.find((p) => p.name === "etcd")!.url!;
      idle = await idleRequests(async () =>
        sumCounter(
          await (await fetch(`${url}/metrics`)).text(),
          "grpc_server_started_total",
          () => true,
        )
      );
    } else {
      const admin = new KubeClient(loadKubeconfig(kubePaths(labKubeDir(lab.plan)).admin));
      try {
        const store = openLabStore(lab.plan);
        const taken = new Set((await store.list()).leases.map((l) => l.subnet));
        await store.close();
        const write = kubeWriter(admin, name, taken);
        for (let i = 0; i < ROUNDS; i++) {
          await sleep(Math.random() * 300);
          const subnet = await write(i);
          conv.push(await routesEverywhere(lab, performance.now(), subnet));
        }
        idle = await idleRequests(async () =>
          sumCounter(
            await admin.requestText({
              verb: "get",
              resource: "metrics",
              method: "GET",
              path: "/metrics",
            }),
            "apiserver_request_total",
            (l) => l.includes('contentType="application/json"') && !l.includes(',resource="",'),
          )
        );
      } finally {
        admin.close();
      }
    }
    return { conv, idle };
  } finally {
    await labDown(name);
  }
}

const etcd = await run("etcd");
const kube = await run("kubernetes");
const row = (what: string, e: number, k: number, unit: string) =>
  `${what.padEnd(44)} ${e.toFixed(1).padStart(9)} ${k.toFixed(1).padStart(11)} ${
    (k / e).toFixed(2).padStart(7)
  }  ${unit}`;
console.log(`\nnew node -> routes on all ${NODES} nodes (n=${ROUNDS}), idle ${IDLE_S} s`);
console.log(
  `${"".padEnd(44)} ${"etcd".padStart(9)} ${"kubernetes".padStart(11)} ${"k/e".padStart(7)}`,
);
console.log(row("convergence p50", pct(etcd.conv, 0.5), pct(kube.conv, 0.5), "ms"));
console.log(row("convergence p99", pct(etcd.conv, 0.99), pct(kube.conv, 0.99), "ms"));
console.log(row("idle requests per node per minute", etcd.idle, kube.idle, "req"));
console.log(`\ncommand: deno run -A tests/bench/kube_bench.ts ${Deno.args.join(" ")}`);
