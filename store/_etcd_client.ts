/**
 * A minimal etcd v3 client over the JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
 * `/v3/lease/grant`, `/v3/lease/keepalive`, `/v3/watch`, ...) with Deno's fetch. Keys and
 * values are base64 on the wire; int64 fields are decimal strings.
 *
 * @module
 */
import { StoreError } from "./errors.ts";
import { chunksUntilAborted } from "./_util.ts";
import { type EtcdHeader, etcdHeaderOf, type EtcdMark } from "./_etcd_history.ts";
import { largeValueFilterStream, readFiltered, SKIPPED_VALUE_FIELD } from "./_etcd_values.ts";

export type { EtcdHeader, EtcdMark };

/** A key/value as the gateway returns it, decoded. */
export interface EtcdKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease ID ("0" when none). */
  lease: string;
  /**
   * Set when the value was larger than a range's `maxValueBytes` and left undecoded: its size in
   * bytes (`value` is then "").
   */
  skippedBytes?: number;
}

/** One watch event. */
export interface EtcdEvent {
  type: "PUT" | "DELETE";
  kv: EtcdKv;
  prevKv?: EtcdKv;
}

/** One message of a watch stream. */
export interface EtcdWatchMessage {
  /** Its header (undefined when it had none). */
  header?: EtcdHeader;
  /** Its events, in order (none in the creation and progress messages). */
  events: EtcdEvent[];
}

/** A compare of a txn (only what the stores need). */
export type EtcdCompare =
  | { key: string; target: "CREATE"; createRevision: number }
  | { key: string; target: "MOD"; modRevision: number };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** UTF-8 string → base64. */
export function b64(text: string): string {
  let s = "";
  for (const b of enc.encode(text)) s += String.fromCharCode(b);
  return btoa(s);
}

/** base64 → UTF-8 string. */
export function unb64(text: string | undefined): string {
  if (!text) return "";
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return dec.decode(bytes);
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): string {
  const b = enc.encode(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.slice(0, i + 1);
      out[i]!++;
      return dec.decode(out);
    }
  }
  return "\0";
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** The size of the bytes base64 text `b64text` holds. */
function b64Bytes(b64text: string): number {
  const pad = b64text.endsWith("==") ? 2 : b64text.endsWith("=") ? 1 : 0;
  return Math.floor((b64text.length * 3) / 4) - pad;
}

function kvOf(raw: Json, maxValueBytes = Infinity): EtcdKv {
  const value = typeof raw?.value === "string" ? raw.value : "";
  const left = Number(raw?.[SKIPPED_VALUE_FIELD]); // left out while the answer streamed in
  const size = Number.isSafeInteger(left) && left > 0 ? left : b64Bytes(value);
  const kv: EtcdKv = {
    key: unb64(raw?.key),
    value: size > maxValueBytes ? "" : unb64(value),
    createRevision: Number(raw?.create_revision ?? 0),
    modRevision: Number(raw?.mod_revision ?? 0),
    lease: String(raw?.lease ?? "0"),
  };
  if (size > maxValueBytes) kv.skippedBytes = size;
  return kv;
}

/** The base64 key right after the base64 key `b64key` (the same bytes and a NUL). */
function keyAfter(b64key: string): string {
  return btoa(atob(b64key) + "\0");
}

/** Options of {@linkcode EtcdClient.range}. */
export interface EtcdRangeOptions {
  /**
   * Keys per request of a range over several keys (default 64): each page is read, parsed and
   * decoded before the next is asked for, at the first page's revision (one consistent snapshot),
   * so one answer never holds the whole prefix.
   */
  pageSize?: number;
  /**
   * Values larger than this many bytes are not kept: left out of the answer's text as it streams
   * in (store/_etcd_values.ts), never decoded (see EtcdKv.skippedBytes).
   */
  maxValueBytes?: number;
}

/** Options of {@linkcode EtcdClient}. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379"]. */
  endpoints: string[];
  /** Per-request timeout (ms, default 5000). */
  timeoutMs?: number;
  /**
   * Called when a request gets no usable answer (unreachable, no answer in time, an answer that
   * broke off or is not etcd's): an open watch stream may be dead too (EtcdStore restarts it).
   */
  onTrouble?: () => void;
  /** Sees the header of every answer but the watch streams' (store/_etcd_history.ts). */
  observer?: EtcdAnswerObserver;
}

