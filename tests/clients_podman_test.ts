/**
 * skein as the network plugin of a real container runtime (root): Debian's podman 4.3 with its
 * CNI network backend runs busybox containers on a skein network (bridge mode, skein IPAM with
 * a fixed subnet, then the reference portmap for `-p`).
 *
 * podman runs inside a test "host" network namespace and a private mount namespace (see
 * PodmanSandbox in _clients.ts), so the bridge, the veths, podman's pod namespaces and libcni's
 * result cache never appear in the root namespaces. The image is a tiny rootfs, the Kubernetes
 * lab's busybox layer (Debian's static busybox, written by lab/k8s/tar.ts), `podman import`ed
 * (no registry).
 *
 * A wrapper in front of skein logs every call podman makes (CNI_COMMAND, CNI_CONTAINERID), so
 * the test also sees podman's VERSION before ADD and DEL, and the DEL that `podman rm` triggers.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { cniBinDir, cniMode, cniService, inNs, links, reservations } from "./_cni.ts";
import { ensurePackages, PodmanSandbox, skipped } from "./_clients.ts";
import { busyboxLayer } from "../lab/k8s/images.ts";
import { writeTarFile } from "../lab/k8s/image_archive.ts";

const NET = "skpod";
const SUBNET = "10.242.5";
const IMAGE = "localhost/skein-busybox";
/**
 * podman asks crun for RLIMIT_NOFILE/NPROC above what the runtime's process has, which fails
 * without CAP_SYS_RESOURCE (as inside a container): ask for modest fixed limits. Cgroups stay
 * the host's (crun cannot use this machine's hybrid layout; see PodmanSandbox).
 */
const CONTAINER_FLAGS = [
  "--cgroups=disabled",
  "--ulimit",
  "nofile=1024:1024",
  "--ulimit",
  "nproc=1024:1024",
];
const RUN_FLAGS = [...CONTAINER_FLAGS, "--network", NET];

interface Inspect {
  Id: string;
  State: { Pid: number; Running: boolean };
  NetworkSettings: {
    Networks: Record<string, {
      IPAddress: string;
      Gateway: string;
      IPPrefixLen: number;
      MacAddress: string;
      GlobalIPv6Address: string;
      IPv6Gateway: string;
    }>;
  };
}

/** A rootfs tarball for `podman import`: the Kubernetes lab's busybox layer (lab/k8s/images.ts). */
async function busyboxRootfs(dir: string): Promise<string> {
  const tar = `${dir}/rootfs.tar`;
  await writeTarFile(tar, busyboxLayer());
  return tar;
}

function hostVeths(host: string): string[] {
  return links(host).map((l) => l.ifname).filter((n) => /^sk[0-9a-f]{12}$/.test(n));
}

