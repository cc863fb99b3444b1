/**
 * `skein diagnose --from NAMESPACE/POD --to NAMESPACE/POD` against a real kube-apiserver v1.20.2
 * (tests/_kube_server.ts): Pod objects created directly (no kubelet), their status patched with
 * a podIP as a kubelet would. The names resolve to those addresses and nodes; a missing pod, a
 * pod without an address and a hostNetwork pod are exit 2 naming the pod; the CLI reads the
 * kubeconfig from --kubeconfig or KUBECONFIG.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "../testing/assert.ts";
import { KubeClient, MERGE_PATCH } from "../store/_kube_client.ts";
import { lookupPodNames, PodNameError } from "../diagnose/pod_names.ts";
import { main } from "../cmd/diagnose.ts";
import { withKube } from "./_kube_server.ts";
import { withNamespaces } from "./_netns.ts";

const NS = "diag";

async function createPod(
  c: KubeClient,
  name: string,
  o: { node: string; ip?: string; hostNetwork?: boolean },
): Promise<void> {
  await c.request({
    verb: "create",
    resource: "pods",
    method: "POST",
    path: `/api/v1/namespaces/${NS}/pods`,
    body: {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: NS },
      spec: {
        nodeName: o.node,
        hostNetwork: o.hostNetwork === true,
        automountServiceAccountToken: false,
        containers: [{ name: "c", image: "skein.local/busybox:latest" }],
      },
    },
  });
  if (!o.ip) return;
  // What a kubelet reports once the sandbox has its address.
  await c.request({
    verb: "patch",
    resource: "pods/status",
    method: "PATCH",
    path: `/api/v1/namespaces/${NS}/pods/${name}/status`,
    contentType: MERGE_PATCH,
    body: {
      status: {
        phase: "Running",
        podIP: o.ip,
        podIPs: [{ ip: o.ip }],
        hostIP: "192.168.77.11",
      },
    },
  });
}

/** main() with stdout and stderr captured: [exit code, stdout, stderr]. */
async function cli(args: string[]): Promise<[number, string, string]> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return [await main(args), out.join("\n"), err.join("\n")];
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("skein diagnose resolves namespace/pod through a kubeconfig (real kube-apiserver)", async () => {
  await withKube("diagnose pod names", async (k) => {
    const c = new KubeClient(k.admin);
    try {
      await c.request({
        verb: "create",
        resource: "namespaces",
        method: "POST",
        path: "/api/v1/namespaces",
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
      });
      await createPod(c, "a", { node: "lab-n1", ip: "10.244.1.2" });
      await createPod(c, "b", { node: "lab-n2", ip: "10.244.2.2" });
      await createPod(c, "pending", { node: "lab-n2" });
      await createPod(c, "ds", { node: "lab-n1", ip: "192.168.77.11", hostNetwork: true });
    } finally {
      c.close();
    }
    const kc = k.kubeconfig(k.admin, "diag");

    assertEquals(await lookupPodNames([`${NS}/a`, "10.9.9.9", `${NS}/b`], kc), [
      { name: `${NS}/a`, ip: "10.244.1.2", node: "lab-n1" },
      { name: `${NS}/b`, ip: "10.244.2.2", node: "lab-n2" },
    ]);
    const problem = async (q: string) =>
      (await assertRejects(() => lookupPodNames([q], kc), PodNameError)) as PodNameError;
    const gone = await problem(`${NS}/gone`);
    assertEquals(gone.problem, "not-found");
    assertStringIncludes(gone.message, `no pod "gone" in namespace "${NS}" (kubeconfig ${kc}`);
    const pending = await problem(`${NS}/pending`);
    assertEquals(pending.problem, "no-ip");
    assertStringIncludes(pending.message, "has no IPv4 address yet: phase Pending, on node lab-n2");
    assertEquals((await problem(`${NS}/ds`)).problem, "host-network");
    // A token the apiserver does not know: the lookup fails with the apiserver's answer.
    const bad = k.kubeconfig({ ...k.admin, token: "wrong" }, "bad");
    const denied = (await assertRejects(() => lookupPodNames([`${NS}/a`], bad))) as PodNameError;
    assertEquals(denied.problem, "lookup");
    assertStringIncludes(denied.message, "KubeUnauthorizedError");

    await withNamespaces(["dpn"], async (ns) => {
      // A node config with an empty file datastore: the diagnosis itself fails (no leases),
      // but its endpoints are the pods' addresses.
      const dir = Deno.makeTempDirSync();
      try {
        const cfg = `${dir}/daemon.yaml`;
        Deno.writeTextFileSync(
          cfg,
          `network: 10.244.0.0/16\nnetns: ${ns.dpn}\nname: lab-n1\n` +
            `leaseFile: ${dir}/subnet.json\ndatastore: { type: file, dir: ${dir}/store }\n`,
        );
        const [code, out, err] = await cli([
          "--config",
          cfg,
          "--kubeconfig",
          kc,
          "--from",
          `${NS}/a`,
          "--to",
          `${NS}/b`,
          "--json",
          "--timeout",
          "2",
        ]);
        assertEquals(code === 0 || code === 1, true, `exit ${code}: ${err}`);
        const r = JSON.parse(out);
        assertEquals([r.from.query, r.from.ip, r.to.query, r.to.ip], [
          `${NS}/a`,
          "10.244.1.2",
          `${NS}/b`,
          "10.244.2.2",
        ]);
        // KUBECONFIG is read when there is no --kubeconfig; a missing pod is exit 2.
        Deno.env.set("KUBECONFIG", kc);
        try {
          const [code2, , err2] = await cli([
            "--config",
            cfg,
            "--from",
            `${NS}/a`,
            "--to",
            `${NS}/gone`,
          ]);
          assertEquals(code2, 2);
          assertStringIncludes(err2, `no pod "gone" in namespace "${NS}"`);
        } finally {
          Deno.env.delete("KUBECONFIG");
        }
        const [code3, , err3] = await cli([
          "--config",
          cfg,
          "--from",
          `${NS}/ds`,
          "--to",
          "10.244.2.2",
          "--kubeconfig",
          kc,
        ]);
        assertEquals(code3, 2);
        assertStringIncludes(err3, "hostNetwork: true");
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    });
  }, { extraArgs: ["--disable-admission-plugins=ServiceAccount"] });
});
