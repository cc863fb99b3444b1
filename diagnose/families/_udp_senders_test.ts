import { assertEquals, assertStringIncludes } from "../../testing/assert.ts";
import { parseIp } from "../../net/cidr.ts";
import { RECENT_MS, type SendersInput, unknownSenderChecks } from "./_udp_senders.ts";
import { parseDebugState, type UdpUnknownSender } from "../debug_state_parse.ts";
import { unknownSendersJson } from "../../backends/udp/mod.ts";

const AT = "2026-01-01T12:00:00.000Z";
const LEASES = [
  { subnet: "10.244.1.0/24", node: "n1", publicIP: "192.168.77.11" },
  { subnet: "10.244.2.0/24", node: "n2", publicIP: "192.168.77.12" },
];

function sender(from: string, inner?: string, agoMs = 1000, count = 3): UdpUnknownSender {
  const s: UdpUnknownSender = {
    source: parseIp(from),
    port: 8285,
    count,
    lastSeen: new Date(Date.parse(AT) - agoMs),
  };
  if (inner) s.inner = { source: parseIp(inner), destination: parseIp("10.244.1.2") };
  return s;
}

function input(senders: UdpUnknownSender[], o: Partial<SendersInput> = {}): SendersInput {
  return {
    node: "n1",
    nodeName: "n1",
    port: 8285,
    table: { senders, replaced: 0 },
    generatedAt: AT,
    daemonLeases: LEASES,
    storeLeases: LEASES,
    viewOf: (n) => n === "n2" ? { name: "n2", configFile: "/etc/skein/n2.yaml" } : undefined,
    ...o,
  };
}

Deno.test("udp.senders: a node's packets from another address than its lease's name the node and the fix", () => {
  const [c, ...rest] = unknownSenderChecks(input([sender("192.168.77.98", "10.244.2.2")]));
  assertEquals(rest, []);
  assertEquals(c!.status, "fail");
  assertEquals(
    c!.summary,
    "node n2's lease says publicIP 192.168.77.12 but its udp packets come from " +
      "192.168.77.98:8285: n1 drops them (unknown-source, 3 seen)",
  );
  assertStringIncludes(c!.fix!, "on n2: run its daemon with --public-ip 192.168.77.98");
  assertStringIncludes(c!.fix!, "/etc/skein/n2.yaml");
  assertEquals(c!.evidence.inner, "10.244.2.2 -> 10.244.1.2");
  assertEquals(c!.evidence.secondsAgo, 1);
});

Deno.test("udp.senders: another source port than the node's means a NAT on the way, fixed first", () => {
  const natted = { ...sender("192.168.77.98", "10.244.2.2"), port: 40123 };
  const [c] = unknownSenderChecks(input([natted]));
  assertStringIncludes(
    c!.summary,
    "come from 192.168.77.98:40123 (not port 8285: a NAT on the way?)",
  );
  assertStringIncludes(c!.fix!, "exempt UDP 8285 from the NAT that rewrites n2's source");
});

Deno.test("udp.senders: the datastore has the new address but the daemon an old lease: restart it", () => {
  const store = [LEASES[0]!, { ...LEASES[1]!, publicIP: "192.168.77.98" }];
  const [c] = unknownSenderChecks(
    input([sender("192.168.77.98", "10.244.2.2")], { storeLeases: store }),
  );
  assertEquals(c!.status, "fail");
  assertStringIncludes(c!.summary, "n1's daemon has not taken node n2's new lease");
  assertStringIncludes(c!.summary, "forwards with publicIP 192.168.77.12");
  assertStringIncludes(c!.fix!, "restart n1's skein daemon");
});

Deno.test("udp.senders: senders that are no node are one warning; a flood is said", () => {
  const cs = unknownSenderChecks({
    ...input([
      sender("10.9.9.9", "10.99.0.1"),
      sender("10.9.9.8"),
      sender("10.9.9.7", "10.244.1.5"),
    ]),
    table: {
      senders: [
        sender("10.9.9.9", "10.99.0.1"),
        sender("10.9.9.8"),
        sender("10.9.9.7", "10.244.1.5"),
      ],
      replaced: 5000,
    },
  });
  assertEquals(cs.map((c) => c.status), ["warn"]);
  assertStringIncludes(
    cs[0]!.summary,
    "an unknown host sends to UDP 8285 on n1: 10.9.9.9:8285, 10.9.9.8:8285, 10.9.9.7:8285",
  );
  assertStringIncludes(cs[0]!.summary, "5000 more senders were replaced");
});

Deno.test("udp.senders: one failure per node and address, old senders pass, no table skips", () => {
  const twice = [sender("192.168.77.98", "10.244.2.2"), sender("192.168.77.98", "10.244.2.3")];
  assertEquals(unknownSenderChecks(input(twice)).length, 1);
  const old = unknownSenderChecks(input([sender("192.168.77.98", "10.244.2.2", RECENT_MS + 1)]));
  assertEquals(old.map((c) => c.status), ["pass"]);
  // n2's datagrams came before its lease reached n1, which now forwards with it: nothing to name.
  const moved = [LEASES[0]!, { ...LEASES[1]!, publicIP: "192.168.77.98" }];
  const early = unknownSenderChecks(
    input([sender("192.168.77.98", "10.244.2.2")], { storeLeases: moved, daemonLeases: moved }),
  );
  assertEquals(early.map((c) => c.status), ["pass"]);
  const none = unknownSenderChecks(input([], { storeLeases: undefined }));
  assertEquals(none.map((c) => c.status), ["pass"]);
  const { table: _, ...noTable } = input([]);
  assertEquals(unknownSenderChecks(noTable).map((c) => c.status), ["skip"]);
});

Deno.test("udp.senders: the daemon's /debug/state form parses back into typed senders", () => {
  const kept = [sender("192.168.77.98", "10.244.2.2"), sender("10.9.9.8")];
  const udp = {
    listen: "192.168.77.11:8285",
    unknownSenders: {
      ...unknownSendersJson({ senders: kept, replaced: 2 }),
      // entries a daemon must not send are left out, not fatal
      senders: [
        ...(unknownSendersJson({ senders: kept, replaced: 2 }).senders as unknown[]),
        { source: "not-an-ip", port: 1, count: 1, lastSeen: AT },
        { source: "1.2.3.4", port: 1, count: 1, lastSeen: "yesterday" },
      ],
    },
  };
  const s = parseDebugState(JSON.stringify({
    schemaVersion: 1,
    node: "n1",
    generatedAt: AT,
    backend: { type: "udp" },
    health: {},
    desired: [],
    snapshot: { routes: [] },
    sysctls: {},
    leases: [],
    backendState: { udp },
  }));
  assertEquals(s.udp?.unknownSenders, { senders: kept, replaced: 2 });
});
