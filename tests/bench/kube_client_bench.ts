/**
 * skein's own Kubernetes client against `@kubernetes/client-node` under Deno, side by side: a
 * real kube-apiserver v1.20.2 with `--nodes` Node objects (podCIDR + flannel's annotations), then
 * each client in a fresh process, `--rounds` times: time from process start to a synced
 * list+watch of all Nodes, and RSS/heap holding them.
 *
 * Run: deno run -A tests/bench/kube_client_bench.ts [--nodes 1000] [--rounds 3]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withKube } from "../_kube_server.ts";
import { KubeClient } from "../../store/_kube_client.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1000" },
    rounds: { type: "string", default: "3" },
  },
});
const N = Number(flags.nodes);
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
/**
 * The official client's npm packages are pinned in their own lockfile, not in deno.lock: Deno
 * caches every npm package deno.lock names, so install.sh's DENO_DIR (and the lab's skein image)
 * would carry ~73 MB of this benchmark's packages.
 */
const LOCK = new URL("kube_client.lock", import.meta.url).pathname;

function nodeObject(n: number): Record<string, unknown> {
  const subnet = `10.${100 + (n >> 8)}.${n & 255}.0/24`;
  const ip = `192.168.${n >> 8}.${n & 255}`;
  const hex = (x: number) => x.toString(16).padStart(2, "0");
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: `n${n}`,
      labels: { "kubernetes.io/hostname": `n${n}`, "kubernetes.io/os": "linux" },
      annotations: {
        "flannel.alpha.coreos.com/backend-type": "vxlan",
        "flannel.alpha.coreos.com/public-ip": ip,
        "flannel.alpha.coreos.com/backend-data": `{"VtepMAC":"0a:00:00:00:${hex(n >> 8)}:${
          hex(n & 255)
        }"}`,
      },
    },
    spec: { podCIDR: subnet, podCIDRs: [subnet] },
  };
}

await withKube("kube client bench", async (k) => {
  const c = new KubeClient(k.admin);
  for (let i = 0; i < N; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, N - i) }, (_, j) =>
        c.request({
          verb: "create",
          resource: "nodes",
          method: "POST",
          path: "/api/v1/nodes",
          body: nodeObject(i + j),
        })),
    );
  }
  c.close();
  const kc = k.kubeconfig(k.adminCert, "bench");
  const rows: Record<string, number>[] = [];
  for (let round = 0; round < Number(flags.rounds); round++) {
    for (const f of ["_kube_client_own.ts", "_kube_client_official.ts"]) {
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          CONFIG,
          `--lock=${LOCK}`,
          new URL(f, import.meta.url).pathname,
          kc,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(r.stdout).trim();
      if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
      console.log(out);
      rows.push(JSON.parse(out));
    }
  }
  console.log(`\ncommand: deno run -A tests/bench/kube_client_bench.ts ${Deno.args.join(" ")}`);
});
