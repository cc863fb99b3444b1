/**
 * Crash injection on the real plugin: ADD (and DEL) SIGKILLed at many points of their run,
 * in bridge+ipMasq and routed mode. After each kill the runtime's DEL must leave no host veth,
 * no pod interface, no reservation and no masquerade element of that container, and its retried
 * ADD of the same attachment must succeed; a live attachment keeps its address and no later ADD
 * is ever given an address still in use.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, type CallOptions, cniBinDir, inNs, reservations } from "./_cni.ts";
import { CRASH_POINTS } from "../cni/ipam/_crash.ts";

/** Starts one plugin call (like callPlugin()) and returns the process to kill. */
function spawn(o: CallOptions, crashAt?: string): Deno.ChildProcess {
  const env = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    `CNI_COMMAND=${o.command}`,
    `CNI_CONTAINERID=${o.containerId}`,
    `CNI_NETNS=${o.netns}`,
    `CNI_IFNAME=${o.ifName ?? "eth0"}`,
    `CNI_PATH=${cniBinDir()}`,
    ...(crashAt ? [`SKEIN_TEST_CRASH_AT=${crashAt}`] : []),
  ];
  // nsenter, env and the launcher all exec: the child's pid is the plugin's.
  const child = new Deno.Command("nsenter", {
    args: [`--net=${o.hostNs}`, "env", "-i", ...env, `${cniBinDir()}/skein`],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const w = child.stdin.getWriter();
  w.write(new TextEncoder().encode(JSON.stringify(o.conf))).then(() => w.close()).catch(() => {});
  return child;
}

async function killAfter(o: CallOptions, ms: number, crashAt?: string): Promise<void> {
  const child = spawn(o, crashAt);
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, ms);
  try {
    await child.status;
  } finally {
    clearTimeout(t);
  }
}

function hostLinks(ns: string): string[] {
  return (JSON.parse(inNs(ns, ["ip", "-j", "link", "show"])) as { ifname: string }[])
    .map((l) => l.ifname).filter((n) => n.startsWith("sk"));
}

function podLinks(ns: string): string[] {
  return (JSON.parse(inNs(ns, ["ip", "-j", "link", "show"])) as { ifname: string }[])
    .map((l) => l.ifname).filter((n) => n !== "lo");
}

/** Who holds each address: file name → first line. */
function holders(dataDir: string, network: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const ip of reservations(dataDir, network)) {
    m.set(ip, Deno.readTextFileSync(`${dataDir}/${network}/${ip}`).split(/\r?\n/)[0]!);
  }
  return m;
}

