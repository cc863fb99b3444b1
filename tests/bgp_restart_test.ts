/**
 * Integration (root): a graceful-restart peer that restarts without its old connection ever
 * closing on this side (a reboot, a partition: no FIN or RST arrives) gets its new session at
 * once (RFC 4724 §4.2): the old one ends as a lost connection with its routes kept stale, instead
 * of the new connection being refused until the dead one's hold timer runs out.
 *
 * Two skein speakers in two namespaces joined by a veth, peered as the mesh peers them (the higher
 * address dials). A drop rule on the passive side hides the old connection's FIN from it.
 */
import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { Speaker, type SpeakerOptions } from "../backends/bgp/speaker.ts";
import { runCommand } from "../lab/_proc.ts";
import { ip } from "./net_oracle.ts";
import { withNamespaces } from "./_netns.ts";
import { waitFor } from "./_daemon_proc.ts";

const PORT = 20000 + Math.floor(Math.random() * 20000);
const HOLD = 30;

function speaker(netns: string, id: string, logs: string[]): Speaker {
  const o: SpeakerOptions = {
    netns,
    localAs: 64512,
    routerId: id,
    port: PORT,
    holdTime: HOLD,
    gracefulRestart: { restartTime: 60 },
    families: [1],
    connectRetryMs: 500,
    idleHoldMs: 300,
    log: (l) => logs.push(l),
  };
  return new Speaker(o);
}

async function nsRun(netns: string, ...args: string[]): Promise<string> {
  const r = await runCommand(["nsenter", `--net=${netns}`, ...args]);
  assert(r.success, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

Deno.test({
  name:
    "bgp graceful restart: a peer back with a new connection while its old one looks alive gets its session at once, routes kept",
  sanitizeOps: false,
  sanitizeResources: false,
  ignore: Deno.uid() !== 0,
  fn: async () => {
    await withNamespaces(["a", "b"], async (ns) => {
      const [a, b] = [ns.a!, ns.b!];
      ip(a, "link", "set", "lo", "up");
      ip(b, "link", "set", "lo", "up");
      ip(a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
      ip(a, "addr", "add", "192.168.77.1/24", "dev", "eth0");
      ip(b, "addr", "add", "192.168.77.2/24", "dev", "eth0");
      ip(a, "link", "set", "eth0", "up");
      ip(b, "link", "set", "eth0", "up");
      const peer = (address: string, passive: boolean) => ({
        address,
        asNumber: 64512,
        policy: { import: true, export: true },
        source: "mesh" as const,
        ...(passive ? { passive: true } : { local: "192.168.77.2" }),
      });
      const logsA: string[] = [], logsB: string[] = [];
      const sa = speaker(a, "192.168.77.1", logsA);
      let sb = speaker(b, "192.168.77.2", logsB);
      try {
        sa.setPeers([peer("192.168.77.2", true)]);
        sa.setOwnPrefixes(["10.244.1.0/24"]);
        sa.start();
        const startB = (s: Speaker) => {
          s.setPeers([peer("192.168.77.1", false)]);
          s.setOwnPrefixes(["10.244.2.0/24"]);
          s.start();
        };
        startB(sb);
        await waitFor("a's route from b", () => sa.routes().length === 1, {
          ms: 10_000,
          everyMs: 50,
        });
        // Hide the old connection from a from now on: neither its FIN nor a RST reaches a.
        const ss = await nsRun(a, "ss", "-Htn", "state", "established", `( sport = :${PORT} )`);
        const oldPort = /192\.168\.77\.2:(\d+)/.exec(ss)?.[1];
        assert(oldPort, ss);
        await nsRun(a, "nft", "add", "table", "inet", "t");
        await nsRun(
          a,
          "nft",
          "add",
          "chain",
          "inet",
          "t",
          "in",
          "{ type filter hook input priority 0; }",
        );
        await nsRun(a, "nft", "add", "rule", "inet", "t", "in", "tcp", "sport", oldPort, "drop");
        sb.close();
        // The old listener's descriptor closes once its pending wait ends (up to 1 s).
        await new Promise((r) => setTimeout(r, 1100));
        const t0 = Date.now();
        sb = speaker(b, "192.168.77.2", logsB);
        startB(sb);
        await waitFor(
          "b's new session to be Established on both sides",
          () => sb.status()[0]?.state === "Established" && sa.status()[0]?.state === "Established",
          { ms: (HOLD / 2) * 1000, everyMs: 50 },
        );
        const took = Date.now() - t0;
        assert(took < 5000, `the new session took ${took} ms (hold time ${HOLD} s)`);
        assertStringIncludes(logsA.join("\n"), "the peer restarted (RFC 4724)");
        // Its route stayed all along (stale, then refreshed by the new session).
        assertEquals(sa.routes().map((r) => r.prefix), ["10.244.2.0/24"]);
        await waitFor("b's End-of-RIB to clear the stale flag", () => !sa.status()[0]?.restarting, {
          ms: 10_000,
          everyMs: 50,
        });
      } finally {
        sa.close();
        sb.close();
      }
    });
  },
});
