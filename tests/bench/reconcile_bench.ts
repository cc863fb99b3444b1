/**
 * Reconcile benchmark: skein's host-gw reconcile of 1,000 and 5,000 simulated remote leases in one
 * fresh namespace, against `ip -batch` installing (and deleting) the same routes in the same run;
 * plus the no-op second reconcile (what a restart or a periodic tick costs). Also vxlan (3 kernel
 * entries per lease: neighbour, FDB, route) against `ip -batch` + `bridge -batch`.
 *
 *   deno run -A tests/bench/reconcile_bench.ts [--sizes 1000,5000] [--no-vxlan]
 *
 * Needs root; creates and deletes one namespace named sk<random>-bench.
 *
 * @module
 */
import { formatIp, parseIp } from "../../net/cidr.ts";
import { openHandle } from "../../net/mod.ts";
import { createBackend } from "../../backends/mod.ts";
import type { Lease } from "../../store/types.ts";
import { cleanupOnInterrupt } from "../_netns.ts";

const args = Deno.args;
const sizesArg = args[args.indexOf("--sizes") + 1];
const sizes = args.includes("--sizes") && sizesArg ? sizesArg.split(",").map(Number) : [1000, 5000];
const withVxlan = !args.includes("--no-vxlan");
const ns = `sk${
  crypto.getRandomValues(new Uint16Array(1))[0]!.toString(16).padStart(4, "0")
}-bench`;
const nsPath = `/run/netns/${ns}`;

