/**
 * The subnet race with real daemons (root): 5 `skein daemon` processes (host-gw, each in its own
 * namespace) start at once against a real kube-apiserver with room for 3 subnets: 3 get one, 2
 * say "No free ... subnet" (and keep trying), no subnet goes to two Nodes.
 */
import { assert_ as assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { ip } from "./net_oracle.ts";
import { DaemonProc, freePort, waitFor } from "./_daemon_proc.ts";
import { withKube } from "./_kube_server.ts";
import { KubeClient } from "../store/_kube_client.ts";
import { KubeStore } from "../store/kubernetes.ts";

const isRoot = Deno.uid() === 0;
const NAMES = ["r1", "r2", "r3", "r4", "r5"];

Deno.test({
  name: "5 daemons race for 3 subnets on a real kube-apiserver: 3 win, 2 report no free subnet",
  ignore: !isRoot,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await withKube("daemon subnet race on kubernetes", async (k) => {
      const admin = new KubeClient(k.admin);
      await admin.request({
        verb: "create",
        resource: "namespaces",
        method: "POST",
        path: "/api/v1/namespaces",
        body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "skein" } },
      });
      const s = new KubeStore({ credentials: k.admin, namespace: "skein" });
      await s.putNetworkConfigIfAbsent({
        network: "10.52.0.0/22", // 10.52.1-3.0/24: the first subnet is never handed out
        subnetLen: 24,
        backend: { type: "host-gw" },
      });
      await s.close();
      for (const n of NAMES) {
        await admin.request({
          verb: "create",
          resource: "nodes",
          method: "POST",
          path: "/api/v1/nodes",
          body: { apiVersion: "v1", kind: "Node", metadata: { name: n } },
        });
      }
      const kubeconfig = k.kubeconfig(k.admin, "race");
      await withNamespaces(NAMES, async (ns) => {
        const dir = await Deno.makeTempDir({ prefix: "skein-kube-race-" });
        const procs: DaemonProc[] = [];
        try {
          NAMES.forEach((n, i) => {
            ip(ns[n]!, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
            ip(ns[n]!, "link", "set", "peer0", "up");
            ip(ns[n]!, "addr", "add", `192.168.92.${i + 1}/24`, "dev", "eth0");
            ip(ns[n]!, "link", "set", "eth0", "up");
            Deno.writeTextFileSync(
              `${dir}/${n}.yaml`,
              [
                `name: ${n}`,
                "backend: {type: host-gw}",
                `datastore: {type: kubernetes, kubeconfig: ${kubeconfig}, namespace: skein}`,
                "iface: eth0",
                `netns: ${ns[n]}`,
                `listen: 127.0.0.1:${freePort()}`,
                `leaseFile: ${dir}/${n}/subnet.json`,
                `subnetEnv: ${dir}/${n}/subnet.env`,
                `stateDir: ${dir}/${n}/state`,
                "cniSocket: none",
                "",
              ].join("\n"),
            );
          });
          for (const n of NAMES) procs.push(new DaemonProc(`${dir}/${n}.yaml`));
          const log = () => procs.map((p, i) => `--- ${NAMES[i]}\n${p.log()}`).join("\n");
          const leased = () =>
            NAMES.filter((n) => {
              try {
                return JSON.parse(Deno.readTextFileSync(`${dir}/${n}/subnet.json`)).subnet;
              } catch {
                return false;
              }
            });
          await waitFor("3 leases and 2 'no free subnet'", () =>
            leased().length === 3 &&
            procs.filter((p) => /No free \/24 subnet left/.test(p.log())).length === 2, {
            ms: 60_000,
            log,
          });
          const subnets = leased().map((n) =>
            JSON.parse(Deno.readTextFileSync(`${dir}/${n}/subnet.json`)).subnet as string
          );
          assertEquals(new Set(subnets).size, 3, subnets.join(","));
          const nodes = await admin.request<{ items: { spec: { podCIDR?: string } }[] }>({
            verb: "list",
            resource: "nodes",
            method: "GET",
            path: "/api/v1/nodes",
          });
          const cidrs = nodes.items.flatMap((n) => n.spec.podCIDR ? [n.spec.podCIDR] : []);
          assertEquals(cidrs.sort(), [...subnets].sort());
          assert(cidrs.every((c) => /^10\.52\.[123]\.0\/24$/.test(c)), cidrs.join(","));
        } finally {
          for (const p of procs) await p.stop();
          await Deno.remove(dir, { recursive: true }).catch(() => {});
          admin.close();
        }
      });
    });
  },
});
