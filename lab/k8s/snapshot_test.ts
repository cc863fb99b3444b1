import { assertEquals } from "../../testing/assert.ts";
import { labScope, type MachineSnapshot, snapshotDiff } from "./snapshot.ts";

const base: MachineSnapshot = {
  namespaces: ["other-n1"],
  mounts: ["/ ext4 /dev/vda"],
  cgroups: ["/sys/fs/cgroup/memory"],
  processes: ["1 /sbin/init"],
  sysctls: { "kernel/panic": "0" },
  paths: { "/var/lib/kubelet": false },
};

Deno.test("snapshotDiff: nothing when equal; names each difference", () => {
  assertEquals(snapshotDiff(base, structuredClone(base)), []);
  const after: MachineSnapshot = {
    namespaces: ["other-n1", "k-n1", "cni-1234"],
    mounts: ["/ ext4 /dev/vda", "/var/lib/kubelet ext4 /dev/vda"],
    cgroups: ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/k8s.io"],
    processes: ["1 /sbin/init", "77 /usr/bin/containerd --config x", "78 sleep 1"],
    sysctls: { "kernel/panic": "10" },
    paths: { "/var/lib/kubelet": true },
  };
  assertEquals(snapshotDiff(base, after), [
    "+ netns k-n1",
    "+ netns cni-1234",
    "+ mount /var/lib/kubelet ext4 /dev/vda",
    "+ cgroup /sys/fs/cgroup/memory/k8s.io",
    "+ process 77 /usr/bin/containerd --config x",
    "+ process 78 sleep 1",
    "sysctl kernel/panic: 0 -> 10",
    "path /var/lib/kubelet: absent -> present",
  ]);
  // Scoped to lab "k": another test's namespace and a stray sleep are not the lab's.
  const scoped = snapshotDiff(
    base,
    { ...after, namespaces: [...after.namespaces, "x-n1"] },
    labScope("k"),
  );
  assertEquals(scoped.filter((l) => /netns|process/.test(l)), [
    "+ netns k-n1",
    "+ netns cni-1234",
    "+ process 77 /usr/bin/containerd --config x",
  ]);
});
