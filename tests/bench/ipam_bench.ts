/**
 * IPAM benchmarks against Debian's reference host-local, in the same run:
 * - one plugin process doing ADD then DEL (skein: `deno run tests/ipam_worker.ts`, so this
 *   includes Deno start-up; host-local: the Go binary), on a network that already holds 200
 *   reservations (both implementations read every reservation file on ADD and DEL);
 * - two empty Deno processes, to show how much of skein's process time is Deno start-up;
 * - skein's allocator alone, in-process (no process start-up), on the same state.
 *
 * Run: `deno bench -A --no-prompt tests/bench/ipam_bench.ts`. The summary prints skein's time as a
 * ratio of host-local's (the baseline).
 *
 * @module
 */
import { ipamAdd, ipamDel, parseIpamConfig } from "../../cni/ipam/mod.ts";
import { hasHostLocal, runHostLocal, runSkein } from "../ipam_helpers.ts";

const dataDir = Deno.makeTempDirSync({ prefix: "skein-ipam-bench-" });
const ipam = { dataDir, ranges: [[{ subnet: "10.55.0.0/16" }]] };
const skeinConf = {
  cniVersion: "1.1.0",
  name: "bench",
  type: "skein",
  ipam: { type: "skein", ...ipam },
};
const hlConf = {
  cniVersion: "1.0.0",
  name: "bench",
  type: "bridge",
  ipam: { type: "host-local", ...ipam },
};
const config = await parseIpamConfig(skeinConf);
for (let i = 0; i < 200; i++) await ipamAdd({ config, containerId: `fill${i}`, ifName: "eth0" });
globalThis.addEventListener("unload", () => Deno.removeSync(dataDir, { recursive: true }));

let n = 0;

Deno.bench({
  name: "host-local process: ADD + DEL",
  group: "process",
  baseline: true,
  ignore: !hasHostLocal(),
  async fn() {
    const id = `hl${n++}`;
    const a = await runHostLocal({ cmd: "ADD", id, netconf: hlConf });
    if (a.code !== 0) throw new Error(a.stdout);
    const d = await runHostLocal({ cmd: "DEL", id, netconf: hlConf });
    if (d.code !== 0) throw new Error(d.stdout);
  },
});

Deno.bench({
  name: "skein process (deno run): ADD + DEL",
  group: "process",
  async fn() {
    const id = `sk${n++}`;
    const a = await runSkein({ op: "add", id, input: skeinConf });
    if (a.code !== 0) throw new Error(a.stdout);
    const d = await runSkein({ op: "del", id, input: skeinConf });
    if (d.code !== 0) throw new Error(d.stdout);
  },
});

Deno.bench({
  name: "two empty deno processes (start-up cost only)",
  group: "process",
  async fn() {
    for (let i = 0; i < 2; i++) {
      const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "0"] }).output();
      if (!out.success) throw new Error("deno eval failed");
    }
  },
});

Deno.bench({
  name: "skein in-process: ADD + DEL",
  group: "in-process",
  async fn() {
    const id = `ip${n++}`;
    await ipamAdd({ config, containerId: id, ifName: "eth0" });
    await ipamDel({ config, containerId: id, ifName: "eth0" });
  },
});