/** Watches the headers of etcd's answers (an EtcdHistory, or a wrapper of one). */
export interface EtcdAnswerObserver {
  /** Called before a request is sent; handed back with its answer's header. */
  mark(): EtcdMark;
  /** Called with the header of each answer to a request sent at `mark`. */
  observe(header: EtcdHeader, mark: EtcdMark): void;
}

/** Thrown when the watched revision was compacted away; the caller must re-list. */
export class EtcdCompactedError extends StoreError {
  constructor(readonly compactRevision: number) {
    super(`etcd watch: revision compacted (compact_revision ${compactRevision})`);
    this.name = "EtcdCompactedError";
  }
}

/** etcd answered, with an error of its own (the connection is fine). */
export class EtcdAnswerError extends StoreError {
  constructor(message: string) {
    super(message);
    this.name = "EtcdAnswerError";
  }
}

/** etcd v3 over HTTP/JSON. Requests fail over to the next endpoint on connection errors. */
export class EtcdClient {
  readonly endpoints: string[];
  #timeout: number;
  #current = 0;
  #onTrouble: () => void;
  #observer?: EtcdAnswerObserver;

  constructor(opts: EtcdClientOptions) {
    if (opts.endpoints.length === 0) throw new TypeError("etcd: no endpoints");
    this.endpoints = opts.endpoints.map((e) => e.replace(/\/+$/, ""));
    this.#timeout = opts.timeoutMs ?? 5000;
    this.#onTrouble = opts.onTrouble ?? (() => {});
    this.#observer = opts.observer;
  }

