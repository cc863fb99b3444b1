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

export type { EtcdHeader, EtcdMark };

/** A key/value as the gateway returns it, decoded. */
export interface EtcdKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease ID ("0" when none). */
  lease: string;
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

function kvOf(raw: Json): EtcdKv {
  return {
    key: unb64(raw?.key),
    value: unb64(raw?.value),
    createRevision: Number(raw?.create_revision ?? 0),
    modRevision: Number(raw?.mod_revision ?? 0),
    lease: String(raw?.lease ?? "0"),
  };
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

  /** POSTs `body` to `path` on a live endpoint; returns the parsed JSON. Throws StoreError. */
  async call(path: string, body: unknown, signal?: AbortSignal): Promise<Json> {
    const mark = this.#observer?.mark();
    try {
      const j = await this.#call(path, body, signal);
      this.#observe(j, mark);
      return j;
    } catch (e) {
      if (e instanceof StoreError && !(e instanceof EtcdAnswerError) && !signal?.aborted) {
        this.#onTrouble();
      }
      throw e;
    }
  }

  async #call(path: string, body: unknown, signal?: AbortSignal): Promise<Json> {
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
        text = await res.text();
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
   * `etcdctl get [--prefix]`: keys from `key` to `rangeEnd` (or just `key`), with the answer's
   * header (a linearizable read: its revision is etcd's latest).
   */
  async range(
    key: string,
    rangeEnd?: string,
  ): Promise<{ kvs: EtcdKv[]; revision: number; header: EtcdHeader }> {
    const body: Json = { key: b64(key) };
    if (rangeEnd !== undefined) body.range_end = b64(rangeEnd);
    const j = await this.call("/v3/kv/range", body);
    const kvs = j.kvs ?? [];
    const revision = Number(j.header?.revision);
    if (!Array.isArray(kvs) || !Number.isSafeInteger(revision) || revision <= 0) {
      throw new StoreError(
        `etcd ${
          this.endpoints[this.#current]
        } range ${key}: not a range answer (kvs and header.revision): ${
          JSON.stringify(j).slice(0, 200)
        }`,
      );
    }
    return { kvs: kvs.map(kvOf), revision, header: etcdHeaderOf(j)! };
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
   * compares the headers with what it has seen (store/_etcd_history.ts).
   */
  async *watch(
    key: string,
    rangeEnd: string,
    startRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<EtcdWatchMessage> {
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
      const text = res.body.pipeThrough(new TextDecoderStream());
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
                kv: kvOf(e.kv),
              };
              if (e.prev_kv) ev.prevKv = kvOf(e.prev_kv);
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
