/**
 * skein driven by the upstream CNI library (root): Debian's libcni (containernetworking/cni
 * 1.1.2, spec up to 1.0.0; no GC/STATUS) through the cnitool that scripts/build-cnitool.sh
 * builds. cnitool runs in a test "host" namespace with NETCONFPATH and libcni's cache directory
 * in a temporary directory, so libcni (not our harness) builds the configs, injects
 * runtimeConfig, pipes prevResult, caches results and runs DEL in reverse order.
 *
 * Covered: skein bridge mode + portmap (a real DNAT'ed HTTP fetch), routed mode, the reference
 * bridge with skein IPAM, every cniVersion libcni speaks (0.3.0, 0.3.1, 0.4.0, 1.0.0; a single
 * `.conf` file as well as conflists), 0.2.0 refused with code 1, 1.1.0 answered by VERSION.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../testing/assert.ts";
import { nsName, withNamespaces } from "./_netns.ts";
import { netnsAdd, netnsDel, netnsExists } from "../net/netns.ts";
import { cniBinDir, inNs, links, okInNs, ping, reservations } from "./_cni.ts";
import {
  type CnitoolCall,
  cnitoolOk,
  cnitoolRun,
  ensureCnitool,
  run,
  skipped,
} from "./_clients.ts";

interface Result100 {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes?: { dst: string; gw?: string }[];
}

/** A temporary directory layout: conflists, libcni cache, IPAM data. */
function tempDirs(tag: string): { root: string; confDir: string; cacheDir: string; data: string } {
  const root = Deno.makeTempDirSync({ prefix: `skein-libcni-${tag}-` });
  for (const d of ["net.d", "cache", "data"]) Deno.mkdirSync(`${root}/${d}`);
  return { root, confDir: `${root}/net.d`, cacheDir: `${root}/cache`, data: `${root}/data` };
}

function writeConf(dir: string, file: string, conf: unknown): void {
  Deno.writeTextFileSync(`${dir}/${file}`, JSON.stringify(conf, null, 2));
}

