/**
 * Hostile bytes for every netlink decoder: the golden iproute2 requests and kernel-style
 * replies, truncated, bit-flipped, length-forged and random. A decoder may return a value or
 * throw its own NetlinkDecodeError; anything else (a bare RangeError from DataView, a
 * TypeError from a missing field) is a bug. Seeded, so a failure names a reproducible case.
 */
import { GOLDEN } from "./golden_test.ts";
import { addrFromMessage, addrRequest } from "./addr.ts";
import { attr, nest, NetlinkDecodeError } from "./attr.ts";
import { tcFilterFromMessage, tcQdiscFromMessage } from "./tc.ts";
import * as C from "./consts.ts";
import { linkFromMessage } from "./link.ts";
import {
  decodeError,
  decodeMessage,
  encodeMessage,
  forEachMessage,
  type NlMessage,
} from "./message.ts";
import { fdbFromMessage, fdbRequest, neighFromMessage, neighRequest } from "./neigh.ts";
import { routeFromBytes, routeFromMessage, routeRequest } from "./route.ts";
import { Writer } from "./writer.ts";

/** xorshift32: reproducible randomness for a given seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function fromHex(h: string): Uint8Array {
  return new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
}

function encode(m: NlMessage, type?: number): Uint8Array {
  const w = new Writer(64);
  encodeMessage(w, type === undefined ? m : { ...m, type });
  return w.view().slice();
}

/** Seeds: iproute2's requests plus replies shaped like the kernel's dumps. */
function seeds(): Uint8Array[] {
  const out = GOLDEN.map((g) => fromHex(g.hex));
  out.push(
    encode(
      routeRequest("replace", {
        dst: "10.244.2.0/24",
        gateway: "192.168.1.48",
        oif: 3,
        metric: 10,
        mtu: 1450,
        protocol: 100,
        src: "10.244.1.1",
      }),
      C.RTM_NEWROUTE,
    ),
    encode(routeRequest("add", { dst: "fd00:1::/64", gateway: "fe80::1", oif: 2, mtu: 1400 })),
    encode(addrRequest("add", { index: 2, cidr: "10.0.0.1/24", label: "v0" } as never)),
    encode(
      neighRequest("replace", {
        index: 4,
        ip: "10.244.2.0",
        mac: "aa:bb:cc:dd:ee:ff",
        state: "permanent",
      } as never),
    ),
    // A u32 filter with one key and a mirred redirect, shaped like the kernel's dump reply.
    encode({
      type: C.RTM_NEWTFILTER,
      flags: 0,
      seq: 0,
      pid: 0,
      header: { family: 0, ifindex: 2, handle: 0x800800, parent: 0xfffffff2, info: 0x50008 },
      attrs: [
        attr(C.TCA_KIND, "u32"),
        nest(C.TCA_OPTIONS, [
          attr(
            C.TCA_U32_SEL,
            new Uint8Array([
              1,
              0,
              1,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
              255,
              255,
              0,
              0,
              10,
              9,
              0,
              0,
              16,
              0,
              0,
              0,
              0,
              0,
              0,
              0,
            ]),
          ),
          nest(C.TCA_U32_ACT, [
            nest(1, [
              attr(C.TCA_ACT_KIND, "mirred"),
              nest(C.TCA_ACT_OPTIONS, [
                attr(
                  C.TCA_MIRRED_PARMS,
                  new Uint8Array([
                    1,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    4,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                    1,
                    0,
                    0,
                    0,
                  ]),
                ),
              ]),
            ]),
          ]),
        ]),
      ],
    }),
    encode(
      fdbRequest("append", {
        index: 4,
        mac: "aa:bb:cc:dd:ee:ff",
        dst: "192.168.1.48",
        vni: 1,
        port: 8472,
      }),
    ),
  );
  return out;
}

/** Runs every decoder that applies; returns normally or throws. */
function decodeAll(bytes: Uint8Array): void {
  // The typed-message path.
  try {
    const m = decodeMessage(bytes);
    switch (m.type) {
      case C.RTM_NEWLINK:
      case C.RTM_DELLINK:
      case C.RTM_GETLINK:
      case C.RTM_SETLINK:
        linkFromMessage(m);
        break;
      case C.RTM_NEWADDR:
      case C.RTM_DELADDR:
      case C.RTM_GETADDR:
        addrFromMessage(m);
        break;
      case C.RTM_NEWROUTE:
      case C.RTM_DELROUTE:
      case C.RTM_GETROUTE:
        routeFromMessage(m);
        break;
      case C.RTM_NEWTFILTER:
      case C.RTM_GETTFILTER:
        tcFilterFromMessage(m, "ingress");
        tcQdiscFromMessage(m);
        break;
      default:
        neighFromMessage(m);
        fdbFromMessage(m);
    }
  } catch (e) {
    if (!(e instanceof NetlinkDecodeError)) throw e;
  }
  // The receive-buffer path (socket.ts): split, then errors and the route fast path.
  try {
    forEachMessage(bytes, bytes.length, (span) => {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      try {
        decodeError(bytes, span);
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw e;
      }
      try {
        routeFromBytes(bytes, dv, span.offset, span.length);
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw e;
      }
    });
  } catch (e) {
    if (!(e instanceof NetlinkDecodeError)) throw e;
  }
}

