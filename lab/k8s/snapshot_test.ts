import { assertEquals } from "../../testing/assert.ts";
import { labScope, type MachineSnapshot, snapshotDiff } from "./snapshot.ts";

const base: MachineSnapshot = {
  namespaces: ["other-n1"],
  mounts: ["/ ext4 /dev/vda"],
  cgroups: ["/sys/fs/cgroup/memory"],
  processes: ["1 netns=host /sbin/init"],
  sysctls: { "kernel/panic": "0" },
  paths: { "/var/lib/kubelet": false },
  containerOwners: { "bbbb": "other" },
  netnsOwners: {},
  kubeLabs: [],
};

Deno.test("snapshotDiff: nothing when equal; names each difference", () => {
  assertEquals(snapshotDiff(base, structuredClone(base)), []);
  const after: MachineSnapshot = {
    namespaces: ["other-n1", "k-n1", "cni-1234", "cni-9999"],
    mounts: ["/ ext4 /dev/vda", "/var/lib/kubelet ext4 /dev/vda"],
    cgroups: [
      "/sys/fs/cgroup/memory",
      "/sys/fs/cgroup/memory/k8s.io",
      "/sys/fs/cgroup/memory/k8s.io/aaaa",
      "/sys/fs/cgroup/memory/k8s.io/bbbb",
    ],
    processes: [
      "1 netns=host /sbin/init",
      "77 netns=? /usr/bin/containerd --config x",
      "78 netns=host sleep 1",
      "79 netns=other-n1 /usr/bin/containerd --config x",
      "80 netns=k-n1 /usr/bin/kubelet --hostname-override=k-n1",
    ],
    sysctls: { "kernel/panic": "10" },
    paths: { "/var/lib/kubelet": true },
    containerOwners: { "bbbb": "other" },
    netnsOwners: { "cni-9999": "other" },
    kubeLabs: ["k"],
  };
  assertEquals(snapshotDiff(base, after), [
    "+ netns k-n1",
    "+ netns cni-1234",
    "+ netns cni-9999",
    "+ mount /var/lib/kubelet ext4 /dev/vda",
    "+ cgroup /sys/fs/cgroup/memory/k8s.io",
    "+ cgroup /sys/fs/cgroup/memory/k8s.io/aaaa",
    "+ cgroup /sys/fs/cgroup/memory/k8s.io/bbbb",
    "+ process 77 netns=? /usr/bin/containerd --config x",
    "+ process 78 netns=host sleep 1",
    "+ process 79 netns=other-n1 /usr/bin/containerd --config x",
    "+ process 80 netns=k-n1 /usr/bin/kubelet --hostname-override=k-n1",
    "sysctl kernel/panic: 0 -> 10",
    "path /var/lib/kubelet: absent -> present",
  ]);
  // Scoped to lab "k": another lab's namespace, container and containerd, a stray sleep are not
  // the lab's; a containerd in a deleted namespace may be.
  const after2 = { ...after, namespaces: [...after.namespaces, "x-n1"] };
  assertEquals(
    snapshotDiff(base, after2, labScope("k", base, after2)).filter((l) =>
      /netns|process|cgroup/.test(l)
    ),
    [
      "+ netns k-n1",
      "+ netns cni-1234",
      "+ cgroup /sys/fs/cgroup/memory/k8s.io",
      "+ cgroup /sys/fs/cgroup/memory/k8s.io/aaaa",
      "+ process 77 netns=? /usr/bin/containerd --config x",
      "+ process 80 netns=k-n1 /usr/bin/kubelet --hostname-override=k-n1",
    ],
  );
});

Deno.test("labScope: while another Kubernetes lab runs, its shared host state is not compared", () => {
  const after: MachineSnapshot = {
    ...structuredClone(base),
    mounts: [...base.mounts, "/run/skein/lab/other/mnt ext4 /dev/vda"],
    cgroups: [...base.cgroups, "/sys/fs/cgroup/memory/k8s.io"],
    sysctls: { "kernel/panic": "10" },
    kubeLabs: ["other"],
  };
  assertEquals(snapshotDiff(base, after, labScope("k", base, after)), []);
  // Alone, the same changes are the lab's.
  const alone = { ...after, kubeLabs: [] };
  assertEquals(snapshotDiff(base, alone, labScope("k", base, alone)), [
    "+ cgroup /sys/fs/cgroup/memory/k8s.io",
    "sysctl kernel/panic: 0 -> 10",
  ]);
});
