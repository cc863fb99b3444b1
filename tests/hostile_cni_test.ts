/**
 * Hostile input to the CNI plugin as a real process (bare environment, in a test "host"
 * namespace): broken stdin, wrong types for every known field, bad versions, bad CNI_*
 * variables. Every case must print the spec's error JSON on stdout with a sensible code, exit
 * non-zero, print no stack trace, and change nothing: the host and pod namespaces' links,
 * addresses, routes and nftables ruleset, and the IPAM data directory, are the same after as
 * before.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import {
  callOk,
  type CallOptions,
  callPlugin,
  type CallResult,
  cniBinDir,
  cniMode,
  cniService,
  inNs,
  sh,
} from "./_cni.ts";

/** callPlugin() for stdin given as raw bytes (invalid UTF-8 cannot travel as a string). */
async function callBytes(o: CallOptions, stdin: Uint8Array): Promise<CallResult> {
  const env = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    `CNI_COMMAND=${o.command}`,
    `CNI_CONTAINERID=${o.containerId}`,
    `CNI_NETNS=${o.netns}`,
    `CNI_IFNAME=${o.ifName}`,
    `CNI_PATH=${cniBinDir()}`,
    `SKEIN_CNI_SOCKET=${cniMode() === "daemon" ? cniService(o.hostNs) : "off"}`,
  ];
  const child = new Deno.Command("nsenter", {
    args: [`--net=${o.hostNs}`, "env", "-i", ...env, `${cniBinDir()}/skein`],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin);
  await w.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code: out.code, json, stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/** Everything a failed call must leave alone. */
function snapshot(nsPaths: string[], dataDir: string): string {
  const parts: string[] = [];
  for (const ns of nsPaths) {
    for (const what of [["link"], ["addr"], ["route"], ["-6", "route"]]) {
      const j = JSON.parse(inNs(ns, ["ip", "-j", ...what, "show"])) as Record<string, unknown>[];
      // Counters, timers and IPv6 DAD/carrier settling move on their own; keep configuration.
      for (const o of j) {
        delete o.stats64;
        delete o.operstate;
        for (const a of (o.addr_info ?? []) as Record<string, unknown>[]) {
          delete a.valid_life_time;
          delete a.preferred_life_time;
          delete a.tentative;
        }
      }
      parts.push(JSON.stringify(j));
    }
    parts.push(inNs(ns, ["nft", "list", "ruleset"]));
  }
  const walk = (dir: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const p = `${dir}/${e.name}`;
      const st = Deno.lstatSync(p);
      parts.push(`${p} ${st.isFile ? "f" : st.isDirectory ? "d" : "l"} ${st.size}`);
      if (st.isFile) parts.push(Deno.readTextFileSync(p));
      if (st.isDirectory) walk(p);
    }
  };
  walk(dataDir);
  return parts.join("\n");
}

async function limited<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

/**
 * `take()` once two readings 200 ms apart agree (at most 5 s): a fresh veth's IPv6 link-local
 * address and operstate settle on their own after ADD, under load a while later.
 */
async function settled(take: () => string): Promise<string> {
  let prev = take();
  for (let i = 0; i < 25; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const cur = take();
    if (cur === prev) return cur;
    prev = cur;
  }
  return prev;
}

type Case = [what: string, opts: Partial<CallOptions>, codes: number[]];