Deno.test("crash injection: ADD and DEL SIGKILLed at any time; DEL cleans up, no address reused while held", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-hostile-crash-" });
  try {
    await withNamespaces(["host", "pod", "live"], async (ns) => {
      const host = ns.host!;
      const confs = {
        bridge: {
          cniVersion: "1.1.0",
          name: "crash",
          type: "skein",
          isGateway: true,
          ipMasq: true,
          ipam: { type: "skein", dataDir, subnet: "10.250.0.0/28" },
        },
        routed: {
          cniVersion: "1.1.0",
          name: "crash",
          type: "skein",
          mode: "routed",
          ipMasq: true,
          ipam: { type: "skein", dataDir, subnet: "10.250.0.0/28" },
        },
      };
      const call = (
        command: CallOptions["command"],
        conf: unknown,
        containerId: string,
        netns: string,
      ): CallOptions => ({ command, conf, containerId, netns, hostNs: host, ifName: "eth0" });
      // A live attachment that must keep its address through everything below.
      const live = (await callOk(call("ADD", confs.bridge, "live", ns.live!)))!;
      const liveIp = (live.ips as { address: string }[])[0]!.address.split("/")[0]!;
      // Warm up, and time one ADD: the kill moments are spread over it.
      const started = performance.now();
      await callOk(call("ADD", confs.bridge, "probe", ns.pod!));
      const callMs = Math.max(100, performance.now() - started);
      await callOk(call("DEL", confs.bridge, "probe", ns.pod!));
      let n = 0;
      const seen = new Map<string, number>(); // what a kill left behind → count
      /** After an ADD that was killed: the runtime's DEL cleans up, its retried ADD works. */
      const afterKill = async (id: string, mode: "bridge" | "routed", at: string) => {
        const conf = confs[mode];
        // Whatever the ADD got to, the address it may hold is not the live one.
        const h = holders(dataDir, "crash");
        assertEquals(h.get(liveIp), "live", `after ADD killed ${at} (${mode})`);
        const state = [
          [...h.values()].includes(id) ? "reservation" : "",
          hostLinks(host).length > 1 ? "host veth" : "",
          podLinks(ns.pod!).length ? "pod eth0" : "",
        ].filter((x) => x).join("+") || "nothing";
        seen.set(state, (seen.get(state) ?? 0) + 1);
        await callOk(call("DEL", conf, id, ns.pod!));
        const after = holders(dataDir, "crash");
        assertEquals([...after.values()], ["live"], `DEL after ADD killed ${at}`);
        assertEquals(podLinks(ns.pod!), [], `pod after ADD killed ${at} (${mode})`);
        assertEquals(hostLinks(host).length, 1, `host veths after ADD killed ${at}`);
        assert(
          !inNs(host, ["nft", "list", "ruleset"]).includes(` ${id} `),
          `masquerade element of ${id} left after DEL (ADD killed ${at})`,
        );
        // The runtime's retry of the same attachment succeeds from there, and DEL frees it.
        const again = (await callOk(call("ADD", conf, id, ns.pod!)))!;
        const ip = (again.ips as { address: string }[])[0]!.address.split("/")[0]!;
        assert(ip !== liveIp, "a retried ADD never gets the live address");
        assertEquals(holders(dataDir, "crash").get(ip), id, `retried ADD after a kill ${at}`);
        assertEquals(podLinks(ns.pod!), ["eth0"], `pod after the retried ADD (${mode})`);
        await callOk(call("DEL", conf, id, ns.pod!));
        assertEquals([...holders(dataDir, "crash").values()], ["live"]);
      };
      // At each named point of IPAM (cni/ipam/_crash.ts): reserved but no veth yet, etc.
      for (const point of CRASH_POINTS) {
        for (const mode of ["bridge", "routed"] as const) {
          const id = `crash${n++}`;
          await killAfter(call("ADD", confs[mode], id, ns.pod!), 60_000, point);
          await afterKill(id, mode, `at ${point}`);
        }
      }
      // At moments spread over the whole call (veth made but no result printed, ...).
      const delays = [5, 10, 20, 40, 80];
      for (let k = 0; k < 10; k++) delays.push(Math.round(callMs * (0.4 + 0.1 * k)));
      for (const ms of delays) {
        for (const mode of ["bridge", "routed"] as const) {
          const id = `crash${n++}`;
          await killAfter(call("ADD", confs[mode], id, ns.pod!), ms);
          await afterKill(id, mode, `at ${ms} ms`);
        }
      }
      console.log(`call ${callMs.toFixed(0)} ms; ADD kills left:`, Object.fromEntries(seen));
      assert(seen.size >= 3, "the kills hit several stages of ADD");
      // DEL killed midway: a second DEL completes it.
      for (const ms of [5, 20, 40, 80, Math.round(callMs * 0.5), Math.round(callMs * 0.8)]) {
        const id = `delcrash${n++}`;
        const conf = n % 2 ? confs.routed : confs.bridge;
        const r = (await callOk(call("ADD", conf, id, ns.pod!)))!;
        const ip = (r.ips as { address: string }[])[0]!.address.split("/")[0]!;
        assert(ip !== liveIp, "a new ADD never gets the live address");
        await killAfter(call("DEL", conf, id, ns.pod!), ms);
        await callOk(call("DEL", conf, id, ns.pod!));
        assert(!inNs(host, ["nft", "list", "ruleset"]).includes(` ${id} `), `nft after DEL ${ms}`);
        assertEquals([...holders(dataDir, "crash").values()], ["live"], `DEL killed at ${ms} ms`);
        assertEquals(podLinks(ns.pod!), []);
        assertEquals(hostLinks(host).length, 1);
      }
      // Leave a killed ADD behind without its DEL: GC frees it, keeps the live one.
      await killAfter(call("ADD", confs.bridge, "orphan", ns.pod!), Math.round(callMs * 0.9));
      await callOk(call(
        "GC",
        {
          ...confs.bridge,
          "cni.dev/valid-attachments": [{ containerID: "live", ifname: "eth0" }],
        },
        "",
        ns.pod!,
      ));
      assertEquals([...holders(dataDir, "crash").entries()], [[liveIp, "live"]]);
      assertEquals(hostLinks(host).length, 1);
      assert(!inNs(host, ["nft", "list", "ruleset"]).includes(" orphan "));
      // The pod namespace may still hold the orphan's eth0 (GC cannot see into pods): DEL it.
      await callOk(call("DEL", confs.bridge, "orphan", ns.pod!));
      // A new ADD works and gets a free address; CHECK of the live attachment still passes.
      const fresh = (await callOk(call("ADD", confs.bridge, "fresh", ns.pod!)))!;
      assert((fresh.ips as { address: string }[])[0]!.address.split("/")[0] !== liveIp);
      await callOk(call("CHECK", { ...confs.bridge, prevResult: live }, "live", ns.live!));
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
