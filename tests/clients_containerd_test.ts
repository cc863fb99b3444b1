/**
 * skein under containerd (root): Debian's containerd 1.6 runs busybox containers with
 * `ctr run --cni`, which sets pods up through go-cni, the library containerd's CRI plugin uses
 * for Kubernetes pods (loopback first, then the first network in /etc/cni/net.d; ADD with
 * CNI_NETNS=/proc/PID/ns/net, DEL with an empty CNI_NETNS after the task exited).
 *
 * containerd runs inside a test "host" network namespace and a private mount namespace (see
 * ContainerdSandbox in _clients.ts). The image is the Kubernetes lab's busybox image
 * (lab/k8s/images.ts: a docker-archive of Debian's static busybox written by skein).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../testing/assert.ts";
import { testPrefix, withNamespaces } from "./_netns.ts";
import { cniBinDir, inNs, links, REF_CNI_DIR, reservations } from "./_cni.ts";
import { ContainerdSandbox, ensurePackages, skipped } from "./_clients.ts";
import { buildBusyboxImage, BUSYBOX_IMAGE } from "../lab/k8s/images.ts";

const IMAGE = BUSYBOX_IMAGE;
const SUBNET = "10.242.20";

function hostVeths(host: string): string[] {
  return links(host).map((l) => l.ifname).filter((n) => /^sk[0-9a-f]{12}$/.test(n));
}

Deno.test("containerd (ctr run --cni, go-cni): ADD, pod traffic, DEL with an empty netns", async () => {
  const test = "containerd";
  if (skipped(test, ensurePackages(["containerd", "busybox-static"]))) return;
  const work = Deno.makeTempDirSync({ prefix: "skein-ctr-work-" });
  const callLog = `${work}/calls.log`;
  Deno.writeTextFileSync(callLog, "");
  // skein behind a wrapper that logs each call: command, container id and CNI_NETNS.
  Deno.writeTextFileSync(
    `${work}/skein`,
    `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID netns=$CNI_NETNS" >>'${callLog}'\nexec '${cniBinDir()}/skein' "$@"\n`,
    { mode: 0o755 },
  );
  // The lab's busybox image (lab/k8s/images.ts), written by the project's own tar writer.
  const image = (await buildBusyboxImage({ cacheDir: work })).archive;
  let background: Deno.ChildProcess | undefined;
  try {
    await withNamespaces(["host"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      let sb: ContainerdSandbox;
      try {
        sb = await ContainerdSandbox.start({
          hostNs: host,
          namespace: `skein-${testPrefix()}`,
          plugins: { skein: `${work}/skein`, loopback: `${REF_CNI_DIR}/loopback` },
        });
      } catch (e) {
        skipped(test, (e as Error).message);
        return;
      }
      try {
        const ipamDir = `${sb.dir}/ipam`;
        Deno.writeTextFileSync(
          `${sb.confDir}/10-skein.conflist`,
          JSON.stringify({
            cniVersion: "1.0.0",
            name: "skctr",
            plugins: [{
              type: "skein",
              bridge: "skctr0",
              isGateway: true,
              isDefaultGateway: true,
              ipam: { type: "skein", subnet: `${SUBNET}.0/24`, dataDir: ipamDir },
            }],
          }),
        );
        sb.ctrOk(["images", "import", image]);
        const runArgs = (id: string, script: string) => [
          "run",
          "--rm",
          "--cni",
          "--snapshotter",
          "native",
          IMAGE,
          id,
          "sh",
          "-c",
          script,
        ];
        // Can this machine run a container at all (without networking)? If not, skip.
        const probe = sb.ctr(["run", "--rm", "--snapshotter", "native", IMAGE, "probe", "true"]);
        if (probe.code !== 0) {
          skipped(test, `containerd cannot run a container here: ${probe.stderr.trim()}`);
          return;
        }

        // c1 stays up for a while; c2 reaches it and the gateway, then both exit.
        background = new Deno.Command(sb.ctrArgs([])[0]!, {
          args: [...sb.ctrArgs(runArgs("c1", "ip -o -4 addr show eth0; sleep 4")).slice(1)],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        let up = false;
        for (let i = 0; i < 100 && !up; i++) {
          await new Promise((r) => setTimeout(r, 50));
          up = reservations(ipamDir, "skctr").length === 1;
        }
        assert(up, `c1 got no address: ${Deno.readTextFileSync(callLog)}`);
        const c1Ip = reservations(ipamDir, "skctr")[0]!;
        const c2 = sb.ctr(
          runArgs(
            "c2",
            `ip -o -4 addr show eth0; ip route; ping -c1 -W2 ${SUBNET}.1 && ping -c1 -W2 ${c1Ip} && echo PINGS-OK`,
          ),
        );
        assertEquals(c2.code, 0, c2.stdout + c2.stderr);
        assertMatch(c2.stdout, new RegExp(`inet ${SUBNET.replaceAll(".", "\\.")}\\.\\d+/24`));
        assertStringIncludes(c2.stdout, `default via ${SUBNET}.1 dev eth0`);
        assertStringIncludes(c2.stdout, "PINGS-OK");
        const c1 = await background.output();
        background = undefined;
        assertEquals(c1.code, 0, new TextDecoder().decode(c1.stderr));
        assertStringIncludes(new TextDecoder().decode(c1.stdout), `inet ${c1Ip}/24`);

        // go-cni's calls: ADD with the task's /proc netns, DEL (netns empty: the task is gone)
        // once the container exited; nothing left behind.
        const calls = Deno.readTextFileSync(callLog).trim().split("\n");
        const ns1 = "skein-" + testPrefix();
        for (const id of ["c1", "c2"]) {
          const full = `${ns1}-${id}`;
          const add = calls.findIndex((c) => c.startsWith(`ADD ${full} `));
          const del = calls.findIndex((c) => c.startsWith(`DEL ${full} `));
          assert(add >= 0 && del > add, `ADD then DEL for ${full}: ${calls.join(" | ")}`);
          assertMatch(calls[add]!, /netns=\/proc\/\d+\/ns\/net$/);
        }
        assertEquals(reservations(ipamDir, "skctr"), []);
        assertEquals(hostVeths(host), []);
      } finally {
        await sb.stop();
      }
    });
  } finally {
    if (background) {
      try {
        background.kill("SIGKILL");
      } catch {
        // exited
      }
      await background.output();
    }
    Deno.removeSync(work, { recursive: true });
  }
});
