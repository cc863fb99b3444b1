/**
 * The daemon's CNI service (daemon/cni_server.ts, `cniSocket`) SIGKILLed while it serves pod ADDs
 * (root). The plugin forwards each call to the service; when the service dies mid-call the plugin
 * runs the call in-process (cni/forward.ts), over whatever the dead service got done. Per round,
 * 6 pods are ADDed at once and the service is killed at a seeded random moment; the runtime then
 * does what it does: a pod whose ADD failed gets a DEL (and is ADDed again once, as a retry);
 * the service is started again. Throughout: every successful ADD's address is on that pod's eth0
 * and its reservation names it, no address has two holders, and at the end (GC with the live
 * pods, then DEL of every pod) nothing is left: no reservation, no host veth.
 *
 * Every ADD succeeds: the plugin whose connection breaks finds the service's marker of the ADD
 * (`cniSocket`.adds/), sees its pid dead, and undoes what the half-done ADD left (reservation,
 * host veth, pod interface) before it ADDs in-process. Before that, 0-2 of 30 ADDs failed with
 * IPAM's "duplicate allocation is not allowed" (the service died after reserving the address).
 *
 * Seeded: `SKEIN_CRASH_SEED=<n>` repeats the kill moments (the seed is printed).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { type CallOptions, callPlugin, inNs, reservations } from "./_cni.ts";

const SEED = Number(Deno.env.get("SKEIN_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 5;
const PODS = 6;
const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The CNI service in the host namespace; its pid is the process to kill. */
async function startService(
  hostNs: string,
  socket: string,
  env: Record<string, string> = {},
): Promise<Deno.ChildProcess> {
  try {
    Deno.removeSync(socket);
  } catch { /* none yet */ }
  const child = new Deno.Command("nsenter", {
    args: [
      `--net=${hostNs}`,
      Deno.execPath(),
      ...["run", "-A", "--cached-only", "--quiet", `${REPO}/tests/_cni_daemon.ts`],
      ...["--socket", socket, "--watch", hostNs],
    ],
    env,
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 2000; i++) {
    try {
      if (Deno.statSync(socket).isSocket) return child;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the CNI service did not start");
}

/**
 * A bridge network of the skein plugin and IPAM (in `dataDir`) whose plugin calls go to the CNI
 * service at `socket`; `call` runs the plugin with `host` as the node's namespace.
 */
function serviceNetwork(o: {
  name: string;
  subnet: string;
  dataDir: string;
  socket: string;
  host: string;
}) {
  const conf = {
    cniVersion: "1.1.0",
    name: o.name,
    type: "skein",
    isGateway: true,
    ipam: { type: "skein", dataDir: `${o.dataDir}/ipam`, subnet: o.subnet },
  };
  const call = (command: CallOptions["command"], id: string, netns: string) =>
    callPlugin({
      command,
      conf,
      containerId: id,
      netns,
      hostNs: o.host,
      env: { SKEIN_CNI_SOCKET: o.socket },
    });
  return { conf, call };
}

function podAddress(ns: string): string | undefined {
  const j = JSON.parse(inNs(ns, ["ip", "-j", "-4", "addr", "show", "dev", "eth0"]) || "[]");
  return j[0]?.addr_info?.[0]?.local;
}

function hostVeths(ns: string): string[] {
  return (JSON.parse(inNs(ns, ["ip", "-j", "link", "show"])) as { ifname: string }[])
    .map((l) => l.ifname).filter((n) => n.startsWith("sk"));
}

Deno.test({
  name: "the daemon's CNI service SIGKILLed mid-ADD: retried calls succeed, nothing leaks",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    console.log(`SKEIN_CRASH_SEED=${SEED}`);
    const rnd = prng(SEED);
    const names = ["host"];
    for (let r = 0; r < ROUNDS; r++) for (let p = 0; p < PODS; p++) names.push(`p${r}x${p}`);
    const dataDir = Deno.makeTempDirSync({ prefix: "skein-crash-cni-" });
    const socket = `${dataDir}/cni.sock`;
    let service: Deno.ChildProcess | undefined;
    try {
      await withNamespaces(names, async (ns) => {
        const host = ns.host!;
        const { conf, call } = serviceNetwork({
          name: "crashsvc",
          subnet: "10.251.0.0/24",
          dataDir,
          socket,
          host,
        });
        service = await startService(host, socket);
        // Warm up, and time one forwarded ADD+DEL to draw the kill moments from.
        const t0 = performance.now();
        assertEquals((await call("ADD", "warm", ns.p0x0!)).code, 0);
        assertEquals((await call("DEL", "warm", ns.p0x0!)).code, 0);
        const callMs = performance.now() - t0;
        const live = new Map<string, { ns: string; ip: string }>(); // container → pod
        const seen = { ok: 0, failed: 0, retriedOk: 0 };
        const why = new Set<string>(); // what the failed ADDs said
        for (let r = 0; r < ROUNDS; r++) {
          const killAt = rnd() * callMs * 1.5;
          const pods = Array.from(
            { length: PODS },
            (_, p) => ({ id: `c${r}x${p}`, ns: ns[`p${r}x${p}`]! }),
          );
          const svc: Deno.ChildProcess = service!;
          const timer = setTimeout(() => {
            try {
              svc.kill("SIGKILL");
            } catch { /* exited */ }
          }, killAt);
          const results = await Promise.all(pods.map((p) => call("ADD", p.id, p.ns)));
          clearTimeout(timer);
          try {
            svc.kill("SIGKILL");
          } catch { /* already */ }
          await svc.status;
          service = await startService(host, socket);
          for (const [k, p] of pods.entries()) {
            const res = results[k]!;
            if (res.code === 0) {
              seen.ok++;
              const ip = (res.json!.ips as { address: string }[])[0]!.address.split("/")[0]!;
              live.set(p.id, { ns: p.ns, ip });
              continue;
            }
            seen.failed++;
            why.add(String(res.json?.msg ?? res.stderr).slice(0, 160));
            // A failed ADD is the runtime's to retry; none may fail (the service is dead, so
            // not even "try again later").
            assertEquals(res.code, 0, `round ${r}: ADD ${p.id}: ${res.stdout}${res.stderr}`);
            // The runtime saw ADD fail: DEL, then one retry of the ADD.
            const d = await call("DEL", p.id, p.ns);
            assertEquals(d.code, 0, `DEL after a failed ADD: ${d.stdout}${d.stderr}`);
            const again = await call("ADD", p.id, p.ns);
            assertEquals(again.code, 0, `retried ADD: ${again.stdout}${again.stderr}`);
            seen.retriedOk++;
            const ip = (again.json!.ips as { address: string }[])[0]!.address.split("/")[0]!;
            live.set(p.id, { ns: p.ns, ip });
          }
          // Every live pod holds its address on eth0 and in its reservation; no address twice.
          const held = reservations(`${dataDir}/ipam`, "crashsvc");
          for (const [id, pod] of live) {
            assertEquals(podAddress(pod.ns), pod.ip, `round ${r}: ${id}'s eth0`);
            const owner =
              Deno.readTextFileSync(`${dataDir}/ipam/crashsvc/${pod.ip}`).split("\r\n")[0];
            assertEquals(owner, id, `round ${r}: the reservation of ${pod.ip}`);
          }
          const ips = [...live.values()].map((p) => p.ip);
          assertEquals(new Set(ips).size, ips.length, "no address given twice");
          assert(held.length >= live.size, `round ${r}: ${held.length} reservations`);
        }
        console.log(`call ${callMs.toFixed(0)} ms; ADDs: ${JSON.stringify(seen)}`, [...why]);
        // GC with the runtime's view frees whatever dead calls left; DEL of every pod frees all.
        const gc = await callPlugin({
          command: "GC",
          conf: {
            ...conf,
            "cni.dev/valid-attachments": [...live.keys()].map((id) => ({
              containerID: id,
              ifname: "eth0",
            })),
          },
          containerId: "",
          netns: ns.p0x0!,
          hostNs: host,
          env: { SKEIN_CNI_SOCKET: socket },
        });
        assertEquals(gc.code, 0, gc.stdout + gc.stderr);
        assertEquals(
          reservations(`${dataDir}/ipam`, "crashsvc"),
          [...live.values()].map((p) => p.ip).sort(),
          "after GC: exactly the live pods' addresses",
        );
        assertEquals(hostVeths(host).length, live.size, `host veths: ${hostVeths(host)}`);
        for (const [id, pod] of live) assertEquals((await call("DEL", id, pod.ns)).code, 0);
        assertEquals(reservations(`${dataDir}/ipam`, "crashsvc"), []);
        assertEquals(hostVeths(host), []);
      });
    } finally {
      try {
        service?.kill("SIGKILL");
        await service?.status;
      } catch { /* exited */ }
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the CNI service dies right after IPAM reserved: the in-process ADD undoes it and succeeds",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const dataDir = Deno.makeTempDirSync({ prefix: "skein-crash-cni-" });
    const socket = `${dataDir}/cni.sock`;
    let service: Deno.ChildProcess | undefined;
    try {
      await withNamespaces(["host", "a", "b"], async (ns) => {
        const host = ns.host!;
        const { conf, call } = serviceNetwork({
          name: "crashpt",
          subnet: "10.251.1.0/24",
          dataDir,
          socket,
          host,
        });
        for (const point of ["after-unlock", "after-reserve"]) {
          service = await startService(host, socket, { SKEIN_TEST_CRASH_AT: point });
          const add = await call("ADD", `pod-${point}`, ns.a!);
          assertEquals((await service.status).signal, "SIGKILL", `${point}: the service died`);
          assertEquals(add.code, 0, `${point}: ADD: ${add.stdout}${add.stderr}`);
          const ip = (add.json!.ips as { address: string }[])[0]!.address.split("/")[0]!;
          assertEquals(podAddress(ns.a!), ip);
          assertEquals(reservations(`${dataDir}/ipam`, "crashpt"), [ip]);
          assertEquals(hostVeths(host).length, 1);
          assertEquals([...Deno.readDirSync(`${socket}.adds`)], [], "the marker is gone");
          // A second ADD of the live, complete attachment still fails and changes nothing,
          // in-process and through a (healthy) service alike.
          const again = await callPlugin({
            command: "ADD",
            conf,
            containerId: `pod-${point}`,
            netns: ns.a!,
            hostNs: host,
            env: { SKEIN_CNI_SOCKET: "off" },
          });
          assertEquals(again.code, 1, again.stdout);
          service = await startService(host, socket);
          const twice = await call("ADD", `pod-${point}`, ns.a!);
          assertEquals(twice.code, 1, twice.stdout);
          assertEquals(podAddress(ns.a!), ip);
          assertEquals(reservations(`${dataDir}/ipam`, "crashpt"), [ip]);
          assertEquals((await call("DEL", `pod-${point}`, ns.a!)).code, 0);
          assertEquals(reservations(`${dataDir}/ipam`, "crashpt"), []);
          assertEquals(hostVeths(host), []);
          service.kill("SIGKILL");
          await service.status;
        }
      });
    } finally {
      try {
        service?.kill("SIGKILL");
        await service?.status;
      } catch { /* exited */ }
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a CNI service that drops an ADD it still runs gets 'try again later', never a racing ADD",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const dataDir = Deno.makeTempDirSync({ prefix: "skein-crash-cni-" });
    const socket = `${dataDir}/cni.sock`;
    // A stand-in service: accepts, takes "G", marks the ADD as past its checks under this live
    // process's pid (as daemon/cni_server.ts does), then drops the connection.
    const listener = Deno.listen({ transport: "unix", path: socket });
    const served = (async () => {
      const conn = await listener.accept();
      const buf = new Uint8Array(1 << 16);
      await conn.read(buf);
      await conn.write(new Uint8Array([0x41]));
      await conn.read(buf); // "G"
      Deno.mkdirSync(`${socket}.adds`);
      Deno.writeTextFileSync(
        `${socket}.adds/c1%2Feth0`,
        JSON.stringify({ pid: Deno.pid, network: "dropped", state: "touched" }),
      );
      conn.close();
    })();
    try {
      await withNamespaces(["host", "a"], async (ns) => {
        const conf = {
          cniVersion: "1.1.0",
          name: "dropped",
          type: "skein",
          ipam: { type: "skein", dataDir: `${dataDir}/ipam`, subnet: "10.251.2.0/24" },
        };
        const add = await callPlugin({
          command: "ADD",
          conf,
          containerId: "c1",
          netns: ns.a!,
          hostNs: ns.host!,
          env: { SKEIN_CNI_SOCKET: socket },
        });
        await served;
        assertEquals([add.code, add.json?.code], [1, 11], add.stdout + add.stderr);
        assertEquals(reservations(`${dataDir}/ipam`, "dropped"), [], "no in-process ADD ran");
        assertEquals(hostVeths(ns.host!), []);
      });
    } finally {
      listener.close();
      Deno.removeSync(dataDir, { recursive: true });
    }
  },
});
