/**
 * Route install/delete benchmark: skein's routeBatch() against one `ip -batch` process, in the
 * same run, each in its own fresh namespace.
 *
 *   deno run -A tests/bench/routes_bench.ts [--routes 10000] [--rounds 3]
 *
 * Prints a table with both times (best of the rounds) and the ratio skein/ip. Target: <= 1.25
 * for install + delete. A list row (skein routeList() vs `ip -j route show` parsed) is extra.
 * The ip side includes starting the `ip` process (that is what a shell-out would cost); the skein
 * side includes building the messages and opening its handle.
 */
import { parseArgs } from "node:util";
import { netnsAdd, netnsDel, openHandle, SKEIN_ROUTE_PROTOCOL } from "../../net/mod.ts";
import type { RouteBatchOp } from "../../net/mod.ts";
import { cleanupOnInterrupt } from "../_netns.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    routes: { type: "string", default: "10000" },
    rounds: { type: "string", default: "3" },
  },
});
const N = Number(values.routes);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(N) || N < 1 || N > 60000 || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error("usage: deno run -A tests/bench/routes_bench.ts [--routes 1..60000] [--rounds N]");
  Deno.exit(2);
}

const prefix = `skbench${Math.floor(Math.random() * 0xffff).toString(16)}`;

function dst(i: number): string {
  return `10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;
}

function run(args: string[]): void {
  const o = new Deno.Command(args[0]!, {
    args: args.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  })
    .outputSync();
  if (!o.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
}

/** Sets up a namespace with an uplink that routes can point at. */
function setup(name: string): void {
  netnsAdd(name);
  using h = openHandle({ netns: name });
  h.linkAdd({ kind: "veth", name: "eth0", peer: { name: "eth0p" }, up: true });
  h.linkSet("eth0p", { up: true });
  h.addrAdd({ dev: "eth0", cidr: "192.168.0.1/16" });
}

function countRoutes(name: string): number {
  using h = openHandle({ netns: name });
  return h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).length;
}

type Times = { add: number; list: number; del: number };

function skeinRound(name: string): Times {
  const t0 = performance.now();
  using h = openHandle({ netns: name });
  const adds: RouteBatchOp[] = [];
  for (let i = 0; i < N; i++) {
    adds.push({
      op: "add",
      route: { dst: dst(i), gateway: "192.168.0.2", dev: "eth0", protocol: SKEIN_ROUTE_PROTOCOL },
    });
  }
  const r1 = h.routeBatch(adds);
  const t1 = performance.now();
  const bad1 = r1.filter(Boolean);
  if (bad1.length) throw new Error(`skein add: ${bad1.length} errors, first: ${bad1[0]}`);
  const tl = performance.now();
  const listed = h.routeList({ protocol: SKEIN_ROUTE_PROTOCOL }).length;
  const list = performance.now() - tl;
  if (listed !== N) throw new Error("skein add: route count mismatch");
  const t2 = performance.now();
  const dels: RouteBatchOp[] = [];
  for (let i = 0; i < N; i++) {
    dels.push({
      op: "del",
      route: { dst: dst(i), gateway: "192.168.0.2", dev: "eth0", protocol: SKEIN_ROUTE_PROTOCOL },
    });
  }
  const r2 = h.routeBatch(dels);
  const t3 = performance.now();
  const bad2 = r2.filter(Boolean);
  if (bad2.length) throw new Error(`skein del: ${bad2.length} errors, first: ${bad2[0]}`);
  if (countRoutes(name) !== 0) throw new Error("skein del: routes left");
  return { add: t1 - t0, list, del: t3 - t2 };
}

function ipRound(name: string, addFile: string, delFile: string): Times {
  const t0 = performance.now();
  run(["ip", "-n", name, "-batch", addFile]);
  const t1 = performance.now();
  const tl = performance.now();
  const out = new Deno.Command("ip", {
    args: ["-n", name, "-j", "route", "show", "proto", String(SKEIN_ROUTE_PROTOCOL)],
    stdout: "piped",
  })
    .outputSync();
  const listed = JSON.parse(new TextDecoder().decode(out.stdout)).length;
  const list = performance.now() - tl;
  if (listed !== N || countRoutes(name) !== N) throw new Error("ip add: route count mismatch");
  const t2 = performance.now();
  run(["ip", "-n", name, "-batch", delFile]);
  const t3 = performance.now();
  if (countRoutes(name) !== 0) throw new Error("ip del: routes left");
  return { add: t1 - t0, list, del: t3 - t2 };
}

const dir = Deno.makeTempDirSync({ prefix: "skein-bench-" });
const addFile = `${dir}/add.txt`;
const delFile = `${dir}/del.txt`;
const lines = (verb: string) =>
  Array.from(
    { length: N },
    (_, i) => `route ${verb} ${dst(i)} via 192.168.0.2 dev eth0 proto ${SKEIN_ROUTE_PROTOCOL}`,
  )
    .join("\n") + "\n";
Deno.writeTextFileSync(addFile, lines("add"));
Deno.writeTextFileSync(delFile, lines("del"));

const nsSkein = `${prefix}-skein`;
const nsIp = `${prefix}-ip`;
const deleteNamespaces = () => {
  for (const n of [nsSkein, nsIp]) {
    try {
      netnsDel(n);
    } catch { /* not created */ }
  }
};
cleanupOnInterrupt(deleteNamespaces);
const best = {
  skeinAdd: Infinity,
  skeinList: Infinity,
  skeinDel: Infinity,
  ipAdd: Infinity,
  ipList: Infinity,
  ipDel: Infinity,
};
try {
  setup(nsSkein);
  setup(nsIp);
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate who goes first so neither always runs on a warmer cache.
    const order = r % 2 === 0 ? ["skein", "ip"] : ["ip", "skein"];
    for (const who of order) {
      if (who === "skein") {
        const s = skeinRound(nsSkein);
        best.skeinAdd = Math.min(best.skeinAdd, s.add);
        best.skeinDel = Math.min(best.skeinDel, s.del);
        best.skeinList = Math.min(best.skeinList, s.list);
      } else {
        const i = ipRound(nsIp, addFile, delFile);
        best.ipAdd = Math.min(best.ipAdd, i.add);
        best.ipDel = Math.min(best.ipDel, i.del);
        best.ipList = Math.min(best.ipList, i.list);
      }
    }
  }
} finally {
  deleteNamespaces();
  Deno.removeSync(dir, { recursive: true });
}

const row = (what: string, s: number, i: number) =>
  `| ${what.padEnd(26)} | ${s.toFixed(1).padStart(9)} | ${i.toFixed(1).padStart(9)} | ${
    (s / i).toFixed(2).padStart(11)
  } |`;
console.log(`routes: ${N}, rounds: ${ROUNDS} (best of), namespaces: ${nsSkein} / ${nsIp}`);
console.log(`| ${"operation".padEnd(26)} | skein ms  |   ip ms   | skein/ip    |`);
console.log(`|${"-".repeat(28)}|-----------|-----------|-------------|`);
console.log(row(`install ${N}`, best.skeinAdd, best.ipAdd));
console.log(row(`delete ${N}`, best.skeinDel, best.ipDel));
console.log(row(`list ${N} (ip: -j + JSON)`, best.skeinList, best.ipList));
console.log(row("install + delete", best.skeinAdd + best.skeinDel, best.ipAdd + best.ipDel));
const ratio = (best.skeinAdd + best.skeinDel) / (best.ipAdd + best.ipDel);
console.log(`target skein/ip <= 1.25: ${ratio <= 1.25 ? "met" : "NOT met"} (${ratio.toFixed(2)})`);
