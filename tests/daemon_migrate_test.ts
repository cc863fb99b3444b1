/**
 * Upgrade from a CNI plugin that tagged pod routes with the daemon's protocol 100 (root): a
 * routed-mode pod wired the old way keeps its route while `skein daemon` (a real process) starts
 * and re-tags it 101. A client namespace pings the pod every 5 ms through the node the whole
 * time: not one reply may be missing, `ip monitor route` must show the route replaced (never
 * "Deleted"), and `ip -j route` the new protocol afterwards.
 *
 * Topology: client (eth0 192.168.78.2/24) ─ veth ─ node (eth0 192.168.78.1/24; pod veth sk…)
 * ─ veth ─ pod (eth0 10.244.1.5/32, default via 169.254.1.1), as the routed CNI mode wires it.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const POD = "10.244.1.5";
const HOST_VETH = "skabcdef012345";

function ip(...args: string[]): string {
  const out = new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const nameOf = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/** A child process whose stdout lines are collected as they come. */
class Lines {
  readonly child: Deno.ChildProcess;
  lines: string[] = [];
  done: Promise<void>;
  constructor(cmd: string, args: string[]) {
    this.child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).spawn();
    const out = this.child.stdout.pipeThrough(new TextDecoderStream());
    const err = this.child.stderr.pipeThrough(new TextDecoderStream());
    const collect = async (s: ReadableStream<string>) => {
      let rest = "";
      for await (const chunk of s) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop()!;
        this.lines.push(...parts);
      }
      if (rest) this.lines.push(rest);
    };
    this.done = Promise.all([collect(out), collect(err)]).then(() => {});
  }
  async stop(signal: Deno.Signal): Promise<void> {
    try {
      this.child.kill(signal);
    } catch { /* already exited */ }
    await this.child.status;
    await this.done;
  }
}

function podRoute(node: string): { protocol?: string | number; dev?: string } | undefined {
  const rs = JSON.parse(ip("-n", node, "-j", "route", "show", `${POD}/32`) || "[]");
  return rs[0];
}

/** The icmp_seq numbers of the echo replies ping printed. */
function replies(lines: string[]): Set<number> {
  const seqs = new Set<number>();
  for (const l of lines) {
    const m = /bytes from .*icmp_seq=(\d+) ttl=/.exec(l);
    if (m) seqs.add(Number(m[1]));
  }
  return seqs;
}

async function waitFor(what: string, fn: () => boolean, log: () => string, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}\n${log()}`);
}

/** client, node and a routed-mode pod wired as the CNI plugin does, its route tagged 100. */
function wire(ns: Record<string, string>): void {
  const [client, node, pod] = [nameOf(ns.client!), nameOf(ns.node!), nameOf(ns.pod!)];
  ip("-n", client, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", node);
  ip("-n", node, "link", "add", HOST_VETH, "type", "veth", "peer", "name", "eth0", "netns", pod);
  ip("-n", client, "addr", "add", "192.168.78.2/24", "dev", "eth0");
  ip("-n", node, "addr", "add", "192.168.78.1/24", "dev", "eth0");
  ip("-n", pod, "addr", "add", `${POD}/32`, "dev", "eth0");
  for (const [n, dev] of [[client, "eth0"], [node, "eth0"], [node, HOST_VETH], [pod, "eth0"]]) {
    ip("-n", n!, "link", "set", dev!, "up");
    ip("-n", n!, "link", "set", "lo", "up");
  }
  ip("-n", client, "route", "add", "10.244.0.0/16", "via", "192.168.78.1");
  const hostMac = JSON.parse(ip("-n", node, "-j", "link", "show", HOST_VETH))[0].address;
  const podMac = JSON.parse(ip("-n", pod, "-j", "link", "show", "eth0"))[0].address;
  ip("-n", pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link");
  ip("-n", pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0");
  ip(
    "-n",
    pod,
    "neigh",
    "replace",
    "169.254.1.1",
    "lladdr",
    hostMac,
    "dev",
    "eth0",
    "nud",
    "permanent",
  );
  ip("-n", node, "neigh", "replace", POD, "lladdr", podMac, "dev", HOST_VETH, "nud", "permanent");
  // The old plugin's host route: protocol 100, no gateway.
  ip("-n", node, "route", "add", `${POD}/32`, "dev", HOST_VETH, "scope", "link", "proto", "100");
  ip("netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1");
}

Deno.test("daemon start re-tags an old pod route 100 → 101 in place: 0 pings lost, no Deleted", async () => {
  await withNamespaces(["client", "node", "pod"], async (ns) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-migrate-it-" });
    const procs: Lines[] = [];
    try {
      wire(ns);
      const node = nameOf(ns.node!);
      assertEquals(String(podRoute(node)?.protocol), "100");
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const listen = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
      l.close();
      await Deno.writeTextFile(
        `${dir}/daemon.yaml`,
        `name: node-a
network: 10.244.0.0/16
backend: {type: host-gw}
datastore: {type: file, dir: ${dir}/store, ttl: 60}
iface: eth0
netns: ${ns.node}
listen: ${listen}
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
logLevel: debug
`,
      );
      const monitor = new Lines("ip", ["-n", node, "monitor", "route"]);
      procs.push(monitor);
      const ping = new Lines("ip", [
        "netns",
        "exec",
        nameOf(ns.client!),
        "ping",
        "-n",
        "-i",
        "0.005",
        POD,
      ]);
      procs.push(ping);
      const log = () => `ping:\n${ping.lines.slice(-5).join("\n")}`;
      await waitFor(
        "pings through the node before the upgrade",
        () => replies(ping.lines).size >= 50,
        log,
      );
      const daemon = new Lines(Deno.execPath(), [
        "run",
        "-A",
        "--no-prompt",
        MAIN,
        "daemon",
        "--config",
        `${dir}/daemon.yaml`,
      ]);
      procs.push(daemon);
      const both = () => `${log()}\ndaemon:\n${daemon.lines.join("\n")}`;
      await waitFor(
        "the pod route re-tagged 101",
        () => String(podRoute(node)?.protocol) === "101",
        both,
      );
      const atMigration = Math.max(...replies(ping.lines));
      await waitFor("200 more replies after the upgrade", () => {
        return Math.max(...replies(ping.lines)) >= atMigration + 200;
      }, both);
      await ping.stop("SIGINT");
      await daemon.stop("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      await monitor.stop("SIGTERM");

      // Every echo request up to the last reply was answered (the last requests may still have
      // been in flight when ping was stopped).
      const got = replies(ping.lines);
      const last = Math.max(...got);
      const missing = [];
      for (let s = 1; s <= last; s++) if (!got.has(s)) missing.push(s);
      assertEquals(missing, [], `lost echo requests (of ${last})`);
      assert(last > atMigration + 100, `${last} replies`);

      const pod = podRoute(node);
      assertEquals([String(pod?.protocol), pod?.dev], ["101", HOST_VETH]);
      assertEquals(ip("-n", node, "route", "show", "proto", "100").includes(POD), false);
      const events = monitor.lines.filter((x) => x.includes(POD));
      assert(
        events.some((x) => /proto 101/.test(x) && !x.startsWith("Deleted")),
        events.join("\n"),
      );
      assertEquals(events.filter((x) => x.startsWith("Deleted")), []);
      assert(
        daemon.lines.some((x) => x.includes("moved pod routes of an older CNI plugin")),
        daemon.lines.join("\n"),
      );
    } finally {
      for (const p of procs.reverse()) await p.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
});
