/**
 * The kubernetes datastore against a real kube-apiserver v1.20.2 (RBAC on, TLS, tokens, client
 * certificates) and etcd 3.4: one server for the whole file (each start costs ~5 s, ~320 MB).
 * Its watch cache is off, so a watch from a compacted revision reaches etcd and gets 410.
 */
import {
  assert_ as assert,
  assertEquals,
  assertRejects,
  assertSettlesWithin,
} from "../testing/assert.ts";
import { type TestKube, withKube } from "./_kube_server.ts";
import { KubeClient, MERGE_PATCH } from "../store/_kube_client.ts";
import { KubeStore } from "../store/kubernetes.ts";
import { KubeForbiddenError } from "../store/kube_errors.ts";
import { SubnetExhaustedError } from "../store/errors.ts";
import { LeaseInformer } from "../store/informer.ts";
import { loadKubeconfig } from "../store/kube_config.ts";
import { NODE_ANNOTATIONS as A } from "../store/kube_node.ts";
import type { KubeCredentials } from "../store/kube_config.ts";
import type { NetworkConfig } from "../store/types.ts";
import { parseAllDocuments } from "yaml";

const MANIFEST = new URL("../deploy/kubernetes/skein.yaml", import.meta.url).pathname;

/** The manifest's Namespace, ServiceAccount, RBAC and ConfigMap, created as the admin. */
async function applyRbac(c: KubeClient): Promise<void> {
  const paths: Record<string, (ns: string) => string> = {
    Namespace: () => "/api/v1/namespaces",
    ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
    ConfigMap: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
    ClusterRole: () => "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ClusterRoleBinding: () => "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
    RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  };
  for (const doc of parseAllDocuments(Deno.readTextFileSync(MANIFEST))) {
    const o = doc.toJS() as { kind: string; metadata: { namespace?: string } } | null;
    const path = o && paths[o.kind];
    if (path) await api(c, "POST", path(o.metadata.namespace ?? ""), o);
  }
}

type Req = Parameters<KubeClient["request"]>[0];

async function api<T = unknown>(
  c: KubeClient,
  method: Req["method"],
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<T> {
  return await c.request<T>({
    verb: method.toLowerCase(),
    resource: path,
    method,
    path,
    body,
    contentType,
  });
}

async function createNode(
  c: KubeClient,
  name: string,
  podCIDR?: string,
  annotations?: Record<string, string>,
) {
  await api(c, "POST", "/api/v1/nodes", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, annotations },
    spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
  });
}

async function namespace(c: KubeClient, ns: string, net: NetworkConfig): Promise<void> {
  await api(c, "POST", "/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: ns },
  });
  const s = new KubeStore({ credentials: c.creds, namespace: ns });
  await s.putNetworkConfigIfAbsent(net);
  await s.close();
}

const net = (network: string): NetworkConfig => ({
  network,
  subnetLen: 24,
  backend: { type: "vxlan" },
});

function req(node: string, ip: string) {
  return {
    node,
    publicIP: ip,
    backendType: "vxlan",
    backendData: { vtepMAC: "0a:00:00:00:00:01" },
    ttlSeconds: 600,
  };
}