/** libcni's cache files (results/<network>-<containerId>-<ifName>). */
function cached(cacheDir: string): string[] {
  try {
    return [...Deno.readDirSync(`${cacheDir}/results`)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

function hostVeths(host: string): string[] {
  return links(host).map((l) => l.ifname).filter((n) => /^sk[0-9a-f]{12}$/.test(n));
}

const tool = ensureCnitool();
const skip = tool.skip;

Deno.test("libcni: skein bridge mode + portmap: add, ping, DNAT, check, drift, del twice", async () => {
  if (skipped("libcni bridge", skip)) return;
  const t = tempDirs("br");
  let httpd: Deno.ChildProcess | undefined;
  try {
    await withNamespaces(["host", "p1", "p2"], async (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      writeConf(t.confDir, "10-skbr.conflist", {
        cniVersion: "1.0.0",
        name: "skbr",
        plugins: [
          {
            type: "skein",
            bridge: "skbr0",
            isGateway: true,
            isDefaultGateway: true,
            ipam: { type: "skein", subnet: "10.241.7.0/24", dataDir: t.data },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      });
      const base = { hostNs: host, network: "skbr", confDir: t.confDir, cacheDir: t.cacheDir };
      const c1: CnitoolCall = {
        ...base,
        verb: "add",
        netns: ns.p1!,
        containerId: "libcni-p1",
        cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default",
        capArgs: { portMappings: [{ hostPort: 18080, containerPort: 80, protocol: "tcp" }] },
      };
      const c2: CnitoolCall = { ...base, verb: "add", netns: ns.p2!, containerId: "libcni-p2" };

      // The result libcni prints parses, in the conflist's version, with skein's addresses.
      const r1 = cnitoolOk(c1) as unknown as Result100;
      const r2 = cnitoolOk(c2) as unknown as Result100;
      assertEquals(r1.cniVersion, "1.0.0");
      assertEquals(r1.ips.map((i) => [i.address, i.gateway]), [["10.241.7.2/24", "10.241.7.1"]]);
      assertEquals(r2.ips[0]!.address, "10.241.7.3/24");
      assertEquals(r1.interfaces[r1.ips[0]!.interface!]!.sandbox, ns.p1);
      assertEquals(r1.routes, [{ dst: "0.0.0.0/0", gw: "10.241.7.1" }]);
      // libcni cached the final result (after portmap) in our cache dir, and reads it back.
      assertEquals(cached(t.cacheDir), ["skbr-libcni-p1-eth0", "skbr-libcni-p2-eth0"]);
      const back = cnitoolOk({ ...c1, verb: "cached" }) as unknown as Result100;
      assertEquals(back.ips, r1.ips);
      assertEquals(reservations(t.data, "skbr"), ["10.241.7.2", "10.241.7.3"]);
      assertEquals(hostVeths(host).length, 2);

      assert(ping(ns.p1!, "10.241.7.1"), "p1 -> gateway");
      assert(ping(ns.p2!, "10.241.7.1"), "p2 -> gateway");
      assert(ping(ns.p1!, "10.241.7.3"), "p1 -> p2");
      assert(ping(ns.p2!, "10.241.7.2"), "p2 -> p1");

      // portmap got runtimeConfig.portMappings from libcni and the prevResult from skein:
      // an HTTP GET from the host to gateway:18080 reaches busybox httpd on the pod's port 80.
      assertStringIncludes(inNs(host, ["iptables-save", "-t", "nat"]), "--dport 18080");
      if (run(["busybox", "true"]).code === 0) {
        const www = `${t.root}/www`;
        Deno.mkdirSync(www);
        Deno.writeTextFileSync(`${www}/hello.txt`, "hello from p1\n");
        httpd = new Deno.Command("nsenter", {
          args: [`--net=${ns.p1}`, "busybox", "httpd", "-f", "-p", "80", "-h", www],
          stdout: "null",
          stderr: "null",
        }).spawn();
        let body = "";
        for (let i = 0; i < 30 && !body.includes("hello"); i++) {
          await new Promise((r) => setTimeout(r, 100));
          const get = new Deno.Command("nsenter", {
            args: [`--net=${host}`, "busybox", "nc", "-w", "2", "10.241.7.1", "18080"],
            stdin: "piped",
            stdout: "piped",
            stderr: "null",
          }).spawn();
          const w = get.stdin.getWriter();
          await w.write(new TextEncoder().encode("GET /hello.txt HTTP/1.0\r\n\r\n"));
          await w.close();
          body = new TextDecoder().decode((await get.output()).stdout);
        }
        assertStringIncludes(body, "\r\n\r\nhello from p1\n");
      } else {
        console.warn("libcni bridge: busybox missing, DNAT fetch not tried (rules checked)");
      }

      // CHECK over the whole list (skein, then portmap) with libcni's cached result.
      // libcni stops at the first failing plugin, so an error from portmap (second in the list)
      // means skein's CHECK passed. Debian's portmap 1.1.1 fails its own CHECK when it has port
      // mappings ("could not check ipv6 dnat": it looks for the chain in ip6tables).
      const chk1 = cnitoolRun({ ...c1, verb: "check" });
      if (chk1.code !== 0) assertStringIncludes(chk1.stdout, "could not check ipv6 dnat");
      cnitoolOk({ ...c2, verb: "check" });
      // Drift: p2's address removed behind skein's back. CHECK fails, and it is skein's error.
      inNs(ns.p2!, ["ip", "addr", "del", "10.241.7.3/24", "dev", "eth0"]);
      const drift = cnitoolRun({ ...c2, verb: "check" });
      assert(drift.code !== 0, "CHECK must fail after drift");
      assertStringIncludes(JSON.stringify(drift.json), "10.241.7.3");

      // DEL through libcni (portmap, then skein) cleans everything; DEL again is fine.
      for (const c of [c2, c1]) {
        cnitoolOk({ ...c, verb: "del" });
        cnitoolOk({ ...c, verb: "del" });
      }
      assertEquals(hostVeths(host), []);
      assertEquals(reservations(t.data, "skbr"), []);
      assertEquals(cached(t.cacheDir), []);
      assert(!inNs(host, ["iptables-save", "-t", "nat"]).includes("--dport 18080"));
      assert(!okInNs(ns.p1!, ["ip", "link", "show", "dev", "eth0"]), "pod eth0 gone");
    });
  } finally {
    if (httpd) {
      try {
        httpd.kill("SIGKILL");
      } catch {
        // exited
      }
      await httpd.status;
    }
    Deno.removeSync(t.root, { recursive: true });
  }
});

Deno.test("libcni: skein routed mode: add, ping, check, drift, del (also uncached, netns gone)", async () => {
  if (skipped("libcni routed", skip)) return;
  const t = tempDirs("rt");
  try {
    await withNamespaces(["host", "p1", "p2"], (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      writeConf(t.confDir, "10-skrt.conflist", {
        cniVersion: "1.0.0",
        name: "skrt",
        plugins: [{
          type: "skein",
          mode: "routed",
          ipam: {
            type: "skein",
            ranges: [[{ subnet: "10.241.8.0/24" }], [{ subnet: "fd00:241:8::/64" }]],
            dataDir: t.data,
          },
        }],
      });
      const base = { hostNs: host, network: "skrt", confDir: t.confDir, cacheDir: t.cacheDir };
      const c1: CnitoolCall = { ...base, verb: "add", netns: ns.p1!, containerId: "rt-1" };
      const c2: CnitoolCall = { ...base, verb: "add", netns: ns.p2!, containerId: "rt-2" };
      const r1 = cnitoolOk(c1) as unknown as Result100;
      cnitoolOk(c2);
      assertEquals(r1.ips.map((i) => [i.address, i.gateway]), [
        ["10.241.8.2/32", "169.254.1.1"],
        ["fd00:241:8::2/128", "fe80::1"],
      ]);
      assertEquals(links(host).some((l) => l.ifname === "cni0"), false);
      const hostRoutes = inNs(host, ["ip", "route", "show", "proto", "101"]);
      assertMatch(hostRoutes, /10\.241\.8\.2 dev sk[0-9a-f]{12} scope link/);
      assertMatch(hostRoutes, /10\.241\.8\.3 dev sk[0-9a-f]{12} scope link/);
      assert(ping(ns.p1!, "10.241.8.3"), "p1 -> p2 (routed through the host)");
      assert(ping(ns.p2!, "10.241.8.2"), "p2 -> p1");
      cnitoolOk({ ...c1, verb: "check" });
      cnitoolOk({ ...c2, verb: "check" });
      // Drift on the host side: p1's /32 route deleted. CHECK fails.
      inNs(host, ["ip", "route", "del", "10.241.8.2/32"]);
      const drift = cnitoolRun({ ...c1, verb: "check" });
      assert(drift.code !== 0, `CHECK must fail after drift: ${drift.stdout}`);
      cnitoolOk({ ...c1, verb: "del" });
      cnitoolOk({ ...c1, verb: "del" });
      // libcni lost its cached result (a runtime's state wiped): DEL comes without prevResult.
      Deno.removeSync(`${t.cacheDir}/results/skrt-rt-2-eth0`);
      cnitoolOk({ ...c2, verb: "del" });
      assertEquals(hostVeths(host), []);
      assertEquals(reservations(t.data, "skrt"), []);
      // The pod's namespace vanished before DEL (container gone): DEL still frees the address.
      const gone = nsName("gone");
      const gonePath = netnsAdd(gone);
      try {
        const c3: CnitoolCall = { ...base, verb: "add", netns: gonePath, containerId: "rt-3" };
        cnitoolOk(c3);
        assertEquals(reservations(t.data, "skrt").length, 2); // v4 + v6
        netnsDel(gone);
        cnitoolOk({ ...c3, verb: "del" });
        cnitoolOk({ ...c3, verb: "del" });
      } finally {
        if (netnsExists(gone)) netnsDel(gone);
      }
      assertEquals(hostVeths(host), []);
      assertEquals(inNs(host, ["ip", "route", "show", "proto", "101"]).trim(), "");
      assertEquals(reservations(t.data, "skrt"), []);
      assertEquals(cached(t.cacheDir), []);
    });
  } finally {
    Deno.removeSync(t.root, { recursive: true });
  }
});

Deno.test("libcni: one pod on two dual-stack skein networks (eth0, eth1), both with default routes", async () => {
  if (skipped("libcni two networks", skip)) return;
  const t = tempDirs("two");
  try {
    await withNamespaces(["host", "p1"], (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      for (
        const [name, br, sub] of [["neta", "neta0", "10.241.11"], [
          "netb",
          "netb0",
          "10.241.12",
        ]] as const
      ) {
        writeConf(t.confDir, `${name}.conflist`, {
          cniVersion: "1.0.0",
          name,
          plugins: [{
            type: "skein",
            bridge: br,
            isGateway: true,
            isDefaultGateway: true,
            ipam: {
              type: "skein",
              ranges: [[{ subnet: `${sub}.0/24` }], [{
                subnet: `fd00:${sub.replaceAll(".", ":")}::/64`,
              }]],
              dataDir: t.data,
            },
          }],
        });
      }
      const base = { hostNs: host, confDir: t.confDir, cacheDir: t.cacheDir, netns: ns.p1! };
      const a: CnitoolCall = { ...base, verb: "add", network: "neta", ifName: "eth0" };
      const b: CnitoolCall = { ...base, verb: "add", network: "netb", ifName: "eth1" };
      cnitoolOk(a);
      // What podman does for `--network neta,netb`: the second ADD must not fail on the default
      // route the first one made (the reference bridge appends its routes the same way).
      cnitoolOk(b);
      const defaults = inNs(ns.p1!, ["ip", "-4", "route", "show", "default"]);
      assertStringIncludes(defaults, "default via 10.241.11.1 dev eth0");
      assertStringIncludes(defaults, "default via 10.241.12.1 dev eth1");
      // IPv6: the kernel merges the two same-metric default routes into one multipath route;
      // CHECK of each network finds its next hop in it.
      const defaults6 = inNs(ns.p1!, ["ip", "-6", "route", "show", "default"]);
      assertStringIncludes(defaults6, "nexthop via fd00:10:241:11::1 dev eth0");
      assertStringIncludes(defaults6, "nexthop via fd00:10:241:12::1 dev eth1");
      assert(ping(ns.p1!, "10.241.11.1") && ping(ns.p1!, "10.241.12.1"), "both gateways");
      cnitoolOk({ ...a, verb: "check" });
      cnitoolOk({ ...b, verb: "check" });
      cnitoolOk({ ...b, verb: "del" });
      cnitoolOk({ ...a, verb: "check" }); // eth0's routes survive eth1's DEL
      cnitoolOk({ ...a, verb: "del" });
      assertEquals(hostVeths(host), []);
      assertEquals([...reservations(t.data, "neta"), ...reservations(t.data, "netb")], []);
    });
  } finally {
    Deno.removeSync(t.root, { recursive: true });
  }
});

Deno.test("libcni: reference bridge with skein as its IPAM plugin", async () => {
  if (skipped("libcni ref bridge", skip)) return;
  const t = tempDirs("ref");
  try {
    await withNamespaces(["host", "p1"], (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      writeConf(t.confDir, "10-refbr.conflist", {
        cniVersion: "1.0.0",
        name: "refbr",
        plugins: [{
          type: "bridge",
          bridge: "refbr0",
          isGateway: true,
          ipam: {
            type: "skein",
            subnet: "10.241.9.0/24",
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: t.data,
          },
        }],
      });
      const c: CnitoolCall = {
        hostNs: host,
        network: "refbr",
        confDir: t.confDir,
        cacheDir: t.cacheDir,
        verb: "add",
        netns: ns.p1!,
      };
      const r = cnitoolOk(c) as unknown as Result100;
      assertEquals(r.ips[0]!.address, "10.241.9.2/24");
      assertEquals(r.ips[0]!.gateway, "10.241.9.1");
      // cnitool's own container ID (sha512 of the netns path) is what skein recorded.
      const [res] = reservations(t.data, "refbr");
      assertEquals(res, "10.241.9.2");
      assertMatch(
        Deno.readTextFileSync(`${t.data}/refbr/${res}`),
        /^cnitool-[0-9a-f]{20}\r\neth0$/,
      );
      assert(ping(ns.p1!, "10.241.9.1"), "pod -> reference bridge gateway");
      cnitoolOk({ ...c, verb: "check" }); // bridge's CHECK delegates to skein's IPAM CHECK
      cnitoolOk({ ...c, verb: "del" });
      cnitoolOk({ ...c, verb: "del" });
      assertEquals(reservations(t.data, "refbr"), []);
      assertEquals(links(host).filter((l) => l.ifname.startsWith("veth")), []);
    });
  } finally {
    Deno.removeSync(t.root, { recursive: true });
  }
});

Deno.test("libcni: every cniVersion libcni speaks, as conflist and as a single .conf", async () => {
  if (skipped("libcni versions", skip)) return;
  const t = tempDirs("ver");
  try {
    await withNamespaces(["host", "p1"], (ns) => {
      const host = ns.host!;
      inNs(host, ["ip", "link", "set", "lo", "up"]);
      const lib = JSON.parse(run([tool.path!, "libversions"]).stdout) as {
        supportedVersions: string[];
      };
      const skein = JSON.parse(
        run([tool.path!, "versions", "skein"], { env: { CNI_PATH: cniBinDir() } }).stdout,
      ) as { supportedVersions: string[] };
      const ipam = (v: string) => ({
        type: "skein",
        ranges: [[{ subnet: `10.241.${10 + v.length}.0/24` }], [{ subnet: "fd00:241:10::/64" }]],
        dataDir: t.data,
      });
      const versions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];
      for (const v of versions) assert(lib.supportedVersions.includes(v), `libcni speaks ${v}`);
      for (const v of [...versions, "1.1.0"]) {
        assert(skein.supportedVersions.includes(v), `skein answers VERSION with ${v}`);
      }
      let i = 0;
      for (const v of versions) {
        for (const single of [false, true]) {
          const name = `v${v.replaceAll(".", "")}${single ? "s" : "l"}`;
          const plugin = { type: "skein", bridge: "skv0", isGateway: true, ipam: ipam(v) };
          if (single) writeConf(t.confDir, `${name}.conf`, { cniVersion: v, name, ...plugin });
          else writeConf(t.confDir, `${name}.conflist`, { cniVersion: v, name, plugins: [plugin] });
          const c: CnitoolCall = {
            hostNs: host,
            network: name,
            confDir: t.confDir,
            cacheDir: t.cacheDir,
            verb: "add",
            netns: ns.p1!,
            containerId: `ver-${i++}`,
          };
          cnitoolOk({ ...c, verb: "validate" }); // VERSION lists v
          const r = cnitoolOk(c) as unknown as Result100;
          assertEquals(r.cniVersion, v, name);
          const v4 = r.ips.find((x) => x.address.startsWith("10.241."))!;
          const v6 = r.ips.find((x) => x.address.startsWith("fd00:"))!;
          assert(v4 && v6, `${name}: both families in ${JSON.stringify(r.ips)}`);
          if (v.startsWith("0.")) assertEquals([v4.version, v6.version], ["4", "6"], name);
          else assertEquals([v4.version, v6.version], [undefined, undefined], name);
          assert(ping(ns.p1!, v4.gateway!), `${name}: pod -> gateway`);
          if (v === "0.3.0" || v === "0.3.1") {
            // libcni itself refuses CHECK below 0.4.0 (without calling the plugin).
            const chk = cnitoolRun({ ...c, verb: "check" });
            assertStringIncludes(chk.stderr, "does not support the CHECK command");
          } else {
            cnitoolOk({ ...c, verb: "check" });
          }
          cnitoolOk({ ...c, verb: "del" });
          cnitoolOk({ ...c, verb: "del" });
          assertEquals(reservations(t.data, name), [], name);
          assertEquals(hostVeths(host), [], name);
        }
      }
      // 0.2.0: libcni passes it on, skein refuses it with code 1 (incompatible version) and
      // leaves nothing behind.
      writeConf(t.confDir, "old.conflist", {
        cniVersion: "0.2.0",
        name: "old",
        plugins: [{ type: "skein", ipam: ipam("0.2.0") }],
      });
      const old = cnitoolRun({
        hostNs: host,
        network: "old",
        confDir: t.confDir,
        cacheDir: t.cacheDir,
        verb: "add",
        netns: ns.p1!,
      });
      assertEquals(old.code, 1);
      assertEquals(old.json?.code, 1, old.stdout + old.stderr);
      assertEquals(reservations(t.data, "old"), []);
      assertEquals(hostVeths(host), []);
      assertEquals(cached(t.cacheDir), []);
    });
  } finally {
    Deno.removeSync(t.root, { recursive: true });
  }
});
