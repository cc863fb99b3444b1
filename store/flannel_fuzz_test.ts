/**
 * Fuzzes the lease decoder: every truncation of a valid record, every field replaced by a value
 * of every JSON type, random bytes, deep nesting and huge values. decodeLeaseRecord() either
 * returns a lease whose fields have the types the daemon relies on, or throws BadRecordError;
 * never anything else. The seed is printed so a failure can be replayed.
 */
import { assert } from "../testing/assert.ts";
import {
  assertLeaseRecordSize,
  BadRecordError,
  decodeLeaseRecord,
  MAX_LEASE_RECORD_BYTES,
  parseSubnetKey,
} from "./flannel.ts";
import type { Lease } from "./types.ts";

const EXP = "2030-01-01T00:00:00.000Z";
const GOOD = {
  PublicIP: "192.168.1.10",
  PublicIPv6: "fd00::10",
  BackendType: "vxlan",
  BackendData: { VtepMAC: "0a:58:0a:f4:01:00", VNI: 1 },
  Node: "node-1",
};
const KEYS = ["10.244.1.0-24", "10.244.1.0-24&fd00:1::-64"];

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function wellTyped(l: Lease): boolean {
  return typeof l.subnet === "string" && typeof l.publicIP === "string" &&
    typeof l.node === "string" && typeof l.backendType === "string" &&
    typeof l.expiration === "string" &&
    (l.subnet6 === undefined || typeof l.subnet6 === "string") &&
    (l.publicIP6 === undefined || typeof l.publicIP6 === "string") &&
    (l.backendData === undefined ||
      (typeof l.backendData === "object" && l.backendData !== null &&
        !Array.isArray(l.backendData)));
}

/** Decodes text as a store does (size bound, JSON.parse, decode); "bad" or the lease. */
function decodeText(key: string, text: string): Lease | "bad" {
  try {
    assertLeaseRecordSize(key, text);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return "bad"; // the stores report unparsable JSON the same way
    }
    const l = decodeLeaseRecord(key, v, EXP);
    assert(wellTyped(l), `ill-typed lease from ${text.slice(0, 200)}`);
    return l;
  } catch (e) {
    if (e instanceof BadRecordError) return "bad";
    throw new Error(
      `decoder threw ${(e as Error).name} for ${JSON.stringify(text.slice(0, 200))}`,
      {
        cause: e,
      },
    );
  }
}

const VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  "",
  "x",
  "10.0.0.1",
  "::1",
  "999.1.1.1",
  [],
  [1, 2],
  {},
  { a: { b: { c: [] } } },
  "a".repeat(1000),
];

Deno.test("decodeLeaseRecord(): truncations and type swaps are a BadRecordError or a well-typed lease", () => {
  const text = JSON.stringify(GOOD);
  for (const key of KEYS) {
    for (let i = 0; i <= text.length; i++) decodeText(key, text.slice(0, i));
    for (const field of Object.keys(GOOD)) {
      for (const v of VALUES) {
        decodeText(key, JSON.stringify({ ...GOOD, [field]: v }));
        const without: Record<string, unknown> = { ...GOOD };
        delete without[field];
        decodeText(key, JSON.stringify(without));
      }
    }
    for (const v of VALUES) decodeText(key, JSON.stringify(v));
  }
  // The good record decodes.
  const l = decodeText(KEYS[0]!, text);
  assert(l !== "bad" && l.node === "node-1" && l.publicIP === "192.168.1.10");
});

Deno.test("decodeLeaseRecord(): random bytes, odd keys, deep nesting and huge values never escape", () => {
  const seed = Math.floor(Math.random() * 1e9);
  const rand = prng(seed);
  const oddKeys = [
    "",
    "-",
    "garbage",
    "10.244.1.0-33",
    "10.244.1.1-24",
    "0.0.0.0-0",
    "10.244.1.0-24&",
    "10.244.1.0-24&10.0.0.0-8",
    "10.244.1.0-24&fd00::-64&fd01::-64",
    "../../etc/passwd",
    "10.244.1.0-24\u0000",
  ];
  for (const k of oddKeys) {
    const r = decodeText(k, JSON.stringify(GOOD));
    assert(r === "bad" || parseSubnetKey(k) !== undefined, `key ${JSON.stringify(k)} accepted`);
  }
  for (let i = 0; i < 3000; i++) {
    const n = Math.floor(rand() * 200);
    const bytes = new Uint8Array(n);
    for (let j = 0; j < n; j++) bytes[j] = Math.floor(rand() * 256);
    const text = new TextDecoder().decode(bytes);
    decodeText(KEYS[i % 2]!, text);
    // A valid record with one byte changed.
    const good = JSON.stringify(GOOD);
    const pos = Math.floor(rand() * good.length);
    decodeText(
      KEYS[i % 2]!,
      good.slice(0, pos) + String.fromCharCode(rand() * 128) + good.slice(pos + 1),
    );
  }
  assert(decodeText(KEYS[0]!, "[".repeat(100_000)) === "bad", `deep nesting (seed ${seed})`);
  const huge = JSON.stringify({ ...GOOD, BackendData: { x: "a".repeat(MAX_LEASE_RECORD_BYTES) } });
  assert(decodeText(KEYS[0]!, huge) === "bad", "a huge value is refused before parsing");
});
