/**
 * The other side of tests/bench/kube_client_bench.ts: `@kubernetes/client-node`'s informer on
 * Nodes (kubeconfig as argument); prints the same figures as _kube_client_own.ts.
 *
 * @module
 */
// A benchmark-only comparison: the product never imports this package.
// deno-lint-ignore no-import-prefix
import * as k8s from "npm:@kubernetes/client-node@1.4.0";

const kc = new k8s.KubeConfig();
kc.loadFromFile(Deno.args[0]!);
const api = kc.makeApiClient(k8s.CoreV1Api);
const informer = k8s.makeInformer(kc, "/api/v1/nodes", () => api.listNode());
await informer.start();
const syncedMs = Math.round(performance.now());
await new Promise((r) => setTimeout(r, 3000));
const m = Deno.memoryUsage();
console.log(JSON.stringify({
  client: "@kubernetes/client-node 1.4.0",
  syncedMs,
  objects: informer.list().length,
  rssMiB: Math.round(m.rss / 1048576),
  heapMiB: Math.round(m.heapUsed / 1048576),
}));
await informer.stop();
Deno.exit(0);
