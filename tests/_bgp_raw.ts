/**
 * A raw BGP peer for tests: a TCP connection (net/tcp.ts, in a test namespace) that sends
 * whatever bytes a test builds, well-formed or hostile, and reads back what skein's speaker
 * answers, decoded. Plus byte builders for the messages and attributes the hostile tests need.
 *
 * ```ts ignore
 * const p = await RawPeer.connect({ netns: ns.peer, from: "192.168.77.10", to: "192.168.77.1", port });
 * await p.establish({ asNumber: 65009, routerId: "192.168.77.10" });
 * p.send(update({ attrs: [...ORIGIN_IGP, ...asPath([65009]), ...nextHop("192.168.77.10")], nlri: ["10.60.0.0/24"] }));
 * ```
 *
 * @module
 */

import {
  type BgpMessage,
  decodeMessage,
  encodeMessage,
  frameLength,
} from "../backends/bgp/codec.ts";
import type { NotificationMessage } from "../backends/bgp/codec.ts";
import { TcpSocket } from "../net/tcp.ts";

/** What the speaker did after a test's bytes: a message, or the connection ended. */
export type Reply = BgpMessage | { type: "closed" };

/** One raw connection to the speaker. */
export class RawPeer {
  #sock: TcpSocket;
  #buf = new Uint8Array(0);
  #closed = false;

  private constructor(sock: TcpSocket) {
    this.#sock = sock;
  }

  /** Connects from `from` (an address of `netns`) to the speaker. */
  static async connect(
    opts: { netns: string; from: string; to: string; port: number },
  ): Promise<RawPeer> {
    const s = await TcpSocket.connect({
      netns: opts.netns,
      local: opts.from,
      remote: { address: opts.to, port: opts.port },
      timeoutMs: 10000,
    });
    return new RawPeer(s);
  }

