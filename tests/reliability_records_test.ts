/**
 * Malformed datastore records (issue 13 item 4) against the real daemon and file store: truncated
 * JSON, wrong types, a subnet outside the network, a /0, a huge value and a foreign key are each
 * skipped with a log line and counted in `skein_leases_invalid_total`; this node's own record
 * rewritten for another node (or with garbage) is restored by the next renewal, same subnet; the
 * daemon keeps running and `ip monitor route` shows the valid peer route never deleted. Root
 * needed (two namespaces).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { parsePrometheus } from "../testing/prom_parse.ts";
import { FileStore } from "../store/file.ts";
import { withNamespaces } from "./_netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function ip(ns: string, ...args: string[]): string {
  const out = new Deno.Command("ip", {
    args: ["-n", ns.replace("/run/netns/", ""), ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    return { status: 0, body: (e as Error).message };
  }
}

async function waitFor<T>(what: string, fn: () => T | Promise<T>, log: () => string): Promise<T> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}\n${log()}`);
}

/** Collects a child's output lines (stderr or stdout). */
function lines(stream: ReadableStream<Uint8Array>): string[] {
  const out: string[] = [];
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      out.push(...chunk.split("\n").filter((l) => l));
    }
  })().catch(() => {});
  return out;
}

Deno.test("malformed datastore records are skipped, logged and counted; the daemon and valid routes stay", async () => {
  await withNamespaces(["a", "b"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-records-it-" });
    const children: Deno.ChildProcess[] = [];
    try {
      ip(ns.a!, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.b!);
      ip(ns.a!, "addr", "add", "192.168.79.1/24", "dev", "eth0");
      ip(ns.b!, "addr", "add", "192.168.79.2/24", "dev", "eth0");
      for (const n of [ns.a!, ns.b!]) ip(n, "link", "set", "eth0", "up");
      const port = freePort();
      const cfg = `${dir}/daemon.yaml`;
      Deno.writeTextFileSync(
        cfg,
        `name: node-a\nnetwork: 10.247.0.0/16\nbackend: {type: host-gw}\n` +
          `datastore: {type: file, dir: ${dir}/store, ttl: 60}\niface: eth0\nnetns: ${ns.a}\n` +
          `listen: 127.0.0.1:${port}\nleaseFile: ${dir}/run/subnet.json\n` +
          `subnetEnv: ${dir}/run/subnet.env\nstateDir: ${dir}/state\nreconcileInterval: 1\n`,
      );
      const daemon = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-prompt", MAIN, "daemon", "--config", cfg],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      children.push(daemon);
      const log = lines(daemon.stderr);
      const logText = () => log.join("\n");
      await waitFor(
        "ready",
        async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200,
        logText,
      );
      const store = new FileStore({ dir: `${dir}/store` });
      const b = await store.acquire({
        node: "node-b",
        publicIP: "192.168.79.2",
        backendType: "host-gw",
        ttlSeconds: 600,
      });
      const routeToB = () =>
        (JSON.parse(ip(ns.a!, "-j", "route", "show", "proto", "100") || "[]") as { dst: string }[])
          .some((r) => r.dst === b.subnet);
      await waitFor("route to node-b", routeToB, logText);
      // Watch every route change from here on.
      const monitor = new Deno.Command("ip", {
        args: ["-n", ns.a!.replace("/run/netns/", ""), "monitor", "route"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      children.push(monitor);
      const changes = lines(monitor.stdout);
      await new Promise((r) => setTimeout(r, 300));

      const subnets = `${dir}/store/subnets`;
      const valid = JSON.parse(
        Deno.readTextFileSync(`${subnets}/${b.subnet.replace("/", "-")}.json`),
      );
      const rec = (o: Record<string, unknown>) => JSON.stringify({ ...valid, ...o });
      const bad: Record<string, string> = {
        "10.247.5.0-24": rec({ Subnet: "10.247.5.0/24" }).slice(0, 40), // truncated JSON
        "10.247.6.0-24": rec({ Subnet: "10.247.6.0/24", PublicIP: 12, Node: ["x"] }), // wrong types
        "10.247.7.0-24": rec({ Subnet: "10.247.7.0/24", BackendData: { x: "a".repeat(1 << 20) } }),
        "garbage": rec({ Subnet: undefined }), // a foreign key
        "10.99.0.0-24": rec({ Subnet: "10.99.0.0/24", Node: "outside" }), // outside the network
        "0.0.0.0-0": rec({ Subnet: "0.0.0.0/0", Node: "default-route" }), // would be a default route
      };
      for (const [key, text] of Object.entries(bad)) {
        Deno.writeTextFileSync(`${subnets}/${key}.json`, text);
      }

      const m = await waitFor("the invalid-record metric", async () => {
        const p = parsePrometheus((await get(`http://127.0.0.1:${port}/metrics`)).body);
        const undecodable = p.get('skein_leases_invalid_total{reason="undecodable"}') ?? 0;
        const outside = p.get('skein_leases_invalid_total{reason="outside-network"}') ?? 0;
        return undecodable >= 4 && outside >= 2 ? p : undefined;
      }, logText);
      assertEquals(m!.get("skein_datastore_up"), 1);
      for (const key of ["10.247.5.0-24", "10.247.6.0-24", "10.247.7.0-24", "garbage"]) {
        await waitFor(
          `a log line for ${key}`,
          () => log.some((l) => l.includes("skipping bad lease record") && l.includes(key)),
          logText,
        );
      }
      for (const subnet of ["10.99.0.0/24", "0.0.0.0/0"]) {
        await waitFor(
          `a log line for ${subnet}`,
          () => log.some((l) => l.includes("lease not programmed") && l.includes(subnet)),
          logText,
        );
      }
      // A few more reconciles (1 s interval) with the bad records in place.
      await new Promise((r) => setTimeout(r, 2_500));
      assertEquals((await get(`http://127.0.0.1:${port}/healthz`)).status, 200, "daemon alive");
      assertEquals((await get(`http://127.0.0.1:${port}/readyz`)).status, 200, logText());
      assert(routeToB(), "the valid route is still there");
      const routes = JSON.parse(ip(ns.a!, "-j", "route", "show", "proto", "100")) as {
        dst: string;
      }[];
      assertEquals(routes.map((r) => r.dst), [b.subnet], "no route for any bad record");
      // This node's own record overwritten for another node, then with garbage: the next
      // renewal (woken by the change) puts it back; the subnet stays.
      const own = JSON.parse(Deno.readTextFileSync(`${dir}/run/subnet.json`)).subnet as string;
      const ownFile = `${subnets}/${own.replace("/", "-")}.json`;
      const mine = Deno.readTextFileSync(ownFile);
      for (const [i, text] of [rec({ Subnet: own, Node: "evil" }), "{garbage"].entries()) {
        Deno.writeTextFileSync(ownFile, text);
        await waitFor("the own record restored", () => {
          try {
            return JSON.parse(Deno.readTextFileSync(ownFile)).Node === "node-a";
          } catch {
            return false;
          }
        }, logText);
        const p = parsePrometheus((await get(`http://127.0.0.1:${port}/metrics`)).body);
        assert(
          (p.get('skein_leases_invalid_total{reason="claims-own-subnet"}') ?? 0) >= i + 1,
          `counted (${i}):\n${logText()}`,
        );
      }
      assert(log.some((l) => l.includes("claimed this node's live subnet; restored")), logText());
      assertEquals(JSON.parse(Deno.readTextFileSync(`${dir}/run/subnet.json`)).subnet, own);
      assertEquals(JSON.parse(Deno.readTextFileSync(ownFile)).PublicIP, JSON.parse(mine).PublicIP);
      assert(routeToB(), "the valid route is still there");
      const deleted = changes.filter((l) => l.startsWith("Deleted"));
      assertEquals(deleted, [], "route deletions seen by ip monitor");
    } finally {
      for (const c of children) {
        try {
          c.kill("SIGTERM");
        } catch { /* exited */ }
        await c.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
});
