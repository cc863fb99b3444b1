import { assertEquals, assertThrows } from "../testing/assert.ts";
import {
  IN_CREATE,
  IN_IGNORED,
  IN_ISDIR,
  IN_MODIFY,
  IN_MOVED_TO,
  IN_Q_OVERFLOW,
  inotifyKind,
  InotifyParseError,
  parseInotifyEvents,
} from "./inotify_event.ts";

/** Bytes from hex with spaces (one record per call keeps the layout readable). */
function hex(s: string): Uint8Array {
  const t = s.replace(/\s+/g, "");
  return Uint8Array.from(t.match(/../g)!.map((b) => parseInt(b, 16)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// What a kernel read returns (little-endian): wd, mask, cookie, len, then the name NUL-padded
// to a multiple of 16 bytes (the kernel rounds name length + 1 up to sizeof(struct inotify_event)).
const MOVED_TO_SUBNET_JSON = hex(`
  01000000 80000000 34120000 10000000
  7375626e 65742e6a 736f6e00 00000000`); // "subnet.json" + 5 NUL
const CREATE_DIR_SUBNETS = hex(`
  02000000 00010040 00000000 10000000
  7375626e 65747300 00000000 00000000`); // IN_CREATE|IN_ISDIR "subnets"
const OVERFLOW = hex(`ffffffff 00400000 00000000 00000000`);
const IGNORED = hex(`03000000 00800000 00000000 00000000`);

Deno.test("parseInotifyEvents() reads kernel records byte for byte: name, cookie, flags", () => {
  assertEquals(parseInotifyEvents(concat(MOVED_TO_SUBNET_JSON, CREATE_DIR_SUBNETS)), [
    { wd: 1, mask: IN_MOVED_TO, cookie: 0x1234, name: "subnet.json" },
    { wd: 2, mask: IN_CREATE | IN_ISDIR, cookie: 0, name: "subnets" },
  ]);
});

Deno.test("parseInotifyEvents() reads an overflow (wd -1) and IN_IGNORED without a name", () => {
  assertEquals(parseInotifyEvents(concat(OVERFLOW, IGNORED)), [
    { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: "" },
    { wd: 3, mask: IN_IGNORED, cookie: 0, name: "" },
  ]);
});

Deno.test("parseInotifyEvents() takes odd padding: 4-byte, none at all, a name of exactly 16 bytes", () => {
  const four = hex(`05000000 02000000 00000000 04000000 78000000`); // "x", padded to 4
  const unterminated = hex(`06000000 02000000 00000000 03000000 616263`); // "abc", no NUL
  const sixteen = hex(`
    07000000 00010000 00000000 20000000
    30313233 34353637 38396162 63646566
    00000000 00000000 00000000 00000000`); // "0123456789abcdef" needs a second block
  assertEquals(parseInotifyEvents(concat(four, unterminated, sixteen)), [
    { wd: 5, mask: IN_MODIFY, cookie: 0, name: "x" },
    { wd: 6, mask: IN_MODIFY, cookie: 0, name: "abc" },
    { wd: 7, mask: IN_CREATE, cookie: 0, name: "0123456789abcdef" },
  ]);
});

Deno.test("parseInotifyEvents() keeps a UTF-8 name and works on a subarray at an odd offset", () => {
  const rec = hex(`
    01000000 00010000 00000000 10000000
    c3a9746500000000 0000000000000000`); // "éte"
  const buf = concat(hex("aa bb cc"), rec, hex("dd"));
  assertEquals(parseInotifyEvents(buf.subarray(3, 3 + rec.length)), [
    { wd: 1, mask: IN_CREATE, cookie: 0, name: "éte" },
  ]);
  assertEquals(parseInotifyEvents(new Uint8Array(0)), []);
});

Deno.test("parseInotifyEvents() refuses a short header or a name past the end, never reads beyond", () => {
  const e1 = assertThrows(
    () => parseInotifyEvents(concat(OVERFLOW, OVERFLOW.subarray(0, 12))),
    InotifyParseError,
    "12 bytes left",
  );
  assertEquals(e1.offset, 16);
  const e2 = assertThrows(
    () => parseInotifyEvents(MOVED_TO_SUBNET_JSON.subarray(0, 24)),
    InotifyParseError,
    "its name is 16 bytes, only 8 are left",
  );
  assertEquals(e2.offset, 0);
});

Deno.test("inotifyKind() names each mask the way callers use it", () => {
  assertEquals(
    [
      IN_Q_OVERFLOW,
      IN_CREATE | IN_ISDIR,
      IN_MODIFY,
      0x4, // IN_ATTRIB
      0x200, // IN_DELETE
      0x400, // IN_DELETE_SELF
      0x40, // IN_MOVED_FROM
      IN_MOVED_TO,
      0x800, // IN_MOVE_SELF
      IN_IGNORED,
      0x1, // IN_ACCESS
    ].map(inotifyKind),
    [
      "overflow",
      "create",
      "modify",
      "modify",
      "remove",
      "remove",
      "rename",
      "rename",
      "rename",
      "other",
      "other",
    ],
  );
});