/** An HTTP GET from inside `ns` with busybox nc; returns the raw response. */
async function httpGet(ns: string, ip: string, port: number, path: string): Promise<string> {
  const get = new Deno.Command("nsenter", {
    args: [`--net=${ns}`, "busybox", "nc", "-w", "2", ip, String(port)],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const w = get.stdin.getWriter();
  await w.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\n\r\n`));
  await w.close();
  return new TextDecoder().decode((await get.output()).stdout);
}

/** What a podman test gets. */
interface PodmanCtx {
  sb: PodmanSandbox;
  /** The test's host namespace (where podman, the bridge and the host veths live). */
  host: string;
  /** One line per skein call podman made: "<CNI_COMMAND> <CNI_CONTAINERID>". */
  callLog: string;
}

/**
 * Runs `fn` with a podman sandbox in a fresh host namespace, the busybox image imported, and
 * skein (behind a logging wrapper) first in podman's plugin path; skips with the reason printed
 * when podman cannot be installed or cannot run any container on this machine.
 */
async function withPodman(
  test: string,
  fn: (ctx: PodmanCtx) => Promise<void> | void,
): Promise<void> {
  const missing = ensurePackages(["podman", "crun", "conmon", "busybox-static"]);
  if (skipped(test, missing)) return;
  const wrapDir = Deno.makeTempDirSync({ prefix: "skein-podman-bin-" });
  const callLog = `${wrapDir}/calls.log`;
  let sb: PodmanSandbox | undefined;
  try {
    await withNamespaces(["host"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      // SKEIN_CNI_MODE=daemon: skein forwards podman's calls to the CNI service of the host
      // namespace, which opens podman's pod namespaces through the plugin's mount namespace.
      const socket = cniMode() === "daemon" ? cniService(host) : "off";
      Deno.writeTextFileSync(
        `${wrapDir}/skein`,
        `#!/bin/sh\necho "$CNI_COMMAND $CNI_CONTAINERID" >>'${callLog}'\n` +
          `SKEIN_CNI_SOCKET='${socket}' exec '${cniBinDir()}/skein' "$@"\n`,
        { mode: 0o755 },
      );
      try {
        sb = PodmanSandbox.create({ hostNs: host, pluginDirs: [wrapDir, "/usr/lib/cni"] });
      } catch (e) {
        skipped(test, (e as Error).message);
        return;
      }
      sb.podmanOk(["import", "--quiet", await busyboxRootfs(sb.dir), IMAGE]);
      // Can this machine run a container at all? If not, that is the environment, not skein.
      const probe = sb.podman([
        "run",
        "--rm",
        "--network",
        "none",
        ...CONTAINER_FLAGS,
        IMAGE,
        "true",
      ]);
      if (probe.code !== 0) {
        skipped(test, `podman cannot run a container here: ${probe.stderr.trim()}`);
        return;
      }
      Deno.writeTextFileSync(callLog, "");
      try {
        await fn({ sb, host, callLog });
      } finally {
        // While the host namespace still exists: podman rm's DELs run in it.
        sb.destroy();
        sb = undefined;
      }
    });
  } finally {
    sb?.destroy();
    Deno.removeSync(wrapDir, { recursive: true });
  }
}

