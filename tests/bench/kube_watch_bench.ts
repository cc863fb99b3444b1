/**
 * How far the kubernetes store's watch falls behind a big cluster's steady stream of Node
 * updates: a real kube-apiserver v1.20.2 with `--nodes` Nodes (podCIDR + flannel's annotations),
 * a LeaseInformer on a KubeStore synced to them, then `--updates` status-only Node patches (a
 * label, as kubelet heartbeats and conditions do) followed by one lease change (a public IP):
 * the time until the informer shows that change.
 *
 * Run: deno run -A tests/bench/kube_watch_bench.ts [--nodes 5000] [--updates 1000]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withKube } from "../_kube_server.ts";
import { KubeClient, MERGE_PATCH } from "../../store/_kube_client.ts";
import { KubeStore } from "../../store/kubernetes.ts";
import { LeaseInformer } from "../../store/informer.ts";
import { NODE_ANNOTATIONS as A } from "../../store/kube_node.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "5000" },
    updates: { type: "string", default: "1000" },
  },
});
const N = Number(flags.nodes), U = Math.min(Number(flags.updates), N);

function node(n: number) {
  const cidr = `10.${n >> 8}.${n & 255}.0/24`;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: `n${n}`,
      annotations: {
        [A.backendType]: "vxlan",
        [A.publicIP]: `192.168.${n >> 8}.${n & 255}`,
        [A.backendData]: '{"VtepMAC":"0a:00:00:00:00:01"}',
      },
    },
    spec: { podCIDR: cidr, podCIDRs: [cidr] },
  };
}

await withKube("kube watch bench", async (k) => {
  const c = new KubeClient(k.admin);
  const patch = (name: string, body: unknown) =>
    c.request({
      verb: "patch",
      resource: "nodes",
      method: "PATCH",
      path: `/api/v1/nodes/${name}`,
      body,
      contentType: MERGE_PATCH,
    });
  await c.request({
    verb: "create",
    resource: "namespaces",
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "skein" } },
  });
  const store = new KubeStore({ credentials: { ...k.admin, namespace: "skein" } });
  await store.putNetworkConfigIfAbsent({
    network: "10.0.0.0/8",
    subnetLen: 24,
    backend: { type: "vxlan" },
  });
  for (let i = 1; i <= N; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, N - i + 1) }, (_, j) =>
        c.request({
          verb: "create",
          resource: "nodes",
          method: "POST",
          path: "/api/v1/nodes",
          body: node(i + j),
        })),
    );
  }
  const inf = new LeaseInformer({ store });
  const ctl = new AbortController();
  const run = inf.run(ctl.signal);
  while (inf.leases().size < N) await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  for (let i = 1; i <= U; i += 20) {
    await Promise.all(
      Array.from(
        { length: Math.min(20, U - i + 1) },
        (_, j) => patch(`n${i + j}`, { metadata: { labels: { heartbeat: String(i + j) } } }),
      ),
    );
  }
  await patch("n5", { metadata: { annotations: { [A.publicIP]: "192.168.250.250" } } });
  const seen = () => [...inf.leases().values()].find((l) => l.node === "n5")?.publicIP;
  while (seen() !== "192.168.250.250") await new Promise((r) => setTimeout(r, 10));
  const done = performance.now();
  console.log(
    `${N} Nodes, ${U} status-only updates then one lease change: the informer shows it ${
      Math.round(done - t0)
    } ms after the first update was sent`,
  );
  ctl.abort();
  await run;
  await store.close();
  c.close();
});