function check(what: string, bytes: Uint8Array): void {
  try {
    decodeAll(bytes);
  } catch (e) {
    const hex = Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
    throw new Error(`${what}: ${(e as Error).name}: ${(e as Error).message}\nbytes: ${hex}`, {
      cause: e,
    });
  }
}

/** Rewrites every nlmsg_len / nla_len so the mutated message stays structurally plausible. */
function fixLen(b: Uint8Array): Uint8Array {
  const c = b.slice();
  if (c.length >= 4) new DataView(c.buffer).setUint32(0, c.length, true);
  return c;
}

Deno.test("netlink decoders: every truncation of every seed gives a value or NetlinkDecodeError", () => {
  for (const [i, s] of seeds().entries()) {
    for (let n = 0; n <= s.length; n++) {
      check(`seed ${i} truncated to ${n}`, s.subarray(0, n));
      check(`seed ${i} truncated to ${n}, nlmsg_len fixed`, fixLen(s.subarray(0, n)));
    }
  }
});

Deno.test("netlink decoders: byte mutations of every seed give a value or NetlinkDecodeError", () => {
  const rand = rng(0x5eed);
  for (const [i, s] of seeds().entries()) {
    for (let iter = 0; iter < 600; iter++) {
      const c = s.slice();
      const flips = 1 + (rand() % 4);
      for (let f = 0; f < flips; f++) {
        const at = rand() % c.length;
        // Favour the values that matter to a parser: lengths 0..8, 0xff, random.
        const pick = rand() % 4;
        c[at] = pick === 0 ? rand() % 9 : pick === 1 ? 0xff : rand() & 0xff;
      }
      const cut = rand() % 3 === 0 ? rand() % (c.length + 1) : c.length;
      check(`seed ${i} mutation ${iter}`, c.subarray(0, cut));
      check(`seed ${i} mutation ${iter}, nlmsg_len fixed`, fixLen(c.subarray(0, cut)));
    }
  }
});

Deno.test("netlink decoders: random bytes behind a valid header give a value or NetlinkDecodeError", () => {
  const rand = rng(0xbadbeef);
  const types = [
    C.RTM_NEWLINK,
    C.RTM_NEWADDR,
    C.RTM_NEWROUTE,
    C.RTM_NEWNEIGH,
    C.NLMSG_ERROR,
    C.NLMSG_DONE,
  ];
  for (let iter = 0; iter < 6000; iter++) {
    const len = 16 + (rand() % 200);
    const b = new Uint8Array(len);
    for (let j = 16; j < len; j++) b[j] = rand() & 0xff;
    const dv = new DataView(b.buffer);
    dv.setUint32(0, len, true);
    dv.setUint16(4, types[iter % types.length]!, true);
    dv.setUint16(6, rand() & 0xffff, true);
    // Make attribute lengths small often, so decoders walk deep instead of stopping early.
    for (let j = 16; j + 2 <= len; j += 4 + (rand() % 12)) {
      if (rand() % 2) dv.setUint16(j, 4 + (rand() % 16), true);
    }
    check(`random ${iter}`, b);
  }
});

Deno.test("netlink decoders: an NLMSG_ERROR with forged lengths and TLVs decodes or fails typed", () => {
  const rand = rng(42);
  for (let iter = 0; iter < 3000; iter++) {
    const len = 36 + (rand() % 64);
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, len, true);
    dv.setUint16(4, C.NLMSG_ERROR, true);
    dv.setUint16(6, C.NLM_F_ACK_TLVS | (rand() % 2 ? C.NLM_F_CAPPED : 0), true);
    dv.setInt32(16, -(rand() % 140), true);
    dv.setUint32(20, rand() % 2 ? rand() : 16 + (rand() % 64), true);
    for (let j = 36; j < len; j++) b[j] = rand() & 0xff;
    for (let j = 36; j + 2 <= len; j += 4 + (rand() % 8)) dv.setUint16(j, rand() % 20, true);
    check(`nlmsgerr ${iter}`, b);
  }
});

Deno.test("netlink decoders: RTA_METRICS whose RTAX_MTU claims more bytes than it has fails typed", () => {
  // rtmsg + RTA_METRICS(len 8) holding one metric header that says 8 bytes but ends the buffer.
  const b = new Uint8Array(16 + 12 + 8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, b.length, true);
  dv.setUint16(4, C.RTM_NEWROUTE, true);
  b[16] = C.AF_INET;
  dv.setUint16(28, 8, true);
  dv.setUint16(30, C.RTA_METRICS, true);
  dv.setUint16(32, 8, true);
  dv.setUint16(34, C.RTAX_MTU, true);
  check("metrics overrun", b);
});
