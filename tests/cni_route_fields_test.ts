/**
 * CNI 1.1 route fields in `ipam.routes` (`mtu`, `advmss`, `priority`, `table`, `scope`): the
 * result carries them and the pod's kernel routes have them (`ip -j -d route show table all` as
 * the oracle); CHECK finds a route in its own table; DEL cleans up.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callOk, callPlugin, inNs, reservations } from "./_cni.ts";

interface IpRoute {
  dst: string;
  gateway?: string;
  metric?: number;
  table?: string;
  scope?: string;
  metrics?: Record<string, number>[];
}

/** The pod's routes of every table, as `ip -j -d route show table all` prints them. */
function podRoutes(ns: string, family: "-4" | "-6"): IpRoute[] {
  return JSON.parse(inNs(ns, ["ip", family, "-j", "-d", "route", "show", "table", "all"]));
}

/** One route's RTA_METRICS as a flat object ({mtu, advmss}). */
function metricsOf(r: IpRoute | undefined): Record<string, number> {
  return Object.assign({}, ...(r?.metrics ?? []));
}

Deno.test("ipam.routes mtu, advmss, priority, table and scope reach the result and the pod's kernel routes", async () => {
  const dataDir = Deno.makeTempDirSync({ prefix: "skein-rtf-" });
  try {
    await withNamespaces(["host", "pod"], async (ns) => {
      const routes = [
        { dst: "10.9.0.0/16", mtu: 1400, advmss: 1360, priority: 50 },
        { dst: "10.8.0.0/16", table: 100, scope: 200, priority: 7 },
        { dst: "fd00:9::/64", mtu: 1300, priority: 300 },
      ];
      const conf = {
        cniVersion: "1.1.0",
        name: "rtfields",
        type: "skein",
        bridge: "rtfbr",
        isGateway: true,
        ipam: {
          type: "skein",
          dataDir,
          ranges: [[{ subnet: "10.251.9.0/24" }], [{ subnet: "fd00:251:9::/64" }]],
          routes,
        },
      };
      const call = { conf, containerId: "c1", netns: ns.pod!, ifName: "eth0", hostNs: ns.host! };
      const res = await callOk({ ...call, command: "ADD" });
      assertEquals(res?.routes, [
        { dst: "10.9.0.0/16", mtu: 1400, advmss: 1360, priority: 50 },
        { dst: "10.8.0.0/16", priority: 7, table: 100, scope: 200 },
        { dst: "fd00:9::/64", mtu: 1300, priority: 300 },
      ]);
      const v4 = podRoutes(ns.pod!, "-4");
      const a = v4.find((r) => r.dst === "10.9.0.0/16");
      assertEquals(
        [a?.gateway, a?.metric, a?.table],
        ["10.251.9.1", 50, "main"],
        JSON.stringify(a),
      );
      assertEquals(metricsOf(a), { mtu: 1400, advmss: 1360 });
      const b = v4.find((r) => r.dst === "10.8.0.0/16");
      assertEquals([b?.gateway, b?.metric, b?.table, b?.scope], ["10.251.9.1", 7, "100", "site"]);
      assert(!v4.some((r) => r.dst === "10.8.0.0/16" && r.table === "main"), "not in main too");
      const c = podRoutes(ns.pod!, "-6").find((r) => r.dst === "fd00:9::/64");
      assertEquals([c?.gateway, c?.metric], ["fd00:251:9::1", 300], JSON.stringify(c));
      assertEquals(metricsOf(c).mtu, 1300);
      // CHECK finds the table-100 route; once it is gone from table 100, CHECK says so.
      await callOk({ ...call, command: "CHECK", conf: { ...conf, prevResult: res } });
      inNs(ns.pod!, ["ip", "route", "del", "10.8.0.0/16", "table", "100"]);
      const check = await callPlugin({
        ...call,
        command: "CHECK",
        conf: { ...conf, prevResult: res },
      });
      assertEquals(check.code, 1, check.stdout);
      assert(String(check.json?.msg).includes("10.8.0.0/16"), check.stdout);
      assert(String(check.json?.msg).includes("table 100"), check.stdout);
      await callOk({ ...call, command: "DEL" });
      assertEquals(reservations(dataDir, conf.name), []);
      // cniVersion 1.0.0: the result cannot carry the fields, the kernel route still has them
      // and CHECK (whose prevResult names no table) finds it.
      const v10 = { ...conf, cniVersion: "1.0.0" };
      const res10 = await callOk({ ...call, command: "ADD", conf: v10 });
      assertEquals((res10?.routes as unknown[])[1], { dst: "10.8.0.0/16" });
      const b10 = podRoutes(ns.pod!, "-4").find((r) => r.dst === "10.8.0.0/16");
      assertEquals([b10?.metric, b10?.table, b10?.scope], [7, "100", "site"]);
      await callOk({ ...call, command: "CHECK", conf: { ...v10, prevResult: res10 } });
      await callOk({ ...call, command: "DEL", conf: v10 });
      inNs(ns.host!, ["ip", "link", "del", "rtfbr"]);
    });
  } finally {
    Deno.removeSync(dataDir, { recursive: true });
  }
});
