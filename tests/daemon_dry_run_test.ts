/**
 * `skein daemon --dry-run` as a real process (root): it prints the plan for the leases in the
 * datastore and exits, and the namespace, the datastore and the daemon's files are exactly as
 * before: no lease taken, no route, device, sysctl or file made.
 *
 * Topology: namespaces "a" and "b" joined by a veth pair (a: eth0 192.168.79.1/24, b: eth0
 * 192.168.79.2/24). node-b's lease is in the file store; node-a has none.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { withNamespaces } from "./_netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function ip(...args: string[]): string {
  const out = new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

// deno-lint-ignore no-explicit-any
type Json = any;

/**
 * Everything a dry run must leave alone: the namespace's links, addresses, routes, neighbours and
 * forwarding sysctl, and the files under dir. Only what a change would touch is compared (carrier
 * and operstate flags settle on their own after a link comes up).
 */
function state(ns: string, dir: string): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else files.push(`${p} ${Deno.statSync(p).mtime?.getTime()} ${Deno.readTextFileSync(p)}`);
    }
  };
  walk(dir);
  const j = (...args: string[]): Json[] => JSON.parse(ip("-n", ns, "-j", ...args) || "[]");
  return [
    ...j("-d", "link").map((l) =>
      `link ${l.ifname} ${l.linkinfo?.info_kind} ${l.mtu} ${l.address} ${l.flags.includes("UP")}`
    ),
    ...j("addr").flatMap((l) =>
      l.addr_info.map((a: Json) => `addr ${l.ifname} ${a.local}/${a.prefixlen}`)
    ),
    ...["-4", "-6"].flatMap((f) =>
      j(f, "route", "show", "table", "all").map((r) =>
        `route ${r.table} ${r.type} ${r.dst} ${r.gateway} ${r.dev} ${r.protocol} ${r.scope}`
      )
    ),
    ...j("neigh").map((n) => `neigh ${n.dst} ${n.lladdr} ${n.dev}`),
    ip("netns", "exec", ns, "sysctl", "net.ipv4.ip_forward"),
    ...files.sort(),
  ].join("\n");
}

async function dryRun(cfg: string, ...flags: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", MAIN, "daemon", "--config", cfg, "--dry-run", ...flags],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("skein daemon --dry-run prints the plan and changes nothing (host-gw, vxlan, --json)", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-dry-run-it-" });
    try {
      const [a, b] = [nameOf(ns.a!), nameOf(ns.b!)];
      // No IPv6 autoconfiguration: its link-local addresses and routes change on their own.
      for (const k of ["all", "default"]) {
        ip("netns", "exec", a, "sysctl", "-qw", `net.ipv6.conf.${k}.disable_ipv6=1`);
      }
      ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
      ip("-n", a, "addr", "add", "192.168.79.1/24", "dev", "eth0");
      ip("-n", b, "addr", "add", "192.168.79.2/24", "dev", "eth0");
      ip("-n", a, "link", "set", "eth0", "up");
      ip("-n", a, "link", "add", "skabcdef012345", "type", "veth", "peer", "name", "p0");
      ip("-n", a, "link", "set", "p0", "up");
      ip("-n", a, "link", "set", "skabcdef012345", "up");
      // A stale skein route (no lease needs it) and a pod route an older CNI plugin tagged 100.
      ip("-n", a, "route", "add", "10.244.9.0/24", "via", "192.168.79.9", "proto", "100");
      ip("-n", a, "route", "add", "10.244.7.5/32", "dev", "skabcdef012345", "proto", "100");
      const store = new FileStore({ dir: `${dir}/store` });
      await store.putNetworkConfigIfAbsent({
        network: "10.244.0.0/16",
        subnetLen: 24,
        backend: { type: "host-gw" },
      });
      await store.acquire({
        node: "node-b",
        publicIP: "192.168.79.2",
        backendType: "",
        backendData: { vtepMAC: "0a:00:00:00:00:02" },
        ttlSeconds: 600,
      });
      await store.close();
      const cfg = `${dir}/daemon.yaml`;
      await Deno.writeTextFile(
        cfg,
        `name: node-a
network: 10.244.0.0/16
backend: {type: host-gw}
datastore: {type: file, dir: ${dir}/store, ttl: 60}
iface: eth0
netns: ${ns.a}
listen: 127.0.0.1:1
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
`,
      );
      const before = state(a, dir);

      const hg = await dryRun(cfg);
      assertEquals(hg.code, 0, hg.stderr);
      const lines = hg.stdout.split("\n");
      assertStringIncludes(hg.stdout, "node node-a, backend host-gw, uplink eth0 (192.168.79.1");
      assertStringIncludes(hg.stdout, "lease: none for node-a in the datastore");
      assert(
        lines.includes(
          "  replace route 10.244.1.0/24 via 192.168.79.2 dev eth0 (missing; node-b 10.244.1.0/24)",
        ),
        hg.stdout,
      );
      assert(
        lines.includes("  delete route 10.244.9.0/24 via 192.168.79.9 dev eth0 (stale)"),
        hg.stdout,
      );
      assertStringIncludes(hg.stdout, "would re-tag pod route 10.244.7.5/32");
      assertEquals(state(a, dir), before);

      const vx = await dryRun(cfg, "--backend", "vxlan", "--json");
      assertEquals(vx.code, 0, vx.stderr);
      const j = JSON.parse(vx.stdout);
      assertEquals(j.lease, null);
      assertEquals(j.migrations, ["10.244.7.5/32"]);
      const ops = (j.ops as { kind: string; action: string; reason: string; text: string }[])
        .map((o) => o.text);
      assertEquals(ops, [
        "create link skein.1 type vxlan (created by the backend's setup) (missing)",
        "replace neigh 10.244.1.0 lladdr 0a:00:00:00:00:02 dev skein.1 (to be created) (missing; node-b 10.244.1.0/24)",
        "replace fdb 0a:00:00:00:00:02 dev skein.1 (to be created) dst 192.168.79.2 (missing; node-b 10.244.1.0/24)",
        "replace route 10.244.1.0/24 via 10.244.1.0 dev skein.1 (to be created) onlink (missing; node-b 10.244.1.0/24)",
        "delete route 10.244.9.0/24 via 192.168.79.9 dev eth0 (stale)",
      ]);
      assertEquals(state(a, dir), before);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
});