function run(cmd: string, a: string[], stdin?: string): void {
  if (stdin !== undefined) {
    const f = Deno.makeTempFileSync();
    try {
      Deno.writeTextFileSync(f, stdin);
      run(cmd, [...a, f]);
    } finally {
      Deno.removeSync(f);
    }
    return;
  }
  const out = new Deno.Command(cmd, { args: a, stdout: "null", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`${cmd} ${a.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

function countRoutes(): number {
  const out = new Deno.Command("ip", {
    args: ["-n", ns, "route", "show", "proto", "100"],
    stdout: "piped",
  })
    .outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).length;
}

function leasesOf(n: number): Lease[] {
  const base = parseIp("10.0.0.0").value;
  return Array.from({ length: n }, (_, i) => ({
    subnet: `172.${16 + (i >> 8)}.${i & 255}.0/24`,
    publicIP: formatIp({ family: 4, value: base + 2n + BigInt(i) }),
    node: `n${i}`,
    backendType: "",
    backendData: {
      vtepMAC: `0a:00:00:${((i >> 16) & 255).toString(16).padStart(2, "0")}:${
        ((i >> 8) & 255).toString(16).padStart(2, "0")
      }:${(i & 255).toString(16).padStart(2, "0")}`,
    },
    expiration: "2099-01-01T00:00:00Z",
  }));
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

const self: Lease = {
  subnet: "10.244.0.0/24",
  publicIP: "10.0.0.1",
  node: "self",
  backendType: "",
  expiration: "2099-01-01T00:00:00Z",
};

run("ip", ["netns", "add", ns]);
cleanupOnInterrupt(() => run("ip", ["netns", "del", ns]));
try {
  // No dummy module in this kernel: the uplink is a veth whose peer stays in the namespace.
  run("ip", ["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  run("ip", ["-n", ns, "link", "set", "eth0p", "up"]);
  run("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  run("ip", ["-n", ns, "addr", "add", "10.0.0.1/16", "dev", "eth0"]);
  const idx = JSON.parse(
    new TextDecoder().decode(
      new Deno.Command("ip", { args: ["-n", ns, "-j", "link", "show", "eth0"], stdout: "piped" })
        .outputSync().stdout,
    ),
  )[0].ifindex as number;
  using handle = openHandle({ netns: nsPath });
  const uplink = { name: "eth0", index: idx, mtu: 1500 };
  const hostgw = createBackend({
    type: "host-gw",
    handle,
    netns: nsPath,
    uplink,
    publicIP: "10.0.0.1",
    node: "self",
  });
  hostgw.setup();
  // Warm up both paths (JIT, page cache for the ip binary).
  hostgw.reconcile(leasesOf(200), self);
  hostgw.reconcile([], self);
  run(
    "ip",
    ["-n", ns, "-batch"],
    leasesOf(200).map((l) => `route replace ${l.subnet} via ${l.publicIP} dev eth0 proto 100\n`)
      .join(""),
  );
  run(
    "ip",
    ["-n", ns, "-batch"],
    leasesOf(200).map((l) => `route del ${l.subnet} via ${l.publicIP} dev eth0 proto 100\n`).join(
      "",
    ),
  );

  console.log(`$ deno run -A tests/bench/reconcile_bench.ts ${args.join(" ")}`.trim());
  console.log(
    "reference: ip -n NS -batch FILE with `route replace <subnet> via <IP> dev eth0 proto 100` lines",
  );
  console.log(`\nhost-gw, one namespace (${ns}), times in ms (best of 3)`);
  console.log(
    "leases | skein add | ip -batch add | ratio | skein no-op | skein del | ip -batch del | ratio",
  );
  for (const n of sizes) {
    const leases = leasesOf(n);
    const addScript = leases.map((l) =>
      `route replace ${l.subnet} via ${l.publicIP} dev eth0 proto 100\n`
    ).join("");
    const delScript = leases.map((l) =>
      `route del ${l.subnet} via ${l.publicIP} dev eth0 proto 100\n`
    ).join("");
    const best = { sAdd: Infinity, iAdd: Infinity, noop: Infinity, sDel: Infinity, iDel: Infinity };
    for (let rep = 0; rep < 3; rep++) {
      let rep1 = hostgw.reconcile([], self);
      best.sAdd = Math.min(best.sAdd, time(() => (rep1 = hostgw.reconcile(leases, self))));
      if (rep1.errors.length || countRoutes() !== n) {
        throw new Error(`skein installed ${countRoutes()}/${n}: ${rep1.errors[0]}`);
      }
      best.noop = Math.min(best.noop, time(() => (rep1 = hostgw.reconcile(leases, self))));
      if (rep1.added || rep1.removed) throw new Error("no-op reconcile changed something");
      best.sDel = Math.min(best.sDel, time(() => (rep1 = hostgw.reconcile([], self))));
      if (countRoutes() !== 0) throw new Error("skein left routes");
      best.iAdd = Math.min(best.iAdd, time(() => run("ip", ["-n", ns, "-batch"], addScript)));
      if (countRoutes() !== n) throw new Error("ip -batch did not install every route");
      best.iDel = Math.min(best.iDel, time(() => run("ip", ["-n", ns, "-batch"], delScript)));
    }
    const f = (x: number) => x.toFixed(1).padStart(9);
    console.log(
      `${String(n).padStart(6)} |${f(best.sAdd)}  |${f(best.iAdd)}      | ${
        (best.sAdd / best.iAdd).toFixed(2)
      }  |${f(best.noop)}    |${f(best.sDel)}  |${f(best.iDel)}      | ${
        (best.sDel / best.iDel).toFixed(2)
      }`,
    );
  }

  if (withVxlan) {
    const vx = createBackend({
      type: "vxlan",
      handle,
      netns: nsPath,
      uplink,
      publicIP: "10.0.0.1",
      node: "self",
    });
    vx.setup();
    console.log(`\nvxlan (neighbour + FDB + route per lease), times in ms (best of 3)`);
    console.log("leases | skein add | ip+bridge -batch add | ratio | skein no-op");
    for (const n of sizes) {
      const leases = leasesOf(n);
      const first = (l: Lease) => l.subnet.replace(/\/24$/, "");
      const neigh = leases.map((l) =>
        `neigh replace ${first(l)} lladdr ${l.backendData!.vtepMAC} dev skein.1 nud permanent\n`
      ).join("");
      const fdb = leases.map((l) =>
        `fdb replace ${l.backendData!.vtepMAC} dev skein.1 dst ${l.publicIP} self permanent\n`
      ).join("");
      const route = leases.map((l) =>
        `route replace ${l.subnet} via ${first(l)} dev skein.1 onlink proto 100\n`
      ).join("");
      const best = { sAdd: Infinity, iAdd: Infinity, noop: Infinity };
      for (let rep = 0; rep < 3; rep++) {
        let r = vx.reconcile([], self);
        best.sAdd = Math.min(best.sAdd, time(() => (r = vx.reconcile(leases, self))));
        if (r.errors.length || countRoutes() !== n) {
          throw new Error(`vxlan: ${countRoutes()}/${n}: ${r.errors[0]}`);
        }
        best.noop = Math.min(best.noop, time(() => (r = vx.reconcile(leases, self))));
        if (r.added || r.removed) throw new Error("vxlan no-op reconcile changed something");
        vx.reconcile([], self);
        best.iAdd = Math.min(
          best.iAdd,
          time(() => {
            run("ip", ["-n", ns, "-batch"], neigh);
            run("ip", ["netns", "exec", ns, "bridge", "-batch"], fdb);
            run("ip", ["-n", ns, "-batch"], route);
          }),
        );
        if (countRoutes() !== n) throw new Error("ip -batch did not install every vxlan route");
        run("ip", ["-n", ns, "link", "del", "skein.1"]);
        vx.setup();
      }
      const f = (x: number) => x.toFixed(1).padStart(9);
      console.log(
        `${String(n).padStart(6)} |${f(best.sAdd)}  |${f(best.iAdd)}             | ${
          (best.sAdd / best.iAdd).toFixed(2)
        }  |${f(best.noop)}`,
      );
    }
  }
} finally {
  run("ip", ["netns", "del", ns]);
}
