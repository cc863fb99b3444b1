import { assert, assertEquals } from "../../testing/assert.ts";
import { kubeletArgs, kubeletConfig } from "./kubelet.ts";

Deno.test("kubeletConfig: the lab node's settings; x509 + webhook with a client CA", () => {
  const c = JSON.parse(kubeletConfig({
    address: "192.168.77.11",
    volumePluginDir: "/var/lib/kubelet/volume-plugins",
    clientCaFile: "/var/lib/kubelet/pki/ca.crt",
  }));
  assertEquals(c.address, "192.168.77.11");
  assertEquals(c.port, 10250);
  assertEquals(c.readOnlyPort, 0);
  assertEquals(c.oomScoreAdj, 0);
  assertEquals(c.cgroupDriver, "cgroupfs");
  assertEquals(c.cgroupsPerQOS, false);
  assertEquals(c.enforceNodeAllocatable, []);
  assertEquals(c.failSwapOn, false);
  assertEquals(c.makeIPTablesUtilChains, false);
  assertEquals(c.authentication.anonymous.enabled, false);
  assertEquals(c.authentication.x509.clientCAFile, "/var/lib/kubelet/pki/ca.crt");
  assertEquals(c.authorization.mode, "Webhook");
});

Deno.test("kubeletConfig: without a client CA anonymous + AlwaysAllow (loopback tests)", () => {
  const c = JSON.parse(
    kubeletConfig({ address: "127.0.0.1", port: 20001, healthzPort: 0, volumePluginDir: "/d/v" }),
  );
  assertEquals([c.port, c.healthzPort], [20001, 0]);
  assertEquals(c.authentication.anonymous.enabled, true);
  assertEquals(c.authorization.mode, "AlwaysAllow");
});

Deno.test("kubeletArgs: remote runtime, own dirs, node ip; log to a file or stderr", () => {
  const a = kubeletArgs({
    config: "/var/lib/kubelet/config.yaml",
    kubeconfig: "/var/lib/kubelet/kubeconfig",
    runtimeSocket: "/run/containerd/containerd.sock",
    rootDir: "/var/lib/kubelet",
    certDir: "/var/lib/kubelet/pki",
    nodeName: "k-n1",
    nodeIp: "192.168.77.11",
  });
  for (
    const f of [
      "--container-runtime=remote",
      "--container-runtime-endpoint=unix:///run/containerd/containerd.sock",
      "--root-dir=/var/lib/kubelet",
      "--cert-dir=/var/lib/kubelet/pki",
      "--hostname-override=k-n1",
      "--node-ip=192.168.77.11",
      "--logtostderr=true",
    ]
  ) assert(a.includes(f), `missing ${f}`);
  const b = kubeletArgs({
    config: "c",
    kubeconfig: "k",
    runtimeSocket: "/s",
    rootDir: "/r",
    certDir: "/c",
    nodeName: "n",
    nodeIp: "127.0.0.1",
    logFile: "/d/kubelet.log",
  });
  assert(b.includes("--log-file=/d/kubelet.log") && b.includes("--logtostderr=false"));
});