Deno.test("podman: containers on a skein network get addresses, talk, and rm frees them", async () => {
  await withPodman("podman bridge", async ({ sb, host, callLog }) => {
    const ipamDir = `${sb.dir}/ipam`;
    Deno.writeTextFileSync(
      `${sb.confDir}/${NET}.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: NET,
        plugins: [
          {
            type: "skein",
            bridge: "skpod0",
            isGateway: true,
            isDefaultGateway: true,
            ipMasq: true,
            ipam: { type: "skein", subnet: `${SUBNET}.0/24`, dataDir: ipamDir },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
    // podman lists the handwritten conflist as a network with skein as its driver.
    assertStringIncludes(
      sb.podmanOk(["network", "ls", "--format", "{{.Name}} {{.Driver}}"]),
      `${NET} skein`,
    );

    const id1 = sb.podmanOk([
      "run",
      "-d",
      "--name",
      "c1",
      ...RUN_FLAGS,
      "-p",
      "18081:80",
      IMAGE,
      "httpd",
      "-f",
      "-p",
      "80",
      "-h",
      "/etc",
    ]).trim();
    const id2 = sb.podmanOk(["run", "-d", "--name", "c2", ...RUN_FLAGS, IMAGE, "sleep", "300"])
      .trim();
    const [i1, i2] = JSON.parse(sb.podmanOk(["inspect", "c1", "c2"])) as Inspect[];
    const n1 = i1!.NetworkSettings.Networks[NET]!;
    const n2 = i2!.NetworkSettings.Networks[NET]!;
    // podman reports the addresses skein handed out, and skein's IPAM holds exactly those.
    assertEquals([n1.Gateway, n1.IPPrefixLen, n2.Gateway], [`${SUBNET}.1`, 24, `${SUBNET}.1`]);
    assert(n1.IPAddress.startsWith(`${SUBNET}.`) && n2.IPAddress.startsWith(`${SUBNET}.`));
    assert(n1.IPAddress !== n2.IPAddress);
    assertEquals(reservations(ipamDir, NET), [n1.IPAddress, n2.IPAddress].sort());
    assertEquals(
      Deno.readTextFileSync(`${ipamDir}/${NET}/${n1.IPAddress}`),
      `${id1}\r\neth0`,
    );
    assertStringIncludes(
      sb.podmanOk(["exec", "c1", "ip", "-o", "-4", "addr", "show", "dev", "eth0"]),
      `${n1.IPAddress}/24`,
    );
    assertStringIncludes(
      sb.podmanOk(["exec", "c1", "ip", "link", "show", "dev", "eth0"]),
      n1.MacAddress,
    );
    // The bridge and both veths are in the test's host namespace.
    assertEquals(hostVeths(host).length, 2);
    assert(links(host).some((l) => l.ifname === "skpod0"));
    // ipMasq: skein's nft entries (run with podman's environment) name both containers.
    const masq = inNs(host, ["nft", "list", "table", "inet", "skein"]);
    for (const [n, id] of [[n1, id1], [n2, id2]] as const) {
      assertStringIncludes(masq, n.IPAddress);
      assertStringIncludes(masq, id);
    }
    // libcni's cache (podman's) landed in the sandbox.
    assertEquals(
      [...Deno.readDirSync(`${sb.dir}/cni-cache/results`)].map((e) => e.name).sort(),
      [`${NET}-${id1}-eth0`, `${NET}-${id2}-eth0`].sort(),
    );

    // Containers reach each other and the gateway.
    for (
      const [c, dst] of [["c1", n2.IPAddress], ["c2", n1.IPAddress], ["c1", n1.Gateway], [
        "c2",
        n2.Gateway,
      ]]
    ) {
      const p = sb.podman(["exec", c!, "ping", "-c", "1", "-W", "2", dst!]);
      assertEquals(p.code, 0, `${c} -> ${dst}: ${p.stdout}${p.stderr}`);
    }
    // -p 18081:80: portmap (after skein in the chain) forwards gateway:18081 to c1's httpd.
    let page = "";
    for (let i = 0; i < 30 && !page.includes("200 OK"); i++) {
      page = await httpGet(host, n1.Gateway, 18081, "/hostname");
      if (!page.includes("200 OK")) await new Promise((r) => setTimeout(r, 100));
    }
    assertStringIncludes(page, "200 OK");
    assertStringIncludes(page, id1.slice(0, 12));

    // podman rm: DEL for both, nothing left.
    sb.podmanOk(["rm", "-f", "-t", "0", "c1", "c2"]);
    assertEquals(hostVeths(host), []);
    assertEquals(reservations(ipamDir, NET), []);
    assertEquals([...Deno.readDirSync(`${sb.dir}/cni-cache/results`)].length, 0);
    assert(!inNs(host, ["iptables-save", "-t", "nat"]).includes("18081"), "portmap rules gone");
    const masqAfter = inNs(host, ["nft", "list", "table", "inet", "skein"]);
    assert(!masqAfter.includes(id1) && !masqAfter.includes(id2), `masq entries: ${masqAfter}`);

    // What podman called: VERSION (libcni's plugin check) ahead of each ADD, and again after
    // the last ADD ahead of the DELs of `podman rm`; one ADD and one DEL per container.
    const calls = Deno.readTextFileSync(callLog).trim().split("\n").map((l) => l.trim());
    const shown = calls.join(", ");
    const lastAdd = Math.max(calls.indexOf(`ADD ${id1}`), calls.indexOf(`ADD ${id2}`));
    for (const id of [id1, id2]) {
      assertEquals(calls.filter((c) => c === `ADD ${id}`).length, 1, shown);
      assertEquals(calls.filter((c) => c === `DEL ${id}`).length, 1, shown);
      const add = calls.indexOf(`ADD ${id}`);
      const del = calls.indexOf(`DEL ${id}`);
      assertEquals(calls[add - 1], "VERSION", `VERSION right before ADD: ${shown}`);
      assert(calls.slice(lastAdd, del).includes("VERSION"), `VERSION before DEL: ${shown}`);
    }
    assertEquals(calls.filter((c) => !/^(VERSION|ADD \S+|DEL \S+)$/.test(c)), [], shown);
  });
});

Deno.test("podman: dual-stack, --ip/--mac-address, restart, stop; routed mode; two networks", async () => {
  await withPodman("podman dual-stack/routed", ({ sb, host }) => {
    const ipamDir = `${sb.dir}/ipam`;
    const write = (name: string, plugin: Record<string, unknown>) =>
      Deno.writeTextFileSync(
        `${sb.confDir}/${name}.conflist`,
        JSON.stringify({ cniVersion: "1.0.0", name, plugins: [plugin] }),
      );
    write("skds", {
      type: "skein",
      bridge: "skds0",
      isGateway: true,
      isDefaultGateway: true,
      ipam: {
        type: "skein",
        ranges: [[{ subnet: "10.242.6.0/24" }], [{ subnet: "fd00:242:6::/64" }]],
        dataDir: ipamDir,
      },
    });
    write("skrt", {
      type: "skein",
      mode: "routed",
      ipam: { type: "skein", subnet: "10.242.7.0/24", dataDir: ipamDir },
    });
    write("skone", {
      type: "skein",
      bridge: "skone0",
      isGateway: true,
      ipam: {
        type: "skein",
        subnet: "10.242.9.0/24",
        rangeStart: "10.242.9.10",
        rangeEnd: "10.242.9.10",
        dataDir: ipamDir,
      },
    });
    write("skb2", {
      type: "skein",
      bridge: "skb20",
      isGateway: true,
      isDefaultGateway: true,
      ipam: { type: "skein", subnet: "10.242.8.0/24", dataDir: ipamDir },
    });
    const net = (c: string, name: string) =>
      (JSON.parse(sb.podmanOk(["inspect", c])) as Inspect[])[0]!.NetworkSettings.Networks[name]!;

    // Dual-stack bridge; the second container asks for an address and a MAC (podman passes
    // them as CNI_ARGS IP= and runtimeConfig.mac).
    sb.podmanOk([
      "run",
      "-d",
      "--name",
      "d1",
      ...CONTAINER_FLAGS,
      "--network",
      "skds",
      IMAGE,
      "sleep",
      "300",
    ]);
    const id2 = sb.podmanOk([
      "run",
      "-d",
      "--name",
      "d2",
      ...CONTAINER_FLAGS,
      "--network",
      "skds",
      "--ip",
      "10.242.6.50",
      "--mac-address",
      "02:42:0a:f2:06:32",
      IMAGE,
      "sleep",
      "300",
    ]).trim();
    const d1 = net("d1", "skds");
    const d2 = net("d2", "skds");
    assertEquals([d1.IPAddress, d1.GlobalIPv6Address, d1.IPv6Gateway], [
      "10.242.6.2",
      "fd00:242:6::2",
      "fd00:242:6::1",
    ]);
    assertEquals([d2.IPAddress, d2.MacAddress], ["10.242.6.50", "02:42:0a:f2:06:32"]);
    assertEquals(Deno.readTextFileSync(`${ipamDir}/skds/10.242.6.50`), `${id2}\r\neth0`);
    assertStringIncludes(
      sb.podmanOk(["exec", "d2", "ip", "link", "show", "dev", "eth0"]),
      "02:42:0a:f2:06:32",
    );
    const p = sb.podman(["exec", "d1", "ping", "-c", "1", "-W", "2", "10.242.6.50"]);
    assertEquals(p.code, 0, `d1 -> d2: ${p.stdout}${p.stderr}`);

    // restart = DEL + ADD: the old reservation is released, the new one taken.
    sb.podmanOk(["restart", "-t", "0", "d1"]);
    const d1b = net("d1", "skds");
    assertEquals(
      reservations(ipamDir, "skds"),
      [d1b.IPAddress, d1b.GlobalIPv6Address, d2.IPAddress, d2.GlobalIPv6Address].sort(),
    );
    // stop = DEL: d1's addresses and veth are gone, d2 keeps its own.
    sb.podmanOk(["stop", "-t", "0", "d1"]);
    assertEquals(reservations(ipamDir, "skds"), [d2.IPAddress, d2.GlobalIPv6Address].sort());
    assertEquals(hostVeths(host).length, 1);

    // Routed mode: /32 behind 169.254.1.1, host routes, traffic routed through the host.
    sb.podmanOk([
      "run",
      "-d",
      "--name",
      "r1",
      ...CONTAINER_FLAGS,
      "--network",
      "skrt",
      IMAGE,
      "sleep",
      "300",
    ]);
    sb.podmanOk([
      "run",
      "-d",
      "--name",
      "r2",
      ...CONTAINER_FLAGS,
      "--network",
      "skrt",
      IMAGE,
      "sleep",
      "300",
    ]);
    const r1 = net("r1", "skrt");
    const r2 = net("r2", "skrt");
    assertEquals([r1.IPPrefixLen, r1.Gateway], [32, "169.254.1.1"]);
    assertStringIncludes(sb.podmanOk(["exec", "r1", "ip", "route"]), "default via 169.254.1.1");
    const routes = inNs(host, ["ip", "route", "show", "proto", "101"]);
    assertStringIncludes(routes, `${r1.IPAddress} dev sk`);
    assertStringIncludes(routes, `${r2.IPAddress} dev sk`);
    const q = sb.podman(["exec", "r1", "ping", "-c", "1", "-W", "2", r2.IPAddress]);
    assertEquals(q.code, 0, `r1 -> r2: ${q.stdout}${q.stderr}`);

    // Two networks in one container (eth0 on skrt, eth1 on skb2): both ADDs succeed though
    // both networks install a default route.
    sb.podmanOk([
      "run",
      "-d",
      "--name",
      "m1",
      ...CONTAINER_FLAGS,
      "--network",
      "skrt,skb2",
      IMAGE,
      "sleep",
      "300",
    ]);
    const m1 = (JSON.parse(sb.podmanOk(["inspect", "m1"])) as Inspect[])[0]!.NetworkSettings
      .Networks;
    assertEquals(Object.keys(m1).sort(), ["skb2", "skrt"]);
    assertEquals(m1.skb2!.Gateway, "10.242.8.1");
    // podman does not promise which network becomes eth0 (seen both orders): one default
    // route per network, each on its own interface.
    const m1Routes = sb.podmanOk(["exec", "m1", "ip", "route"]);
    const viaRouted = /default via 169\.254\.1\.1 dev (eth[01])/.exec(m1Routes)?.[1];
    const viaBridge = /default via 10\.242\.8\.1 dev (eth[01])/.exec(m1Routes)?.[1];
    assert(
      viaRouted !== undefined && viaBridge !== undefined && viaRouted !== viaBridge,
      `m1 routes:\n${m1Routes}`,
    );
    const g = sb.podman(["exec", "m1", "ping", "-c", "1", "-W", "2", "10.242.8.1"]);
    assertEquals(g.code, 0, `m1 -> skb2 gateway: ${g.stdout}${g.stderr}`);

    // A full range through podman: the second container fails with skein's message, podman
    // cleans up (DEL), and nothing of the failed attempt stays behind.
    sb.podmanOk([
      "run",
      "-d",
      "--name",
      "f1",
      ...CONTAINER_FLAGS,
      "--network",
      "skone",
      IMAGE,
      "sleep",
      "300",
    ]);
    const vethsBefore = hostVeths(host).length;
    const full = sb.podman([
      "run",
      "-d",
      "--name",
      "f2",
      ...CONTAINER_FLAGS,
      "--network",
      "skone",
      IMAGE,
      "sleep",
      "300",
    ]);
    assert(full.code !== 0, "a second container on a one-address range must fail");
    assertStringIncludes(full.stderr, "no IP addresses available in range set");
    assertEquals(reservations(ipamDir, "skone"), ["10.242.9.10"]);
    assertEquals(hostVeths(host).length, vethsBefore);
    sb.podman(["rm", "-f", "-t", "0", "f2"]);
    sb.podmanOk(["rm", "-f", "-t", "0", "f1"]);
    assertEquals(reservations(ipamDir, "skone"), []);

    sb.podmanOk(["rm", "-f", "-t", "0", "d1", "d2", "r1", "r2", "m1"]);
    assertEquals(hostVeths(host), []);
    assertEquals(inNs(host, ["ip", "route", "show", "proto", "101"]).trim(), "");
    for (const n of ["skds", "skrt", "skb2"]) assertEquals(reservations(ipamDir, n), [], n);
  });
});
