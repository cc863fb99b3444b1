/**
 * One side of tests/bench/kube_client_bench.ts: skein's own client (store/kubernetes.ts through
 * the LeaseInformer) lists and watches the Nodes of the kubeconfig given as argument; prints
 * when it synced (ms since process start), how many leases, RSS and heap 3 s later.
 *
 * @module
 */
import { KubeStore } from "../../store/kubernetes.ts";
import { loadKubeconfig } from "../../store/kube_config.ts";
import { LeaseInformer } from "../../store/informer.ts";

const store = new KubeStore({ credentials: loadKubeconfig(Deno.args[0]!) });
const ctl = new AbortController();
const informer = new LeaseInformer({ store });
const run = informer.run(ctl.signal);
while (!informer.synced) await new Promise((r) => setTimeout(r, 5));
const syncedMs = Math.round(performance.now());
await new Promise((r) => setTimeout(r, 3000));
const m = Deno.memoryUsage();
console.log(JSON.stringify({
  client: "skein (fetch)",
  syncedMs,
  objects: informer.leases().size,
  rssMiB: Math.round(m.rss / 1048576),
  heapMiB: Math.round(m.heapUsed / 1048576),
}));
ctl.abort();
await run;
await store.close();
