/**
 * Hostile datastore content and configs for the daemon: corrupt, mistyped, huge and misnamed
 * lease records, subnets outside the cluster network or overlapping this node's, a corrupt
 * lease file of its own, and hostile YAML (alias bombs, wrong types everywhere, huge). The
 * daemon logs and skips, never crashes, never hands a bad record to the backend (so never
 * programs a route for it) and never loses its own lease.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import { buildConfig, ConfigError } from "./config.ts";
import { NodeDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { FakeBackend, nodeHandle } from "../testing/fake_daemon_deps.ts";

async function waitFor(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const exp = () => new Date(Date.now() + 3600_000).toISOString();
const record = (o: Record<string, unknown>) =>
  JSON.stringify({
    PublicIP: "192.168.1.20",
    BackendType: "vxlan",
    BackendData: { VtepMAC: "0a:00:00:00:00:20" },
    Node: "n2",
    Expiration: exp(),
    ...o,
  });

Deno.test("daemon: hostile lease records are skipped; the backend sees only good ones; own lease kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skein-daemon-hostile-" });
  const ac = new AbortController();
  let done: Promise<void> | undefined;
  try {
    const cfg = buildConfig(`name: n1
network: 10.244.0.0/16
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store, ttl: 3}
iface: eth0
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 1
`);
    const subnets = `${dir}/store/subnets`;
    Deno.mkdirSync(subnets, { recursive: true });
    const w = (name: string, text: string | Uint8Array) =>
      typeof text === "string"
        ? Deno.writeTextFileSync(`${subnets}/${name}`, text)
        : Deno.writeFileSync(`${subnets}/${name}`, text);
    // The good one.
    w("10.244.5.0-24.json", record({ Node: "n5", PublicIP: "192.168.1.50" }));
    // Garbage of every kind.
    w("10.244.6.0-24.json", "{garbage");
    w("10.244.7.0-24.json", crypto.getRandomValues(new Uint8Array(512)));
    w("10.244.8.0-24.json", JSON.stringify([1, 2, 3]));
    w("10.244.9.0-24.json", record({ PublicIP: 7 }));
    w("10.244.10.0-24.json", record({ BackendData: "x" }));
    w("10.244.11.0-24.json", record({ Expiration: { a: 1 } }));
    w("10.244.12.0-24.json", record({ Subnet: "10.244.99.0/24" }));
    w("10.244.13.0-24.json", "{" + '"a":'.repeat(50_000) + "1" + "}".repeat(50_001));
    w("10.244.14.0-24.json", `{"PublicIP":"${"9".repeat(20 << 20)}"}`); // 20 MB
    w("notes.txt", "hello");
    w("not-a-subnet.json", record({}));
    w("10.244.300.0-24.json", record({}));
    Deno.mkdirSync(`${subnets}/10.244.15.0-24.json`);
    Deno.symlinkSync("/etc/passwd", `${subnets}/10.244.16.0-24.json`);
    // Well-formed records that must never become routes.
    w("10.99.0.0-24.json", record({ Node: "outside" })); // outside the cluster network
    w("0.0.0.0-0.json", record({ Node: "default" })); // would be a default route
    w("192.168.1.0-24.json", record({ Node: "lan" })); // the uplink's own LAN
    w("10.244.0.0-16.json", record({ Node: "whole" })); // the whole network, overlaps n1
    w("10.244.4.0-23.json", record({ Node: "wide" })); // wrong prefix length
    const logs: string[] = [];
    const warnings: string[] = [];
    const backends: FakeBackend[] = [];
    const daemon = new NodeDaemon({
      config: cfg,
      store: new FileStore({
        dir: `${dir}/store`,
        pollIntervalMs: 20,
        onWarning: (msg, f) => warnings.push(`${msg} ${JSON.stringify(f)}`),
      }),
      openHandle: () => nodeHandle(),
      createBackend: (o) => {
        const b = new FakeBackend(o);
        backends.push(b);
        return b;
      },
      ensureMasquerade: () => {},
      log: createLogger("debug", (l) => logs.push(l)),
      backoff: { minMs: 20, maxMs: 100 },
      debounceMs: 5,
    });
    done = daemon.run(ac.signal);
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const own = daemon.lease?.subnet;
    assert(own && own.startsWith("10.244.") && own.endsWith("/24"), `own lease ${own}`);
    const asked = backends.at(-1)!.last!;
    assertEquals(asked, ["10.244.5.0/24"], "only the good record reaches the backend");
    // Later garbage written while running: still skipped, own lease still there.
    w("10.244.20.0-24.json", "\u0000\u0001");
    w("10.244.21.0-24.json", record({ Node: "late" }));
    await waitFor("the late good lease", () => backends.at(-1)!.last!.includes("10.244.21.0/24"));
    assertEquals(backends.at(-1)!.last, ["10.244.21.0/24", "10.244.5.0/24"]);
    // A corrupt lease file of its own is rewritten, not trusted.
    Deno.writeTextFileSync(cfg.leaseFile, "{corrupt");
    await waitFor("lease file rewritten", () => {
      try {
        return JSON.parse(Deno.readTextFileSync(cfg.leaseFile)).subnet === own;
      } catch {
        return false;
      }
    });
    assertEquals(daemon.lease?.subnet, own);
    for (const sub of ["0.0.0.0/0", "10.99.0.0/24", "192.168.1.0/24", "10.244.0.0/16"]) {
      assert(
        logs.some((l) => l.includes("lease not programmed") && l.includes(sub)),
        `the skipped record ${sub} is logged`,
      );
    }
    assertEquals(warnings.length >= 10, true, `bad records reported: ${warnings.length}`);
  } finally {
    ac.abort();
    await done?.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("daemon config: hostile YAML is a ConfigError, never a crash or a hang", () => {
  const base = "name: n1\nnetwork: 10.244.0.0/16\n";
  const laughs = [
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]",
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]",
  ].join("\n");
  const cases: [string, string][] = [
    ["billion laughs", laughs],
    ["alias bomb in a known field", `${laughs}\nnetwork: *i`],
    ["network a list", "name: n1\nnetwork: [1, 2]"],
    ["network a number", "name: n1\nnetwork: 10"],
    ["name a map", "name: {a: 1}\nnetwork: 10.244.0.0/16"],
    ["backend a string", `${base}backend: vxlan`],
    ["backend.type a list", `${base}backend: {type: [vxlan]}`],
    ["datastore a list", `${base}datastore: [file]`],
    ["datastore.ttl a string", `${base}datastore: {type: file, dir: /tmp/x, ttl: soon}`],
    ["ttl negative", `${base}datastore: {type: file, dir: /tmp/x, ttl: -5}`],
    ["reconcileInterval huge", `${base}reconcileInterval: 1e400`],
    ["reconcileInterval NaN", `${base}reconcileInterval: .nan`],
    ["ipMasq a string", `${base}ipMasq: maybe`],
    ["mtu a map", `${base}mtu: {a: 1}`],
    ["iface a number", `${base}iface: 5`],
    ["listen garbage", `${base}listen: "::::::"`],
    ["top-level list", "- a\n- b"],
    ["top-level string", "hello"],
    ["unknown field", `${base}bogus: 1`],
    ["tabs and junk", "name:\t\x00\x01: ]["],
    ["huge", `${base}junk: "${"x".repeat(10 << 20)}"`],
    ["deep", `${base}backend: ${"[".repeat(5000)}${"]".repeat(5000)}`],
  ];
  for (const [what, yaml] of cases) {
    const t = performance.now();
    let err: unknown;
    try {
      buildConfig(yaml);
    } catch (e) {
      err = e;
    }
    assert(err instanceof ConfigError, `${what}: ${err}`);
    assert(performance.now() - t < 5000, `${what} took too long`);
  }
});

Deno.test("daemon lease files: a symlink planted at the temporary name is not written through", async () => {
  const { atomicWriteFile } = await import("../node/atomic_write.ts");
  const dir = await Deno.makeTempDir({ prefix: "skein-daemon-hostile-" });
  try {
    Deno.writeTextFileSync(`${dir}/victim`, "precious");
    Deno.symlinkSync(`${dir}/victim`, `${dir}/.subnet.json.${Deno.pid}.tmp`);
    Deno.symlinkSync(`${dir}/victim`, `${dir}/subnet.json`);
    atomicWriteFile(`${dir}/subnet.json`, '{"subnet":"10.244.1.0/24"}\n');
    assertEquals(Deno.readTextFileSync(`${dir}/victim`), "precious");
    assertEquals(JSON.parse(Deno.readTextFileSync(`${dir}/subnet.json`)).subnet, "10.244.1.0/24");
    assert(!Deno.lstatSync(`${dir}/subnet.json`).isSymlink);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