Deno.test("hostile CNI input: every case is a spec error JSON, no stack trace, nothing changed", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-hostile-cni-" });
  try {
    await withNamespaces(["host", "pod"], async (ns) => {
      const host = ns.host!;
      const pod = ns.pod!;
      const good = {
        cniVersion: "1.0.0",
        name: "hostile",
        type: "skein",
        ipMasq: true,
        isGateway: true,
        ipam: { type: "skein", dataDir, subnet: "10.251.0.0/24" },
      };
      // One real attachment first, so the snapshot has state that a bad call could damage.
      const live = (await callOk({
        command: "ADD",
        conf: good,
        containerId: "live0",
        netns: pod,
        hostNs: host,
        ifName: "eth0",
      }))!;
      const text = (s: string) => s;
      const withGood = (o: Record<string, unknown>) => ({ ...good, ...o });
      const ipamWith = (o: Record<string, unknown>) => ({ ...good, ipam: { ...good.ipam, ...o } });
      const fifo = `${dataDir}/fifo`;
      sh(["mkfifo", fifo]);
      const deep = "[".repeat(200_000) + "]".repeat(200_000);
      const deepObj = '{"a":'.repeat(100_000) + "1" + "}".repeat(100_000);
      const badUtf8 = new Uint8Array([
        ...new TextEncoder().encode('{"cniVersion":"1.0.0","name":"hostile","type":"skein","x":"'),
        0xff,
        0xfe,
        0xc3,
        ...new TextEncoder().encode(`","ipam":${JSON.stringify(good.ipam)}}`),
      ]);
      const stdinCases: Case[] = [
        ["empty stdin", { conf: text("") }, [6]],
        ["not JSON", { conf: text("hello") }, [6]],
        ["JSON list", { conf: text("[]") }, [6]],
        ["JSON null", { conf: text("null") }, [6]],
        ["JSON string", { conf: text('"x"') }, [6]],
        ["JSON number", { conf: text("1") }, [6]],
        ["10 MB of garbage", { conf: text('{"a":"' + "x".repeat(10 << 20)) }, [6]],
        ["10 MB valid config", {
          conf: text(JSON.stringify({ ...good, pad: "x".repeat(10 << 20) })),
        }, [6]],
        ["deeply nested list", { conf: text(deep) }, [6]],
        ["deeply nested field", {
          conf: text(JSON.stringify(good).replace(/}$/, `,"dns":${deepObj}}`)),
        }, [6, 7]],
        ["cniVersion 1", { conf: withGood({ cniVersion: 1 }) }, [1, 6, 7]],
        ["cniVersion 0.1.0", { conf: withGood({ cniVersion: "0.1.0" }) }, [1]],
        ["cniVersion 2.0.0", { conf: withGood({ cniVersion: "2.0.0" }) }, [1]],
        ["cniVersion empty", { conf: withGood({ cniVersion: "" }) }, [1]],
        ["cniVersion missing", { conf: withGood({ cniVersion: undefined }) }, [1]],
        ["name []", { conf: withGood({ name: [] }) }, [7]],
        ["name with /", { conf: withGood({ name: "../../etc" }) }, [7]],
        ["type {}", { conf: withGood({ type: {} }) }, [7]],
        ["mode 5", { conf: withGood({ mode: 5 }) }, [7]],
        ["bridge 7", { conf: withGood({ bridge: 7 }) }, [7]],
        ["bridge too long", { conf: withGood({ bridge: "b".repeat(16) }) }, [7]],
        ["bridge br%d (a kernel name template)", { conf: withGood({ bridge: "br%d" }) }, [7]],
        ["isGateway string", { conf: withGood({ isGateway: "yes" }) }, [7]],
        ["ipMasq 1", { conf: withGood({ ipMasq: 1 }) }, [7]],
        ["hairpinMode []", { conf: withGood({ hairpinMode: [] }) }, [7]],
        ["ipam string", { conf: withGood({ ipam: "x" }) }, [7]],
        ["ipam list", { conf: withGood({ ipam: [] }) }, [7]],
        ["ipam type number", { conf: ipamWith({ type: 3 }) }, [7]],
        ["ipam type path", { conf: ipamWith({ type: "../../bin/sh" }) }, [7]],
        ["ranges string", { conf: ipamWith({ subnet: undefined, ranges: "x" }) }, [7]],
        ["ranges [[1]]", { conf: ipamWith({ subnet: undefined, ranges: [[1]] }) }, [7]],
        ["ranges [[{}]]", { conf: ipamWith({ subnet: undefined, ranges: [[{}]] }) }, [7]],
        ["ranges bad subnet", {
          conf: ipamWith({ subnet: undefined, ranges: [[{ subnet: "10.0.0.0/99" }]] }),
        }, [7]],
        ["ranges [null]", { conf: ipamWith({ subnet: undefined, ranges: [null] }) }, [7]],
        ["subnet number", { conf: ipamWith({ subnet: 10 }) }, [7]],
        ["dataDir number", { conf: ipamWith({ dataDir: 5 }) }, [7]],
        ["dataDir relative", { conf: ipamWith({ dataDir: "rel/dir" }) }, [7]],
        ["routes garbage", { conf: ipamWith({ routes: [{ dst: 5 }] }) }, [7]],
        ["routes string", { conf: ipamWith({ routes: "x" }) }, [7]],
        ["mtu -1", { conf: withGood({ mtu: -1 }) }, [7]],
        ["mtu 70000", { conf: withGood({ mtu: 70000 }) }, [7]],
        ['mtu "1500"', { conf: withGood({ mtu: "1500" }) }, [7]],
        ["mtu 1500.5", { conf: withGood({ mtu: 1500.5 }) }, [7]],
        ["dns string", { conf: withGood({ dns: "x" }) }, [7]],
        ["dns list", { conf: withGood({ dns: [1, 2] }) }, [7]],
        ["dns nameservers string", { conf: withGood({ dns: { nameservers: "1.1.1.1" } }) }, [7]],
        ["dns nameservers [1]", { conf: withGood({ dns: { nameservers: [1] } }) }, [7]],
        ["dns domain 5", { conf: withGood({ dns: { domain: 5 } }) }, [7]],
        ["dns search {}", { conf: withGood({ dns: { search: {} } }) }, [7]],
        ["runtimeConfig string", { conf: withGood({ runtimeConfig: "x" }) }, [7]],
        ["runtimeConfig.ips string", { conf: withGood({ runtimeConfig: { ips: "x" } }) }, [7]],
        ["runtimeConfig.ips [1]", { conf: withGood({ runtimeConfig: { ips: [1] } }) }, [7]],
        ["runtimeConfig.mac 5", { conf: withGood({ runtimeConfig: { mac: 5 } }) }, [7]],
        ["args string", { conf: withGood({ args: "x" }) }, [7]],
        ["args.cni string", { conf: withGood({ args: { cni: "x" } }) }, [7]],
        ["args.cni.ips garbage", { conf: withGood({ args: { cni: { ips: {} } } }) }, [7]],
        ["prevResult string on ADD", { conf: withGood({ prevResult: "x" }) }, [6, 7]],
        ["prevResult garbage on CHECK", {
          command: "CHECK",
          conf: withGood({ prevResult: { ips: "x" } }),
        }, [6, 7]],
        ["prevResult bad ip on CHECK", {
          command: "CHECK",
          conf: withGood({ prevResult: { ips: [{ address: "999.1.1.1/24" }] } }),
        }, [6, 7]],
        ["prevResult ips[].interface indexing no interface on CHECK", {
          command: "CHECK",
          conf: withGood({
            prevResult: { ...live, ips: [{ address: "10.251.0.2/24", interface: 7 }] },
          }),
        }, [6]],
        ["prevResult garbage on DEL", {
          command: "DEL",
          conf: withGood({ prevResult: { interfaces: 5 } }),
        }, [6, 7]],
        ["STATUS on cniVersion 1.0.0", { command: "STATUS", conf: good }, [1]],
        ["GC on cniVersion 1.0.0", { command: "GC", conf: good }, [1]],
        ["valid-attachments [null] on GC", {
          command: "GC",
          conf: withGood({ cniVersion: "1.1.0", "cni.dev/valid-attachments": [null] }),
        }, [7]],
        ["valid-attachments garbage on GC", {
          command: "GC",
          conf: withGood({ cniVersion: "1.1.0", "cni.dev/valid-attachments": "x" }),
        }, [7]],
        ["unsupported feature", { conf: withGood({ vlan: 5 }) }, [2]],
        // No SKEIN_CNI_SOCKET: the plugin looks for the daemon's socket in the lease file the
        // config names, which must not be waited on.
        ["ipam.leaseFile a FIFO, no SKEIN_CNI_SOCKET", {
          conf: ipamWith({ subnet: "auto", leaseFile: fifo }),
          env: { SKEIN_CNI_SOCKET: undefined },
        }, [6]],
        ["byte order mark", { conf: text("\uFEFF" + JSON.stringify(good)) }, [6]],
        ["bridge names a link that is not a bridge", { conf: withGood({ bridge: "lo" }) }, [7]],
        ["runtimeConfig.mac multicast", {
          conf: withGood({ runtimeConfig: { mac: "01:00:5e:00:00:01" } }),
        }, [7]],
        ["runtimeConfig.mac all zero", {
          conf: withGood({ runtimeConfig: { mac: "00:00:00:00:00:00" } }),
        }, [7]],
      ];
      const envCases: Case[] = [
        ["CNI_COMMAND unknown", { env: { CNI_COMMAND: "BOOM" } }, [4]],
        ["CNI_COMMAND lowercase", { env: { CNI_COMMAND: "add" } }, [4]],
        ["CNI_COMMAND missing, other CNI_* set", { env: { CNI_COMMAND: undefined } }, [4]],
        ["CNI_IFNAME too long", { ifName: "e".repeat(16) }, [4]],
        ["CNI_IFNAME with /", { ifName: "a/b" }, [4]],
        ["CNI_IFNAME empty", { ifName: "", env: { CNI_IFNAME: "" } }, [4]],
        ["CNI_IFNAME ..", { ifName: ".." }, [4]],
        ["CNI_IFNAME with space", { ifName: "a b" }, [4]],
        ["CNI_IFNAME with a control character", { ifName: "a\x01b" }, [4]],
        ["CNI_IFNAME all (the kernel refuses it)", { ifName: "all" }, [4]],
        ["CNI_IFNAME default (the kernel refuses it)", { ifName: "default" }, [4]],
        ["CNI_IFNAME eth%d (a kernel name template)", { ifName: "eth%d" }, [4]],
        ["CNI_CONTAINERID empty", { env: { CNI_CONTAINERID: "" } }, [4]],
        ["CNI_CONTAINERID with /", { containerId: "a/b" }, [4]],
        ["CNI_CONTAINERID ..", { containerId: ".." }, [4]],
        ["CNI_CONTAINERID ../x", { containerId: "../x" }, [4]],
        ["CNI_CONTAINERID very long", { containerId: "c".repeat(100_000) }, [4]],
        ["CNI_NETNS relative", { netns: "run/netns/x" }, [4]],
        ["CNI_NETNS dot", { netns: "." }, [4]],
        ["CNI_NETNS nonexistent", { netns: "/run/netns/skein-hostile-nope" }, [4]],
        ["CNI_NETNS a regular file", { netns: "/etc/hostname" }, [4]],
        ["CNI_NETNS a directory", { netns: "/tmp" }, [4]],
        ["CNI_NETNS the host's own (path)", { netns: host }, [4]],
        ["CNI_NETNS the host's own (/proc/self)", { netns: "/proc/self/ns/net" }, [4]],
        ["CNI_NETNS not a net namespace", { netns: "/proc/self/ns/mnt" }, [4]],
        // ifname lo: an old plugin that took PID 1's namespace for a pod stopped at "lo exists".
        ["CNI_NETNS PID 1's (the root namespace)", { netns: "/proc/1/ns/net", ifName: "lo" }, [4]],
        ["CHECK with CNI_NETNS PID 1's", {
          command: "CHECK",
          conf: withGood({ prevResult: live }),
          netns: "/proc/1/ns/net",
          ifName: "lo",
        }, [4]],
        ["CNI_ARGS =", { cniArgs: "=" }, [4]],
        ["CNI_ARGS ;;", { cniArgs: ";;" }, [4]],
        ["CNI_ARGS a=b=c", { cniArgs: "IgnoreUnknown=1;a=b=c" }, [4]],
        ["CNI_ARGS huge garbage", { cniArgs: "x".repeat(100_000) }, [4]],
        ["CNI_ARGS IP garbage", { cniArgs: "IP=10.0.0.1.1" }, [4]],
        ["CNI_ARGS MAC broadcast", { cniArgs: "MAC=ff:ff:ff:ff:ff:ff" }, [4]],
        ["CNI_ARGS MAC multicast", { cniArgs: "MAC=01:00:5e:00:00:01" }, [4]],
        ["CNI_ARGS __proto__", { cniArgs: "__proto__=x" }, [4]],
        ["CNI_ARGS IP outside the range", { cniArgs: "IP=192.0.2.1" }, [7, 100]],
      ];
      const base: CallOptions = {
        command: "ADD",
        conf: good,
        containerId: "h1",
        netns: pod,
        ifName: "eth1",
        hostNs: host,
      };
      const all = [...stdinCases, ...envCases];
      const before = snapshot([host, pod], dataDir);
      all.push(["invalid UTF-8", { conf: badUtf8 }, [6]]);
      const results = await limited(all, Deno.env.get("HOSTILE_DEBUG") ? 1 : 4, async ([w, o]) => {
        const r = o.conf instanceof Uint8Array
          ? await callBytes({ ...base, ...o }, o.conf)
          : await callPlugin({ ...base, ...o });
        if (Deno.env.get("HOSTILE_DEBUG")) {
          console.log(w, r.code, r.stdout.slice(0, 200), inNs(pod, ["ip", "-br", "link"]));
        }
        return r;
      });
      const failures: string[] = [];
      all.forEach(([what, , codes], i) => {
        const r = results[i]!;
        const j = r.json;
        const problems: string[] = [];
        if (r.code === 0) problems.push("exit 0");
        if (!j) problems.push("stdout is not JSON");
        else {
          if (!codes.includes(j.code as number)) problems.push(`code ${j.code}, want ${codes}`);
          if (typeof j.msg !== "string" || !j.msg) problems.push("no msg");
          if (typeof j.cniVersion !== "string") problems.push("no cniVersion");
        }
        if (/\n\s+at /.test(r.stdout + r.stderr)) problems.push("stack trace printed");
        if (problems.length) {
          failures.push(
            `${what}: ${problems.join(", ")}\n  stdout ${r.stdout.slice(0, 300)}\n  stderr ${
              r.stderr.slice(0, 300)
            }`,
          );
        }
      });
      const after = snapshot([host, pod], dataDir);
      assertEquals(failures, []);
      assertEquals(after, before, "a failed call changed the host, the pod or the data dir");
      // DEL must succeed for anything it cannot use, and never enter the host's own namespace
      // as if it were the pod: a host veth named like CNI_IFNAME survives, and so does lo.
      inNs(host, ["ip", "link", "add", "eth7", "type", "veth", "peer", "name", "eth7p"]);
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      const lo = { cniVersion: "1.0.0", name: "hostile", type: "skein", mode: "loopback" };
      const dels: [string, Partial<CallOptions>][] = [
        ["own netns path", { netns: host, ifName: "eth7" }],
        ["own netns /proc/self", { netns: "/proc/self/ns/net", ifName: "eth7" }],
        ["relative netns", { netns: "pod", ifName: "eth7" }],
        ["regular file netns", { netns: "/etc/hostname", ifName: "eth7" }],
        ["no netns", { netns: undefined, ifName: "eth7" }],
        ["loopback, own netns", { conf: lo, netns: "/proc/self/ns/net", ifName: "lo" }],
        ["unknown container", { containerId: "never-added", netns: pod }],
      ];
      for (const [what, o] of dels) {
        const r = await callPlugin({ ...base, command: "DEL", containerId: "d1", ...o });
        assertEquals(r.code, 0, `DEL with ${what}: ${r.stdout}`);
      }
      const hostLinks = JSON.parse(inNs(host, ["ip", "-j", "link", "show"])) as {
        ifname: string;
        flags: string[];
      }[];
      assert(hostLinks.some((l) => l.ifname === "eth7"), "DEL deleted the host's own eth7");
      assert(
        hostLinks.find((l) => l.ifname === "lo")!.flags.includes("UP"),
        "DEL took host lo down",
      );
      inNs(host, ["ip", "link", "del", "eth7"]);
      // The live attachment still works end to end.
      await callOk({
        command: "CHECK",
        conf: { ...good, prevResult: live },
        containerId: "live0",
        netns: pod,
        hostNs: host,
        ifName: "eth0",
      });
      await callOk({
        command: "DEL",
        conf: good,
        containerId: "live0",
        netns: pod,
        hostNs: host,
        ifName: "eth0",
      });
      assert(!inNs(pod, ["ip", "-j", "link"]).includes('"eth0"'));
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});

Deno.test("CNI_COMMAND missing: spec error naming it when other CNI_* are set, help only without any", async () => {
  await withNamespaces(["host"], async (ns) => {
    const conf = { cniVersion: "1.0.0", name: "hostile", type: "skein", mode: "loopback" };
    const r = await callPlugin({
      command: "ADD",
      conf,
      hostNs: ns.host!,
      containerId: "c1",
      netns: "/proc/self/ns/net",
      env: { CNI_COMMAND: undefined },
    });
    assert(r.code !== 0, `exit ${r.code}`);
    assertEquals(r.json?.code, 4, r.stdout);
    assert(String(r.json?.msg).includes("CNI_COMMAND"), r.stdout);
    const unset = { CNI_COMMAND: undefined, CNI_PATH: undefined, CNI_IFNAME: undefined };
    const help = await callPlugin({ command: "ADD", conf, hostNs: ns.host!, env: unset });
    assertEquals(help.code, 2);
    assert(help.stdout.includes("Usage"), help.stdout);
  });
});

Deno.test("DEL and CHECK of a container the plugin never saw leave the pod its CNI_NETNS names alone", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-hostile-owner-" });
  try {
    await withNamespaces(["host", "pod", "pod2"], async (ns) => {
      const host = ns.host!;
      const pod = ns.pod!;
      const conf = {
        cniVersion: "1.0.0",
        name: "owner",
        type: "skein",
        isGateway: true,
        ipam: { type: "skein", dataDir, subnet: "10.251.1.0/24" },
      };
      const at = { conf, hostNs: host, ifName: "eth0" };
      const live = await callOk({ ...at, command: "ADD", containerId: "live0", netns: pod });
      const before = await settled(() => snapshot([host, pod], dataDir));
      // CHECK first: it must fail (not this container's interface) and change nothing.
      const check = await callPlugin({
        ...at,
        command: "CHECK",
        conf: { ...conf, prevResult: live },
        containerId: "intruder",
        netns: pod,
      });
      assert(check.code !== 0, `CHECK of a foreign interface succeeded: ${check.stdout}`);
      assert([3, 100].includes(check.json?.code as number), check.stdout);
      const del = await callPlugin({ ...at, command: "DEL", containerId: "intruder", netns: pod });
      assertEquals(del.code, 0, `DEL of an unknown container failed: ${del.stdout}`);
      assertEquals(
        snapshot([host, pod], dataDir),
        before,
        "DEL of an unknown container changed the pod",
      );
      await callOk({
        ...at,
        command: "CHECK",
        conf: { ...conf, prevResult: live },
        containerId: "live0",
        netns: pod,
      });
      // The owner's DEL still removes a pod side whose host veth was lost: IPAM holds its
      // reservation, so the interface is the attachment's.
      const pod2 = ns.pod2!;
      await callOk({ ...at, command: "ADD", containerId: "lost1", netns: pod2 });
      inNs(pod2, ["ip", "link", "del", "eth0"]);
      inNs(pod2, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "e0peer"]);
      await callOk({ ...at, command: "DEL", containerId: "lost1", netns: pod2 });
      assert(!inNs(pod2, ["ip", "-j", "link"]).includes('"eth0"'), "owner's DEL left eth0");
      await callOk({ ...at, command: "DEL", containerId: "live0", netns: pod });
      assert(!inNs(pod, ["ip", "-j", "link"]).includes('"eth0"'));
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