async function until(
  what: string,
  f: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A service account token from the TokenRequest API (bound to `secret` when given). */
async function saToken(
  c: KubeClient,
  ns: string,
  sa: string,
  secret?: { name: string; uid: string },
): Promise<string> {
  const r = await api<{ status: { token: string } }>(
    c,
    "POST",
    `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: 3600,
        boundObjectRef: secret ? { apiVersion: "v1", kind: "Secret", ...secret } : undefined,
      },
    },
  );
  return r.status.token;
}

Deno.test("kubernetes datastore on a real kube-apiserver", async (t) => {
  await withKube("kubernetes datastore tests", async (k: TestKube) => {
    const admin = new KubeClient(k.admin);
    try {
      await t.step(
        "client certificates and bearer tokens both authenticate; a kubeconfig loads",
        async () => {
          const certStore = new KubeStore({
            credentials: loadKubeconfig(k.kubeconfig(k.adminCert, "cert")),
          });
          const tokStore = new KubeStore({
            credentials: loadKubeconfig(k.kubeconfig(k.admin, "tok")),
          });
          assert((await certStore.list()).revision.length > 0);
          assert((await tokStore.list()).revision.length > 0);
          await certStore.close();
          await tokStore.close();
        },
      );

      await t.step(
        "a pre-set spec.podCIDR is used as is; annotations are merged, others kept",
        async () => {
          await namespace(admin, "preset", net("10.60.0.0/16"));
          await createNode(admin, "preset-1", "10.60.7.0/24", { "example.com/keep": "yes" });
          const s = new KubeStore({ credentials: k.admin, namespace: "preset" });
          const l = await s.acquire(req("preset-1", "192.168.60.1"));
          assertEquals(l.subnet, "10.60.7.0/24");
          const n = await api<{ metadata: { annotations: Record<string, string> } }>(
            admin,
            "GET",
            "/api/v1/nodes/preset-1",
          );
          assertEquals(n.metadata.annotations["example.com/keep"], "yes");
          assertEquals(n.metadata.annotations[A.backendType], "vxlan");
          assertEquals(n.metadata.annotations[A.publicIP], "192.168.60.1");
          assertEquals(
            JSON.parse(n.metadata.annotations[A.backendData]!).VtepMAC,
            "0a:00:00:00:00:01",
          );
          // The network's first subnet (what kube-controller-manager --allocate-node-cidrs gives
          // the first Node) is used too: subnetMin only governs skein's own allocation.
          await createNode(admin, "preset-0", "10.60.0.0/24");
          assertEquals((await s.acquire(req("preset-0", "192.168.60.3"))).subnet, "10.60.0.0/24");
          // A podCIDR outside the network is refused, not used.
          await createNode(admin, "preset-2", "10.99.0.0/24");
          await assertRejects(
            () => s.acquire(req("preset-2", "192.168.60.2")),
            Error,
            "not a /24 subnet of 10.60.0.0/16",
          );
          // An IPv6-only Node in an IPv4 cluster: refused by name, and no subnet claim is left
          // (the apiserver would refuse to add an IPv4 podCIDR anyway).
          await createNode(admin, "preset-6", "fd00:1::/64");
          await assertRejects(
            () => s.acquire(req("preset-6", "192.168.60.6")),
            Error,
            "no IPv4 one in 10.60.0.0/16",
          );
          const claims = await api<{ items: { spec?: { holderIdentity?: string } }[] }>(
            admin,
            "GET",
            "/apis/coordination.k8s.io/v1/namespaces/preset/leases",
          );
          assertEquals(claims.items.filter((c) => c.spec?.holderIdentity === "preset-6"), []);
          await s.close();
        },
      );

      await t.step(
        "subnet race: 5 nodes, room for 3 subnets: 3 win, 2 get 'no free subnet', no duplicates",
        async () => {
          await namespace(admin, "race", net("10.50.0.0/22")); // subnets 10.50.1-3.0/24 (the first is skipped)
          const names = [1, 2, 3, 4, 5].map((i) => `race-${i}`);
          for (const n of names) await createNode(admin, n);
          const stores = names.map(() =>
            new KubeStore({ credentials: k.admin, namespace: "race" })
          );
          const results = await Promise.allSettled(
            names.map((n, i) => stores[i]!.acquire(req(n, `192.168.50.${i + 1}`))),
          );
          const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.subnet] : []));
          const lost = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
          assertEquals(won.length, 3);
          assertEquals(new Set(won).size, 3);
          assertEquals(lost.length, 2);
          for (const e of lost) {
            assert(e instanceof SubnetExhaustedError && /No free/.test(e.message), String(e));
          }
          const nodes = await api<
            { items: { metadata: { name: string }; spec: { podCIDR?: string } }[] }
          >(admin, "GET", "/api/v1/nodes");
          const cidrs = nodes.items.filter((n) => n.metadata.name.startsWith("race-")).flatMap((
            n,
          ) => n.spec.podCIDR ? [n.spec.podCIDR] : []);
          assertEquals(cidrs.sort(), [...won].sort());
          // A node deleted frees its subnet: a loser takes it (its claim is reclaimed).
          const winner = names[results.findIndex((r) => r.status === "fulfilled")]!;
          await api(admin, "DELETE", `/api/v1/nodes/${winner}`);
          const loser = results.findIndex((r) => r.status === "rejected");
          const l = await stores[loser]!.acquire(req(names[loser]!, "192.168.50.9"));
          assertEquals(won.includes(l.subnet), true, "the freed subnet is reused");
          for (const s of stores) await s.close();
        },
      );

      await t.step(
        "node deleted → the informer reports the removal; bad Nodes are skipped with a warning",
        async () => {
          await namespace(admin, "watch", net("10.70.0.0/16"));
          const warnings: string[] = [];
          const s = new KubeStore({
            credentials: k.admin,
            namespace: "watch",
            onWarning: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`),
          });
          await createNode(admin, "watch-1");
          await createNode(admin, "watch-2");
          const a1 = await s.acquire(req("watch-1", "192.168.70.1"));
          const a2 = await s.acquire(req("watch-2", "192.168.70.2"));
          const ctl = new AbortController();
          const removed: string[] = [];
          const informer = new LeaseInformer({
            store: s,
            onChange: (b) =>
              b.events.forEach((e) => e.type === "removed" && removed.push(e.lease.node)),
          });
          const run = informer.run(ctl.signal);
          try {
            await until("sync", () => informer.synced);
            const mine = () =>
              [...informer.leases().values()].filter((l) => l.node.startsWith("watch-"));
            assertEquals(mine().length, 2);
            // Bad input: a malformed annotation, a podCIDR overlapping watch-1's: skipped, logged once.
            await createNode(admin, "watch-bad", "10.70.200.0/24", {
              [A.backendType]: "vxlan",
              [A.publicIP]: "192.168.70.9",
              [A.backendData]: "{broken",
            });
            await createNode(admin, "watch-dup", a1.subnet, {
              [A.backendType]: "vxlan",
              [A.publicIP]: "192.168.70.8",
              [A.backendData]: "null",
            });
            await until(
              "warnings",
              () => warnings.filter((w) => /watch-bad|watch-dup/.test(w)).length >= 2,
            );
            assert(
              warnings.some((w) => w.includes("watch-dup") && w.includes("overlaps node watch-1")),
              warnings.join("\n"),
            );
            assertEquals(mine().map((l) => l.node).sort(), ["watch-1", "watch-2"]);
            assertEquals(informer.leases().get(a1.subnet.replace("/", "-"))?.node, "watch-1");
            await api(admin, "DELETE", "/api/v1/nodes/watch-2");
            await until("removal", () => removed.includes("watch-2"));
            assertEquals(mine().map((l) => l.node), ["watch-1"]);
            assert(a2.subnet !== a1.subnet);
            // Stopped, it ends at once (the daemon's shutdown waits for it), its watch quiet.
            ctl.abort();
            await assertSettlesWithin(run, 10_000, "the informer's run() after its abort");
          } finally {
            ctl.abort();
            await run;
            await s.close();
          }
        },
      );

      await t.step("watch resumes after an etcd compaction (410) with no lost event", async () => {
        const errors: Error[] = [];
        const s = new KubeStore({
          credentials: k.admin,
          namespace: "watch",
          onError: (e) => errors.push(e),
        });
        const snap = await s.list();
        await createNode(admin, "compact-1", "10.70.31.0/24", {
          [A.backendType]: "host-gw",
          [A.publicIP]: "192.168.70.31",
        });
        await createNode(admin, "compact-2", "10.70.32.0/24", {
          [A.backendType]: "host-gw",
          [A.publicIP]: "192.168.70.32",
        });
        await api(admin, "DELETE", "/api/v1/nodes/compact-1");
        // Compact etcd at its current revision: the list's revision is gone.
        const head = await (await fetch(`${k.etcdEndpoint}/v3/kv/range`, {
          method: "POST",
          body: JSON.stringify({ key: btoa("/") }),
        })).json();
        const c = await fetch(`${k.etcdEndpoint}/v3/kv/compaction`, {
          method: "POST",
          body: JSON.stringify({ revision: head.header.revision, physical: true }),
        });
        assert(c.ok, await c.text());
        const ctl = new AbortController();
        const items = [];
        // The same store: it knows the list behind snap.revision, so it watches from there.
        for await (const item of s.watch(snap.revision, ctl.signal)) {
          items.push(item);
          if ("resync" in item) break;
        }
        ctl.abort();
        const resync = items.find((i) => "resync" in i) as {
          resync: { leases: { node: string }[] };
        } | undefined;
        assert(resync, `no resync: ${JSON.stringify(items)}`);
        const nodes = resync.resync.leases.map((l) => l.node);
        assert(nodes.includes("compact-2") && !nodes.includes("compact-1"), nodes.join(","));
        assert(
          errors.some((e) => e.name === "KubeGoneError"),
          errors.map((e) => e.message).join("; "),
        );
        await s.close();
      });

      await t.step(
        "with exactly the manifest's RBAC and a rotated service-account token: acquire, list, watch work; other verbs are refused by name",
        async () => {
          await applyRbac(admin);
          const mk = async (name: string) => {
            const sec = await api<{ metadata: { uid: string } }>(
              admin,
              "POST",
              "/api/v1/namespaces/skein/secrets",
              { apiVersion: "v1", kind: "Secret", metadata: { name } },
            );
            return {
              token: await saToken(admin, "skein", "skein", { name, uid: sec.metadata.uid }),
              name,
            };
          };
          const t1 = await mk("rot-1");
          const t2 = await mk("rot-2");
          const tokenFile = `${k.dir}/skein.token`;
          Deno.writeTextFileSync(tokenFile, t1.token);
          const creds: KubeCredentials = {
            server: k.server,
            caCert: k.caCert,
            tokenFile,
            namespace: "skein",
          };
          const s = new KubeStore({ credentials: creds });
          await createNode(admin, "rbac-1");
          await createNode(admin, "rbac-2", "10.244.9.0/24");
          const l1 = await s.acquire(req("rbac-1", "192.168.80.1"));
          const l2 = await s.acquire(req("rbac-2", "192.168.80.2"));
          assertEquals(l2.subnet, "10.244.9.0/24");
          await s.renew(l1, 600);
          // Rotate: the new token in the file, the old one invalidated (its bound Secret deleted).
          Deno.writeTextFileSync(tokenFile, t2.token);
          await api(admin, "DELETE", `/api/v1/namespaces/skein/secrets/${t1.name}`);
          await until("the old token refused", async () => {
            const probe = new KubeClient({
              server: k.server,
              caCert: k.caCert,
              token: t1.token,
              namespace: "",
            });
            try {
              return await api(probe, "GET", "/api/v1/nodes").then(() => false, () => true);
            } finally {
              probe.close();
            }
          });
          const ctl = new AbortController();
          const snap = await s.list();
          assert(snap.leases.some((l) => l.node === "rbac-1" && l.subnet === l1.subnet));
          const it = s.watch(snap.revision, ctl.signal)[Symbol.asyncIterator]();
          const next = it.next();
          await api(admin, "PATCH", "/api/v1/nodes/rbac-2", {
            metadata: { annotations: { [A.publicIP]: "192.168.80.22" } },
          }, MERGE_PATCH);
          const item = (await next).value;
          assertEquals(item?.events?.[0]?.lease?.publicIP, "192.168.80.22");
          ctl.abort();
          await it.return?.();
          await s.release(l1);
          // Outside the role: deleting a Node, reading a Secret.
          const e = await assertRejects(
            () =>
              s.client.request({
                verb: "delete",
                resource: "nodes",
                name: "rbac-2",
                method: "DELETE",
                path: "/api/v1/nodes/rbac-2",
              }),
            KubeForbiddenError,
          );
          assert(e.message.includes('may not delete nodes "rbac-2" (cluster scope)'), e.message);
          const e2 = await assertRejects(
            () =>
              s.client.request({
                verb: "list",
                resource: "secrets",
                namespace: "skein",
                method: "GET",
                path: "/api/v1/namespaces/skein/secrets",
              }),
            KubeForbiddenError,
          );
          assert(e2.message.includes("may not list secrets in namespace skein"), e2.message);
          await s.close();
        },
      );
      await t.step(
        "a token that may list Nodes but not watch them: the watch throws KubeForbiddenError (the informer lists again) instead of retrying for ever",
        async () => {
          await api(admin, "POST", "/api/v1/namespaces/skein/serviceaccounts", {
            apiVersion: "v1",
            kind: "ServiceAccount",
            metadata: { name: "nowatch" },
          });
          await api(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "skein-nowatch" },
            rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list"] }],
          });
          await api(admin, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: "skein-nowatch" },
            roleRef: {
              apiGroup: "rbac.authorization.k8s.io",
              kind: "ClusterRole",
              name: "skein-nowatch",
            },
            subjects: [{ kind: "ServiceAccount", name: "nowatch", namespace: "skein" }],
          });
          const token = await saToken(admin, "skein", "nowatch");
          const s = new KubeStore({
            credentials: { server: k.server, caCert: k.caCert, token, namespace: "skein" },
          });
          const ctl = new AbortController();
          try {
            let snap: Awaited<ReturnType<typeof s.list>> | undefined;
            await until("a list with the new binding", async () => {
              snap = await s.list().catch(() => undefined);
              return snap !== undefined;
            });
            if (!snap) throw new Error("no list");
            const it = s.watch(snap.revision, ctl.signal)[Symbol.asyncIterator]();
            const timer = setTimeout(() => ctl.abort(), 20_000);
            try {
              const e = await assertRejects(() => it.next(), KubeForbiddenError);
              assert(e.message.includes("may not watch nodes"), e.message);
            } finally {
              clearTimeout(timer);
            }
          } finally {
            ctl.abort();
            await s.close();
          }
        },
      );
      await t.step(
        "kubectl apply --dry-run=server accepts the whole manifest (its namespace exists now)",
        async () => {
          const kc = k.kubeconfig(k.admin, "kubectl");
          const r = await new Deno.Command("kubectl", {
            args: ["--kubeconfig", kc, "apply", "--dry-run=server", "-f", MANIFEST],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
          assert(r.success, out);
          for (
            const o of [
              "namespace/skein",
              "clusterrole.rbac.authorization.k8s.io/skein",
              "daemonset.apps/skein created",
            ]
          ) {
            assert(out.includes(o), out);
          }
        },
      );
    } finally {
      admin.close();
    }
  }, { extraArgs: ["--watch-cache=false"] });
});