  /** Sends every byte of each buffer (waits while the socket is full). */
  async send(...bufs: Uint8Array<ArrayBuffer>[]): Promise<void> {
    for (let b of bufs) {
      while (b.length > 0) {
        let n = 0;
        try {
          n = this.#sock.send(b);
        } catch {
          return; // the speaker closed: the test reads why
        }
        if (n > 0) b = b.subarray(n);
        else if (!(await this.#sock.wait("write", 1000)) && this.#sock.closed) return;
      }
    }
  }

  /** The next message from the speaker, `closed` when it closed, or undefined after `timeoutMs`. */
  async next(timeoutMs = 15000): Promise<Reply | undefined> {
    const end = Date.now() + timeoutMs;
    const chunk = new Uint8Array(65536);
    for (;;) {
      const len = frameLength(this.#buf);
      if (len !== undefined && this.#buf.length >= len) {
        const m = decodeMessage(this.#buf.slice(0, len));
        this.#buf = this.#buf.slice(len);
        return m;
      }
      if (this.#closed) return { type: "closed" };
      if (Date.now() > end) return undefined;
      let n: number;
      try {
        n = this.#sock.recv(chunk);
      } catch {
        n = 0; // ECONNRESET: closed
      }
      if (n === 0) this.#closed = true;
      else if (n < 0) await this.#sock.wait("read", 200);
      else {
        const b = new Uint8Array(this.#buf.length + n);
        b.set(this.#buf);
        b.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = b;
      }
    }
  }

  /** The first message of `type` (skipping others), or undefined (closed or timed out). */
  async nextOf<T extends BgpMessage["type"]>(
    type: T,
    timeoutMs = 15000,
  ): Promise<Extract<BgpMessage, { type: T }> | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(0, end - Date.now()));
      if (!m || m.type === "closed") return undefined;
      if (m.type === type) return m as Extract<BgpMessage, { type: T }>;
    }
  }

  /**
   * Reads until the speaker closes: the NOTIFICATION it sent on the way (undefined: closed
   * without one). Throws when it does not close within `timeoutMs`.
   */
  async closedWith(timeoutMs = 15000): Promise<NotificationMessage | undefined> {
    const end = Date.now() + timeoutMs;
    let notification: NotificationMessage | undefined;
    for (;;) {
      const m = await this.next(Math.max(0, end - Date.now()));
      if (!m) throw new Error(`the speaker did not close within ${timeoutMs} ms`);
      if (m.type === "closed") return notification;
      if (m.type === "notification") notification = m;
    }
  }

  /** OPEN (4-octet AS capability, no graceful restart), the speaker's OPEN and KEEPALIVE, KEEPALIVE. */
  async establish(o: { asNumber: number; routerId: string; holdTime?: number }): Promise<void> {
    await this.send(openBytes(o));
    const open = await this.nextOf("open");
    if (!open) throw new Error("no OPEN from the speaker");
    const ka = await this.next();
    if (ka?.type !== "keepalive") throw new Error(`expected KEEPALIVE, got ${JSON.stringify(ka)}`);
    await this.send(KEEPALIVE);
  }

  /** Closes the connection. */
  close(): void {
    this.#sock.close();
  }
}

/** An OPEN with the 4-octet AS capability and route refresh (and `caps`, raw, appended). */
export function openBytes(o: {
  asNumber: number;
  routerId: string;
  holdTime?: number;
  version?: number;
}): Uint8Array<ArrayBuffer> {
  const b = encodeMessage({
    type: "open",
    version: 4,
    asNumber: o.asNumber > 0xffff ? 23456 : o.asNumber,
    holdTime: o.holdTime ?? 0,
    routerId: o.routerId,
    capabilities: [{ type: "as4", asNumber: o.asNumber }, { type: "route-refresh" }],
  });
  if (o.version !== undefined) b[19] = o.version;
  return b;
}

/** A KEEPALIVE. */
export const KEEPALIVE: Uint8Array<ArrayBuffer> = encodeMessage({ type: "keepalive" });

/** A message: marker, `len` (default: the real length), type, body. */
export function message(
  type: number,
  body: number[] | Uint8Array,
  len?: number,
): Uint8Array<ArrayBuffer> {
  const n = len ?? 19 + body.length;
  return Uint8Array.from([...Array(16).fill(0xff), (n >> 8) & 0xff, n & 0xff, type, ...body]);
}

/** NLRI / withdrawn-routes bytes of IPv4 prefixes. */
export function prefixes(list: string[]): number[] {
  const out: number[] = [];
  for (const p of list) {
    const [addr, len] = p.split("/");
    const l = Number(len);
    out.push(l, ...addr!.split(".").map(Number).slice(0, (l + 7) >> 3));
  }
  return out;
}

/** An UPDATE from raw attribute bytes (`attrLen` overrides the Total Path Attribute Length). */
export function update(o: {
  withdrawn?: number[];
  attrs?: number[];
  nlri?: number[];
  attrLen?: number;
  withdrawnLen?: number;
}): Uint8Array<ArrayBuffer> {
  const w = o.withdrawn ?? [], a = o.attrs ?? [], n = o.nlri ?? [];
  const wl = o.withdrawnLen ?? w.length, al = o.attrLen ?? a.length;
  return message(2, [wl >> 8, wl & 0xff, ...w, al >> 8, al & 0xff, ...a, ...n]);
}

/** One attribute: flags, code, length (1 octet, 2 with the extended-length flag), value. */
export function attr(flags: number, code: number, value: number[]): number[] {
  return flags & 0x10
    ? [flags, code, value.length >> 8, value.length & 0xff, ...value]
    : [flags, code, value.length, ...value];
}

/** ORIGIN IGP. */
export const ORIGIN_IGP: number[] = attr(0x40, 1, [0]);

/** AS_PATH of one AS_SEQUENCE (4-octet ASNs). */
export function asPath(asns: number[]): number[] {
  const v = [2, asns.length];
  for (const a of asns) v.push(a >>> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  return attr(0x40, 2, v);
}

/** NEXT_HOP. */
export function nextHop(address: string): number[] {
  return attr(0x40, 3, address.split(".").map(Number));
}