  /** Hands the answer's header (if it has one) to the observer. */
  #observe(j: Json, mark: EtcdMark | undefined): void {
    const h = mark && etcdHeaderOf(j);
    if (h) this.#observer!.observe(h, mark);
  }

  /**
   * POSTs `body` to `path` on a live endpoint; returns the parsed JSON. Throws StoreError.
   * `read`: how the answer's body becomes text (default: all of it).
   */
  async call(
    path: string,
    body: unknown,
    signal?: AbortSignal,
    read?: (body: ReadableStream<Uint8Array>) => Promise<string>,
  ): Promise<Json> {
    const mark = this.#observer?.mark();
    try {
      const j = await this.#call(path, body, signal, read);
      this.#observe(j, mark);
      return j;
    } catch (e) {
      if (e instanceof StoreError && !(e instanceof EtcdAnswerError) && !signal?.aborted) {
        this.#onTrouble();
      }
      throw e;
    }
  }

  async #call(
    path: string,
    body: unknown,
    signal?: AbortSignal,
    read?: (body: ReadableStream<Uint8Array>) => Promise<string>,
  ): Promise<Json> {
    let lastErr: unknown;
    for (let n = 0; n < this.endpoints.length; n++) {
      const ep = this.endpoints[(this.#current + n) % this.endpoints.length]!;
      const timeout = AbortSignal.timeout(this.#timeout);
      const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
      let res: Response;
      try {
        res = await fetch(`${ep}${path}`, {
          method: "POST",
          body: JSON.stringify(body),
          signal: sig,
        });
      } catch (e) {
        lastErr = e;
        if (signal?.aborted) break;
        continue;
      }
      this.#current = (this.#current + n) % this.endpoints.length;
      let text: string;
      try {
        text = read && res.body ? await read(res.body) : await res.text();
      } catch (e) {
        throw new StoreError(
          `etcd ${ep}${path}: HTTP ${res.status}, the answer broke off: ${(e as Error).message}`,
          { cause: e },
        );
      }
      let j: Json;
      try {
        j = JSON.parse(text);
      } catch {
        j = undefined;
      }
      if (typeof j !== "object" || j === null || Array.isArray(j)) {
        throw new StoreError(
          `etcd ${ep}${path}: HTTP ${res.status}, not a JSON object: ${text.slice(0, 200)}`,
        );
      }
      if (!res.ok || j?.error) {
        throw new EtcdAnswerError(
          `etcd ${ep}${path}: ${j?.message ?? j?.error ?? `HTTP ${res.status}`}`,
        );
      }
      return j;
    }
    throw new StoreError(
      `Cannot reach etcd at ${this.endpoints.join(", ")}: ${
        (lastErr as Error)?.message ?? "aborted"
      }`,
      { cause: lastErr },
    );
  }

  /**
   * `etcdctl get [--prefix]`: keys from `key` to `rangeEnd` (or just `key`), with the (first)
   * answer's header: a linearizable read, its revision is etcd's latest. A range over several keys
   * is read in pages (`opts.pageSize`) at that revision; when etcd compacted it before the last
   * page, the range starts over (at most 3 times).
   */
  async range(
    key: string,
    rangeEnd?: string,
    opts: EtcdRangeOptions = {},
  ): Promise<{ kvs: EtcdKv[]; revision: number; header: EtcdHeader }> {
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#range(key, rangeEnd, opts);
      } catch (e) {
        if (attempt >= 3 || !(e instanceof EtcdAnswerError) || !/compacted/.test(e.message)) {
          throw e;
        }
      }
    }
  }

  async #range(
    key: string,
    rangeEnd: string | undefined,
    opts: EtcdRangeOptions,
  ): Promise<{ kvs: EtcdKv[]; revision: number; header: EtcdHeader }> {
    const body: Json = { key: b64(key) };
    if (rangeEnd !== undefined) {
      body.range_end = b64(rangeEnd);
      body.limit = String(Math.max(1, opts.pageSize ?? 64));
    }
    const kvs: EtcdKv[] = [];
    let first: EtcdHeader | undefined;
    const max = opts.maxValueBytes;
    const read = max === undefined
      ? undefined
      : (b: ReadableStream<Uint8Array>) => readFiltered(b, max);
    for (;;) {
      const j = await this.call("/v3/kv/range", body, undefined, read);
      const page = j.kvs ?? [];
      const revision = Number(j.header?.revision);
      if (!Array.isArray(page) || !Number.isSafeInteger(revision) || revision <= 0) {
        throw new StoreError(
          `etcd ${
            this.endpoints[this.#current]
          } range ${key}: not a range answer (kvs and header.revision): ${
            JSON.stringify(j).slice(0, 200)
          }`,
        );
      }
      first ??= etcdHeaderOf(j)!;
      for (const raw of page) kvs.push(kvOf(raw, opts.maxValueBytes));
      const last = page.at(-1)?.key;
      if (rangeEnd === undefined || j.more !== true || typeof last !== "string") break;
      body.key = keyAfter(last);
      body.revision = String(first.revision);
    }
    return { kvs, revision: first.revision, header: first };
  }

  /** `etcdctl put KEY VALUE [--lease ID]`. */
  async put(key: string, value: string, lease?: string): Promise<number> {
    const body: Json = { key: b64(key), value: b64(value) };
    if (lease && lease !== "0") body.lease = lease;
    const j = await this.call("/v3/kv/put", body);
    return Number(j.header?.revision ?? 0);
  }

  /** `etcdctl del KEY`. */
  async delete(key: string): Promise<void> {
    await this.call("/v3/kv/deleterange", { key: b64(key) });
  }

  /** A txn: if every compare holds, put (key, value, lease) ; returns whether it did. */
  async putIf(
    compares: EtcdCompare[],
    put: { key: string; value: string; lease?: string },
  ): Promise<{ succeeded: boolean; revision: number }> {
    const req: Json = { key: b64(put.key), value: b64(put.value) };
    if (put.lease && put.lease !== "0") req.lease = put.lease;
    const j = await this.call("/v3/kv/txn", {
      compare: compares.map((c) =>
        c.target === "CREATE"
          ? {
            key: b64(c.key),
            target: "CREATE",
            result: "EQUAL",
            create_revision: String(c.createRevision),
          }
          : { key: b64(c.key), target: "MOD", result: "EQUAL", mod_revision: String(c.modRevision) }
      ),
      success: [{ request_put: req }],
    });
    return { succeeded: j.succeeded === true, revision: Number(j.header?.revision ?? 0) };
  }

  /** A txn: delete `key` if its mod revision is still `modRevision`. */
  async deleteIf(key: string, modRevision: number): Promise<boolean> {
    const j = await this.call("/v3/kv/txn", {
      compare: [{
        key: b64(key),
        target: "MOD",
        result: "EQUAL",
        mod_revision: String(modRevision),
      }],
      success: [{ request_delete_range: { key: b64(key) } }],
    });
    return j.succeeded === true;
  }

  /** `etcdctl lease grant TTL`; returns the lease ID. */
  async grant(ttlSeconds: number): Promise<string> {
    const j = await this.call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    if (!j.ID) throw new StoreError(`etcd lease grant: no ID in ${JSON.stringify(j)}`);
    return String(j.ID);
  }

  /** One keep-alive round trip; returns the new TTL, 0 when the lease no longer exists. */
  async keepAlive(id: string): Promise<number> {
    const j = await this.call("/v3/lease/keepalive", { ID: id });
    return Number(j.result?.TTL ?? 0);
  }

  /** Seconds the lease has left (`etcdctl lease timetolive ID`); -1 when it no longer exists. */
  async timeToLive(id: string): Promise<number> {
    const j = await this.call("/v3/lease/timetolive", { ID: id });
    return Number(j.TTL ?? -1);
  }

  /** `etcdctl lease revoke ID` (missing leases are fine). */
  async revoke(id: string): Promise<void> {
    try {
      await this.call("/v3/lease/revoke", { ID: id });
    } catch (e) {
      if (!/not found/i.test((e as Error).message)) throw e;
    }
  }

  /**
   * Streams events for keys in [key, rangeEnd) after `startRevision` - 1 until `signal` aborts
   * or the connection drops (the iterator then throws StoreError; EtcdCompactedError when the
   * revision is gone): one item per message, with its header (the creation and progress messages
   * have no events). etcd accepts a `startRevision` beyond its own and waits for it: the caller
   * compares the headers with what it has seen (store/_etcd_history.ts). `opts.maxValueBytes`: as
   * in range().
   */
  async *watch(
    key: string,
    rangeEnd: string,
    startRevision: number,
    signal: AbortSignal,
    opts: { maxValueBytes?: number } = {},
  ): AsyncIterable<EtcdWatchMessage> {
    const max = opts.maxValueBytes;
    const ep = this.endpoints[this.#current]!;
    let res: Response;
    try {
      res = await fetch(`${ep}/v3/watch`, {
        method: "POST",
        signal,
        body: JSON.stringify({
          create_request: {
            key: b64(key),
            range_end: b64(rangeEnd),
            start_revision: String(startRevision),
            prev_kv: true,
          },
        }),
      });
    } catch (e) {
      this.#current = (this.#current + 1) % this.endpoints.length;
      if (signal.aborted) return;
      throw new StoreError(`Cannot watch etcd at ${ep}: ${(e as Error).message}`, { cause: e });
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new StoreError(`etcd watch at ${ep}: HTTP ${res.status}`);
    }
    let buf = "";
    try {
      const bytes = max === undefined
        ? res.body
        : res.body.pipeThrough(largeValueFilterStream(max));
      const text = bytes.pipeThrough(new TextDecoderStream());
      for await (const chunk of chunksUntilAborted(text, signal)) {
        buf += chunk;
        let nl: number;
        while (
          (nl = buf.indexOf("\n")) >= 0 || (buf.trim().startsWith("{") && isCompleteJson(buf))
        ) {
          const line = nl >= 0 ? buf.slice(0, nl) : buf;
          buf = nl >= 0 ? buf.slice(nl + 1) : "";
          if (!line.trim()) continue;
          const j: Json = JSON.parse(line);
          if (j.error) {
            throw new StoreError(`etcd watch: ${j.error.message ?? JSON.stringify(j.error)}`);
          }
          const r = j.result ?? {};
          if (r.compact_revision && r.compact_revision !== "0") {
            throw new EtcdCompactedError(Number(r.compact_revision));
          }
          if (r.canceled) {
            throw new StoreError(`etcd watch canceled: ${r.cancel_reason ?? "no reason given"}`);
          }
          const events = Array.isArray(r.events) ? r.events : [];
          yield {
            header: etcdHeaderOf(j),
            events: events.map((e: Json): EtcdEvent => {
              const ev: EtcdEvent = {
                type: e.type === "DELETE" ? "DELETE" : "PUT",
                kv: kvOf(e.kv, max),
              };
              if (e.prev_kv) ev.prevKv = kvOf(e.prev_kv, max);
              return ev;
            }),
          };
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof StoreError) throw e;
      throw new StoreError(`etcd watch at ${ep} broke: ${(e as Error).message}`, { cause: e });
    }
    if (!signal.aborted) throw new StoreError(`etcd watch at ${ep}: the server closed the stream`);
  }
}

function isCompleteJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
