/**
 * Integration: the kubernetes store read the way the daemon reads it (a LeaseInformer) through a
 * hostile proxy in front of a real kube-apiserver v1.20.2 (tests/_hostile_proxy.ts): HTML, cut
 * JSON, 503s and answers that never come are clear StoreErrors; a watch connection that goes
 * half-open (silent, never closed) is replaced; garbage in a watch stream is survived; the
 * apiserver killed and started again converges; Nodes deleted, re-annotated or recreated with
 * another podCIDR by hand are followed. The informer's leases are never dropped meanwhile.
 */
import { assert, assertEquals, assertRejects } from "../testing/assert.ts";
import { type TestKube, withKube } from "./_kube_server.ts";
import { KubeClient, MERGE_PATCH } from "../store/_kube_client.ts";
import { KubeStore } from "../store/kubernetes.ts";
import { StoreError } from "../store/errors.ts";
import { LeaseInformer } from "../store/informer.ts";
import { NODE_ANNOTATIONS as A } from "../store/kube_node.ts";
import { startHostileProxy } from "./_hostile_proxy.ts";

type Req = Parameters<KubeClient["request"]>[0];

function api<T = unknown>(
  c: KubeClient,
  method: Req["method"],
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<T> {
  return c.request<T>({
    verb: method.toLowerCase(),
    resource: path,
    method,
    path,
    body,
    contentType,
  });
}

async function until(what: string, f: () => boolean, timeoutMs = 40000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name:
    "kube-apiserver behind a hostile proxy: garbage and hangs are clear StoreErrors, a half-open watch is replaced, restarts and hand edits converge, no lease dropped",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withKube("kube outage tests", async (k: TestKube) => {
      const admin = new KubeClient(k.admin);
      await api(admin, "POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "skein" },
      });
      const truth = new KubeStore({ credentials: { ...k.admin, namespace: "skein" } });
      await truth.putNetworkConfigIfAbsent({
        network: "10.80.0.0/16",
        subnetLen: 24,
        backend: { type: "vxlan" },
      });
      const join = async (name: string, i: number) => {
        await api(admin, "POST", "/api/v1/nodes", {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name },
        });
        return await truth.acquire({
          node: name,
          publicIP: `192.168.80.${i}`,
          backendType: "vxlan",
          backendData: { VtepMAC: "0a:00:00:00:00:01" },
          ttlSeconds: 600,
        });
      };
      for (let i = 1; i <= 3; i++) await join(`k${i}`, i);

      const proxy = startHostileProxy({ upstream: k.server, caCert: k.caCert });
      const storeErrors: string[] = [];
      const watched = new KubeStore({
        credentials: { server: proxy.url, token: k.admin.token, namespace: "skein" },
        timeoutMs: 1500,
        watchTimeoutSeconds: 2,
        onError: (e) => storeErrors.push(e.message),
      });
      const inf = new LeaseInformer({ store: watched, backoff: { minMs: 100, maxMs: 1000 } });
      const stop = new AbortController();
      const run = inf.run(stop.signal);
      let fewest = Infinity;
      const poll = setInterval(() => {
        if (inf.synced) fewest = Math.min(fewest, inf.leases().size);
      }, 20);
      const lease = (node: string) => [...inf.leases().values()].find((l) => l.node === node);
      const nodes = () => [...inf.leases().values()].map((l) => l.node).sort().join();
      try {
        await until("the first list", () => inf.synced);
        assertEquals(nodes(), "k1,k2,k3");

        const bad: [typeof proxy.mode, RegExp][] = [
          ["garbage", /list nodes: .*not a JSON object: <html>/],
          ["truncated", /list nodes: .*not a JSON object: \{"kind":"NodeList"/],
          ["wrong-shape", /list nodes: not a list of Nodes/],
          ["unavailable", /503/],
          ["hang", /list nodes: no answer within 1500 ms/],
        ];
        for (const [mode, says] of bad) {
          proxy.mode = mode;
          const e = await assertRejects(() => watched.list(), StoreError);
          assert(says.test(e.message), `${mode}: ${e.message}`);
        }
        // Every answer garbage while the watch is torn down: the leases stay.
        proxy.mode = "garbage";
        const errorsBefore = storeErrors.length;
        proxy.silence();
        await until("the watch to fail to resume", () => storeErrors.length > errorsBefore);
        assertEquals(nodes(), "k1,k2,k3");

        // A half-open watch: the open stream goes silent for good, new requests work again.
        const watches = () => proxy.seen.filter((p) => p === "/api/v1/nodes").length;
        const before = watches();
        proxy.mode = "pass";
        await until("a new request through the proxy", () => watches() > before);
        await new Promise((r) => setTimeout(r, 300));
        proxy.silence();
        await join("k4", 4);
        await until("k4 seen although its watch went half-open", () => nodes() === "k1,k2,k3,k4");

        // Garbage and a malformed event inside a watch stream: that stream breaks, the next resumes.
        for (const line of ["this is not json\n", '{"type":"ADDED","object":null}\n']) {
          const n = storeErrors.length;
          proxy.inject(line, (p) => p.includes("watch=1"));
          proxy.silence();
          await until("the bad watch line reported", () => storeErrors.length > n);
        }
        assert(storeErrors.some((m) => m.includes("malformed event")), storeErrors.join("\n"));
        await join("k5", 5);
        await until("k5 after garbage in the watch", () => nodes() === "k1,k2,k3,k4,k5");

        // The apiserver killed: leases kept; started again: changes made after it are followed.
        k.signal("SIGKILL");
        await new Promise((r) => setTimeout(r, 2500));
        assertEquals(inf.leases().size, 5, "no lease dropped while the apiserver is down");
        await k.restart();
        await join("k6", 6);
        await until("k6 after the apiserver restarted", () => nodes() === "k1,k2,k3,k4,k5,k6");

        // A half-open watch with the server's usual 300 s timeout: the first request of the store
        // that gets no usable answer (a 503 here) ends it, long before its own deadline.
        {
          const slow = new KubeStore({
            credentials: { server: proxy.url, token: k.admin.token, namespace: "skein" },
            timeoutMs: 1500,
          });
          const inf2 = new LeaseInformer({ store: slow, backoff: { minMs: 100, maxMs: 1000 } });
          const stop2 = new AbortController();
          const run2 = inf2.run(stop2.signal);
          try {
            const seen = () => [...inf2.leases().values()].map((l) => l.node).sort().join();
            await until("the second informer", () => seen() === "k1,k2,k3,k4,k5,k6");
            const before = watches();
            await until("its watch open", () => watches() > before || inf2.synced);
            await new Promise((r) => setTimeout(r, 300));
            proxy.silence();
            await join("k7", 7);
            proxy.mode = "unavailable";
            await assertRejects(() => slow.list(), StoreError);
            proxy.mode = "pass";
            await until(
              "k7 through a watch replaced after the 503",
              () => seen().includes("k7"),
              20000,
            );
          } finally {
            stop2.abort();
            await run2;
            await slow.close();
          }
        }
        await until("k7 on the first informer too", () => nodes().includes("k7"));
        await api(admin, "DELETE", "/api/v1/nodes/k7");
        await until("k7 gone again", () => !nodes().includes("k7"));

        // Hand edits: a Node deleted, a public IP annotation changed, a Node made again with
        // another podCIDR (spec.podCIDR cannot be changed in place).
        await api(admin, "DELETE", "/api/v1/nodes/k1");
        await until("k1 gone", () => !lease("k1"));
        await api(
          admin,
          "PATCH",
          "/api/v1/nodes/k2",
          { metadata: { annotations: { [A.publicIP]: "192.168.80.222" } } },
          MERGE_PATCH,
        );
        await until("k2's new public IP", () => lease("k2")?.publicIP === "192.168.80.222");
        const k3 = lease("k3")!;
        const annotations = (await api<{ metadata: { annotations: Record<string, string> } }>(
          admin,
          "GET",
          "/api/v1/nodes/k3",
        )).metadata.annotations;
        await api(admin, "DELETE", "/api/v1/nodes/k3");
        await api(admin, "POST", "/api/v1/nodes", {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name: "k3", annotations },
          spec: { podCIDR: "10.80.200.0/24", podCIDRs: ["10.80.200.0/24"] },
        });
        await until("k3 on its new podCIDR", () => lease("k3")?.subnet === "10.80.200.0/24");
        assert(![...inf.leases().values()].some((l) => l.subnet === k3.subnet));
        assertEquals(nodes(), "k2,k3,k4,k5,k6");
        assertEquals(fewest, 3, "the informer never held fewer leases than the store");
      } finally {
        clearInterval(poll);
        stop.abort();
        await run;
        await proxy.close();
        await watched.close();
        await truth.close();
        admin.close();
      }
    });
  },
});
