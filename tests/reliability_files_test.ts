/**
 * Files and endpoints (issue 13 item 5), with the real daemon and the real IPAM run under
 * `umask 000` (the worst case: every mode skein does not set itself would be world-writable):
 * lease file and subnet.env 0644 in a 0755 directory, file-store directories 0755 and records
 * 0644, IPAM directory 0755 and its files 0644; the HTTP endpoint listens on 127.0.0.1 only and
 * stays bounded: a huge request head gets 431, 60 slowloris/idle clients are closed by the head
 * deadline and never keep /healthz from answering. Root needed (one namespace).
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { buildConfig } from "../daemon/config.ts";
import { withNamespaces } from "./_netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const WORKER = new URL("./ipam_worker.ts", import.meta.url).pathname;

function sh(args: string[]): string {
  const out = new Deno.Command(args[0]!, { args: args.slice(1), stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

function mode(path: string): string {
  return (Deno.statSync(path).mode! & 0o7777).toString(8).padStart(4, "0");
}

/** Every file and directory under `dir` (itself included) → its mode, for the messages. */
function modes(dir: string, out: Record<string, string> = {}): Record<string, string> {
  out[dir] = mode(dir);
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) modes(p, out);
    else if (e.isFile) out[p] = mode(p);
  }
  return out;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function status(url: string, ms = 2_000): Promise<number> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await r.body?.cancel();
    return r.status;
  } catch {
    return 0;
  }
}

async function rawExchange(port: number, text: string): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await c.write(new TextEncoder().encode(text)).catch(() => 0);
    const buf = new Uint8Array(256);
    const n = await c.read(buf).catch(() => null);
    return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
  } finally {
    c.close();
  }
}

Deno.test("files are never world-writable under umask 000; the endpoint is loopback-only and bounded", async () => {
  // Unless configured, the endpoint is on loopback.
  const defaults = buildConfig("name: n\nnetwork: 10.0.0.0/16\n");
  assert(defaults.listen.startsWith("127.0.0.1:"), `default listen ${defaults.listen}`);
  await withNamespaces(["a"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-files-it-" });
    let child: Deno.ChildProcess | undefined;
    try {
      const n = ns.a!.replace("/run/netns/", "");
      sh(["ip", "-n", n, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
      sh(["ip", "-n", n, "addr", "add", "192.168.78.1/24", "dev", "eth0"]);
      sh(["ip", "-n", n, "link", "set", "eth0", "up"]);
      const port = freePort();
      const cfg = `${dir}/daemon.yaml`;
      Deno.writeTextFileSync(
        cfg,
        `name: node-a\nnetwork: 10.246.0.0/16\nbackend: {type: host-gw}\n` +
          `datastore: {type: file, dir: ${dir}/store, ttl: 60}\niface: eth0\nnetns: ${ns.a}\n` +
          `listen: 127.0.0.1:${port}\nleaseFile: ${dir}/run/subnet.json\n` +
          `subnetEnv: ${dir}/run/subnet.env\nstateDir: ${dir}/state\n`,
      );
      child = new Deno.Command("sh", {
        args: [
          "-c",
          `umask 000; exec "$0" run -A --no-prompt "$1" daemon --config "$2"`,
          Deno.execPath(),
          MAIN,
          cfg,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const end = Date.now() + 30_000;
      while ((await status(`http://127.0.0.1:${port}/readyz`)) !== 200) {
        assert(Date.now() < end, "daemon not ready in 30 s");
        await new Promise((r) => setTimeout(r, 200));
      }
      // IPAM, as a CNI call would run it, under the same umask.
      const conf = {
        cniVersion: "1.1.0",
        name: "files",
        type: "skein",
        ipam: { type: "skein", dataDir: `${dir}/ipam`, subnet: "10.246.9.0/24" },
      };
      const ipam = new Deno.Command("sh", {
        args: [
          "-c",
          `umask 000; exec "$0" run -A --no-prompt "$1" add c1 eth0`,
          Deno.execPath(),
          WORKER,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = ipam.stdin.getWriter();
      await w.write(new TextEncoder().encode(JSON.stringify(conf)));
      await w.close();
      assert((await ipam.output()).success, "IPAM ADD under umask 000");

      const all = { ...modes(`${dir}/run`), ...modes(`${dir}/store`), ...modes(`${dir}/ipam`) };
      const worldWritable = Object.entries(all).filter(([, m]) => (parseInt(m, 8) & 0o002) !== 0);
      assertEquals(worldWritable, [], "world-writable files or directories");
      assertEquals(mode(`${dir}/run/subnet.json`), "0644");
      assertEquals(mode(`${dir}/run/subnet.env`), "0644");
      assertEquals(mode(`${dir}/run`), "0755");
      assertEquals(mode(`${dir}/store/subnets`), "0755");
      for (const e of Deno.readDirSync(`${dir}/store/subnets`)) {
        assertEquals(mode(`${dir}/store/subnets/${e.name}`), "0644", e.name);
      }
      assertEquals(mode(`${dir}/ipam/files`), "0755");
      for (const f of ["10.246.9.2", "lock", "last_reserved_ip.0"]) {
        assertEquals(mode(`${dir}/ipam/files/${f}`), "0644", f);
      }

      // Listening sockets of the daemon: 127.0.0.1 only.
      const listening = sh(["ss", "-ltnpH"]).split("\n").filter((l) =>
        l.includes(`pid=${child!.pid},`)
      );
      assert(listening.length > 0, "the daemon listens");
      for (const l of listening) {
        assert(/\s127\.0\.0\.1:\d+\s/.test(l), `listens beyond loopback: ${l}`);
      }

      // Bounded requests: a 1 MiB head is refused, slowloris and idle clients do not hold it.
      const big = await rawExchange(
        port,
        `GET /healthz HTTP/1.1\r\nX: ${"a".repeat(1 << 20)}\r\n\r\n`,
      );
      assert(big === "" || big.startsWith("HTTP/1.1 431"), `huge head: ${big.slice(0, 40)}`);
      const hogs = await Promise.all(
        Array.from({ length: 60 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
      );
      const closedAt: number[] = [];
      const t0 = Date.now();
      const watchers = hogs.map(async (c, i) => {
        if (i % 2 === 0) await c.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\n"));
        await c.read(new Uint8Array(64)).catch(() => null);
        closedAt.push(Date.now() - t0);
      });
      for (let k = 0; k < 10; k++) {
        // Trickle a header line into every other connection; /healthz answers meanwhile.
        await Promise.all(
          hogs.map((c, i) =>
            i % 2 === 0 ? c.write(new TextEncoder().encode(`X-${k}: y\r\n`)).catch(() => 0) : 0
          ),
        );
        assertEquals(await status(`http://127.0.0.1:${port}/healthz`), 200, `healthz at ${k}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      await Promise.race([Promise.all(watchers), new Promise((r) => setTimeout(r, 10_000))]);
      assertEquals(closedAt.length, 60, "the server closed every slow or idle connection");
      assert(Math.max(...closedAt) < 12_000, `closed after ${Math.max(...closedAt)} ms`);
      for (const c of hogs) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    } finally {
      if (child) {
        try {
          child.kill("SIGTERM");
        } catch { /* exited */ }
        await child.status;
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
});
