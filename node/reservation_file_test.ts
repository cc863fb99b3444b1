import { assertEquals } from "../testing/assert.ts";
import {
  formatReservation,
  parseReservation,
  recordMatches,
  reservationKeyProblem,
} from "./reservation_file.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("formatReservation() writes host-local's exact bytes", () => {
  assertEquals(formatReservation({ containerId: " cid1 ", ifName: "eth0" }), "cid1\r\neth0");
});

Deno.test("parseReservation() reads current, legacy, JSON, empty and corrupt files", () => {
  assertEquals(parseReservation(enc("cid1\r\neth0")), {
    kind: "current",
    id: "cid1",
    ifName: "eth0",
  });
  assertEquals(parseReservation(enc("cid1\r\neth0\n")), {
    kind: "current",
    id: "cid1",
    ifName: "eth0",
  });
  assertEquals(parseReservation(enc("cid1")), { kind: "legacy", id: "cid1" });
  assertEquals(
    parseReservation(enc('{"kind":"host-local-v1","value":{"id":"c","if":"net1"}}')),
    { kind: "current", id: "c", ifName: "net1" },
  );
  assertEquals(parseReservation(new Uint8Array()), { kind: "empty" });
  assertEquals(parseReservation(new Uint8Array([0xff, 0xfe, 0])).kind, "corrupt");
  assertEquals(parseReservation(enc("a\r\nb\r\nc")).kind, "corrupt");
  assertEquals(parseReservation(enc("a b\r\neth0")).kind, "corrupt");
  assertEquals(parseReservation(enc("   \n")).kind, "corrupt");
  assertEquals(parseReservation(enc('{"kind":"other"}')).kind, "corrupt");
  assertEquals(parseReservation(enc("cid\r\nthis-name-is-too-long")).kind, "corrupt");
});

Deno.test("recordMatches() needs container and interface; legacy records match any interface", () => {
  const a = { containerId: "c1", ifName: "eth0" };
  assertEquals(recordMatches({ kind: "current", id: "c1", ifName: "eth0" }, a), true);
  assertEquals(recordMatches({ kind: "current", id: "c1", ifName: "eth1" }, a), false);
  assertEquals(recordMatches({ kind: "current", id: "c2", ifName: "eth0" }, a), false);
  assertEquals(recordMatches({ kind: "legacy", id: "c1" }, a), true);
  assertEquals(recordMatches({ kind: "empty" }, a), false);
});

Deno.test("reservationKeyProblem() names what the file format cannot hold", () => {
  assertEquals(reservationKeyProblem({ containerId: "", ifName: "eth0" }), "containerId");
  assertEquals(reservationKeyProblem({ containerId: "a\r\nb", ifName: "eth0" }), "containerId");
  assertEquals(reservationKeyProblem({ containerId: "ok", ifName: "a/b" }), "ifName");
  assertEquals(reservationKeyProblem({ containerId: "ok", ifName: "a b" }), "ifName");
  assertEquals(reservationKeyProblem({ containerId: "abc-1_2.3", ifName: "eth0" }), undefined);
});
