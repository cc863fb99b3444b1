/**
 * Pod names (`namespace/pod`) to endpoints with a fake apiserver (a PodReader over a table):
 * found pods become their IPv4 address and node; a missing pod, one without an address and a
 * hostNetwork pod are PodNameErrors (exit 2) that say so.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../testing/assert.ts";
import { type KubePod, parsePod, type PodReader } from "../store/kube_pod.ts";
import { KubeForbiddenError, KubeNotFoundError } from "../store/kube_errors.ts";
import type { NodeView } from "./context.ts";
import { resolveEndpoint } from "./endpoint.ts";
import {
  kubeconfigFor,
  lookupPodNames,
  parsePodName,
  PodNameError,
  resolvePodNames,
} from "./pod_names.ts";

function pod(name: string, over: { spec?: object; status?: object } = {}): KubePod {
  return parsePod({
    metadata: { name, namespace: "default" },
    spec: { nodeName: "n2", ...over.spec },
    status: {
      phase: "Running",
      podIP: "10.244.2.7",
      podIPs: [{ ip: "10.244.2.7" }],
      ...over.status,
    },
  });
}

class FakeReader implements PodReader {
  asked: string[] = [];
  closed = false;
  constructor(readonly pods: Record<string, KubePod | Error>) {}
  get(namespace: string, name: string): Promise<KubePod> {
    this.asked.push(`${namespace}/${name}`);
    const p = this.pods[`${namespace}/${name}`];
    if (p instanceof Error) return Promise.reject(p);
    if (!p) {
      return Promise.reject(
        new KubeNotFoundError({ code: 404, reason: "NotFound" }, { verb: "get", resource: "pods" }),
      );
    }
    return Promise.resolve(p);
  }
  close(): void {
    this.closed = true;
  }
}

async function problem(queries: string[], reader: PodReader): Promise<PodNameError> {
  const e = await assertRejects(() => resolvePodNames(queries, reader, "fake"), PodNameError);
  return e as PodNameError;
}

Deno.test("parsePodName() splits namespace/pod and leaves netns paths, IPs and ids alone", () => {
  assertEquals(parsePodName("default/web-0"), { namespace: "default", name: "web-0" });
  assertEquals(parsePodName("kube-system/coredns-1.x"), {
    namespace: "kube-system",
    name: "coredns-1.x",
  });
  for (const q of ["/run/netns/cni-1", "./ns", "10.244.1.2", "n1-p1", "a/b/c", "Default/web", ""]) {
    assertEquals(parsePodName(q), undefined, q);
  }
});

Deno.test("resolvePodNames(): a pod becomes its IPv4 address and node; other queries are not looked up", async () => {
  const r = new FakeReader({
    "default/a": pod("a", { status: { podIP: "10.244.1.3", podIPs: [{ ip: "fd00::3" }] } }),
    "default/b": pod("b"),
  });
  const pods = await resolvePodNames(["default/a", "10.244.9.9", "default/b", "default/a"], r, "f");
  assertEquals(pods, [
    { name: "default/a", ip: "10.244.1.3", node: "n2" },
    { name: "default/b", ip: "10.244.2.7", node: "n2" },
  ]);
  assertEquals(r.asked, ["default/a", "default/b"]);
});

Deno.test("resolvePodNames(): a dual-stack pod listing v6 first still gives its IPv4 address", async () => {
  const r = new FakeReader({
    "default/d": pod("d", {
      status: { podIP: "fd00::9", podIPs: [{ ip: "fd00::9" }, { ip: "10.244.2.9" }] },
    }),
  });
  assertEquals((await resolvePodNames(["default/d"], r, "f"))[0]?.ip, "10.244.2.9");
});

Deno.test("resolvePodNames(): a missing pod is a PodNameError naming the namespace and pod", async () => {
  const e = await problem(["default/gone"], new FakeReader({}));
  assertEquals(e.problem, "not-found");
  assertStringIncludes(e.message, `no pod "gone" in namespace "default" (fake)`);
});

Deno.test("resolvePodNames(): a pod without an IP says its phase and node", async () => {
  const pending = pod("p", {
    spec: { nodeName: "" },
    status: { phase: "Pending", podIP: "", podIPs: [] },
  });
  const e = await problem(["default/p"], new FakeReader({ "default/p": pending }));
  assertEquals(e.problem, "no-ip");
  assertStringIncludes(
    e.message,
    "pod default/p has no IPv4 address yet: phase Pending, not scheduled",
  );
  assertStringIncludes(e.message, "kubectl -n default describe pod p");
  const v6 = pod("v", { status: { podIP: "fd00::1", podIPs: [{ ip: "fd00::1" }] } });
  const e2 = await problem(["default/v"], new FakeReader({ "default/v": v6 }));
  assertStringIncludes(e2.message, "(only fd00::1)");
});

Deno.test("resolvePodNames(): a hostNetwork pod is refused: its address is the node's", async () => {
  const host = pod("ds", { spec: { hostNetwork: true }, status: { podIP: "192.168.77.12" } });
  const e = await problem(["default/ds"], new FakeReader({ "default/ds": host }));
  assertEquals(e.problem, "host-network");
  assertStringIncludes(e.message, "hostNetwork: true");
  assertStringIncludes(e.message, "192.168.77.12 is node n2's own address");
});

Deno.test("resolvePodNames(): a refused or failed lookup is a PodNameError with the cause", async () => {
  const forbidden = new KubeForbiddenError({ code: 403 }, {
    verb: "get",
    resource: "pods",
    name: "x",
    namespace: "default",
  });
  const e = await problem(["default/x"], new FakeReader({ "default/x": forbidden }));
  assertEquals(e.problem, "lookup");
  assertStringIncludes(e.message, "cannot look up pod default/x (fake): KubeForbiddenError");
});

Deno.test("lookupPodNames(): nothing to look up needs no kubeconfig; a pod name without one is an error", async () => {
  assertEquals(await lookupPodNames(["10.244.1.2", "/run/netns/x"], undefined), []);
  const e = await assertRejects(
    () => lookupPodNames(["10.244.1.2", "default/web"], undefined),
    PodNameError,
    "give --kubeconfig FILE or set KUBECONFIG",
  );
  assertEquals((e as PodNameError).problem, "no-kubeconfig");
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/kc`, "current-context: nope\n");
    const e2 = await assertRejects(
      () => lookupPodNames(["default/web"], `${dir}/kc`),
      PodNameError,
      `kubeconfig ${dir}/kc: kubeconfig has no contexts list`,
    );
    assertEquals((e2 as PodNameError).problem, "kubeconfig");
    await assertRejects(
      () => lookupPodNames(["default/web"], `${dir}/none`),
      PodNameError,
      "cannot read",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kubeconfigFor(): the flag, else the first existing $KUBECONFIG file, else ~/.kube/config", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/.kube`);
    Deno.writeTextFileSync(`${dir}/.kube/config`, "");
    Deno.writeTextFileSync(`${dir}/b`, "");
    const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
    assertEquals(kubeconfigFor("/x", env({ KUBECONFIG: `${dir}/b` })), "/x");
    assertEquals(kubeconfigFor(undefined, env({ KUBECONFIG: `${dir}/a:${dir}/b` })), `${dir}/b`);
    assertEquals(kubeconfigFor(undefined, env({ KUBECONFIG: `${dir}/a` })), `${dir}/a`);
    assertEquals(kubeconfigFor(undefined, env({ HOME: dir })), `${dir}/.kube/config`);
    assertEquals(kubeconfigFor(undefined, env({ HOME: `${dir}/b` })), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("resolveEndpoint() with a looked-up pod: its IP, its name, and its node when no lease covers it", () => {
  const facts = { backend: "vxlan", vni: 1, port: 8472, bridge: "cni0" };
  const n2: NodeView = { name: "n2", nodeName: "lab-n2", facts };
  const n1: NodeView = {
    name: "n1",
    nodeName: "lab-n1",
    facts,
    lease: {
      subnet: "10.244.1.0/24",
      publicIP: "192.168.77.11",
      node: "lab-n1",
      backendType: "vxlan",
      backendData: {},
      expiration: new Date(Date.now() + 60_000).toISOString(),
    },
  };
  const pods = [
    { name: "default/a", ip: "10.244.1.3", node: "lab-n2" },
    { name: "default/b", ip: "10.244.2.7", node: "lab-n2" },
  ];
  const a = resolveEndpoint("default/a", { nodes: [n1, n2], pods });
  assertEquals([a.ip, a.podName, a.node?.name], ["10.244.1.3", "default/a", "n1"]); // the lease wins
  const b = resolveEndpoint("default/b", { nodes: [n1, n2], pods });
  assertEquals([b.ip, b.podName, b.node?.name, b.netns], [
    "10.244.2.7",
    "default/b",
    "n2",
    undefined,
  ]);
  assert(b.containerId === undefined);
});

Deno.test("resolveEndpoint() by container id: the full id, or a prefix of 12+ characters of exactly one", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const id1 = "3f9a0c1b2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    const id2 = "3f9a0c1b2d4e0000000000000000000000000000000000000000000000000000";
    Deno.writeTextFileSync(`${dir}/10.244.1.3`, `${id1}\r\neth0`);
    Deno.writeTextFileSync(`${dir}/10.244.1.4`, `${id2}\r\neth0`);
    const facts = { backend: "vxlan", vni: 1, port: 8472, bridge: "cni0", ipamDir: dir };
    const nodes: NodeView[] = [{ name: "n1", nodeName: "lab-n1", facts }];
    assertEquals(resolveEndpoint(id1, { nodes }).ip, "10.244.1.3");
    assertEquals(resolveEndpoint(id1.slice(0, 13), { nodes }).ip, "10.244.1.3"); // crictl ps
    // Too short, or the prefix of two: not a guess.
    assertThrows(() => resolveEndpoint(id1.slice(0, 8), { nodes }), Error, "unknown pod");
    assertThrows(() => resolveEndpoint(id1.slice(0, 12), { nodes }), Error, "unknown pod");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
