import { assert, assertEquals } from "../../testing/assert.ts";
import { controllerManagerArgs, schedulerArgs } from "./control_plane.ts";
import { clientSubject } from "./pki.ts";
import { assertThrows } from "../../testing/assert.ts";

Deno.test("controllerManagerArgs: node CIDRs from the lab network, service-account key, root CA", () => {
  const a = controllerManagerArgs({
    kubeconfig: "/d/cm/kubeconfig",
    pkiDir: "/d",
    clusterCidr: "10.244.0.0/16",
    nodeCidrMaskSize: 24,
    serviceCidr: "10.96.0.0/16",
    clusterName: "k",
  });
  for (
    const f of [
      "--kubeconfig=/d/cm/kubeconfig",
      "--allocate-node-cidrs=true",
      "--cluster-cidr=10.244.0.0/16",
      "--node-cidr-mask-size=24",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--service-account-private-key-file=/d/sa.key",
      "--root-ca-file=/d/ca.crt",
      "--use-service-account-credentials=true",
      "--leader-elect=false",
      "--port=0",
      "--bind-address=127.0.0.1",
    ]
  ) assert(a.includes(f), `missing ${f} in ${a.join(" ")}`);
});

Deno.test("schedulerArgs: its kubeconfig for API, authentication and authorization", () => {
  const a = schedulerArgs({ kubeconfig: "/d/s/kubeconfig" });
  assertEquals(
    a.filter((x) => x.includes("kubeconfig")),
    [
      "--kubeconfig=/d/s/kubeconfig",
      "--authentication-kubeconfig=/d/s/kubeconfig",
      "--authorization-kubeconfig=/d/s/kubeconfig",
    ],
  );
  assert(a.includes("--secure-port=10259"));
});

Deno.test("clientSubject: the Kubernetes group as O, the user as CN; no injection", () => {
  assertEquals(
    clientSubject("system:node:k-n1", "system:nodes"),
    "/O=system:nodes/CN=system:node:k-n1",
  );
  assertEquals(clientSubject("system:kube-scheduler"), "/CN=system:kube-scheduler");
  assertThrows(() => clientSubject("a/O=system:masters"), TypeError);
});
