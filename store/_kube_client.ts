/**
 * A small typed Kubernetes API client on Deno's fetch: JSON requests with a deadline, merge
 * patches, and a watch stream decoded line by line. TLS is verified against the credentials' CA
 * (Deno.createHttpClient); a bearer token file is re-read every minute and after a 401, since
 * bound service-account tokens rotate. Errors are the typed ones of kube_errors.ts; a network
 * failure is a StoreError.
 *
 * @module
 */
import { StoreError } from "./errors.ts";
import type { KubeCredentials } from "./kube_config.ts";
import { KubeApiError, kubeError, type KubeRequestInfo } from "./kube_errors.ts";
import { chunksUntilAborted } from "./_util.ts";

/** One request: what it is (for errors) and how to send it. */
export interface KubeRequest extends KubeRequestInfo {
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE";
  /** API path with query, e.g. "/api/v1/nodes?limit=500". */
  path: string;
  body?: unknown;
  /** Content type of the body (default application/json; merge patches use their own). */
  contentType?: string;
}

/** One watch event as the apiserver streams it. */
export interface KubeWatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** The media type of a JSON merge patch (RFC 7386). */
export const MERGE_PATCH = "application/merge-patch+json";

const TOKEN_REREAD_MS = 60_000;

/** A connection to one apiserver. */
export class KubeClient {
  readonly creds: KubeCredentials;
  #http?: Deno.HttpClient;
  #timeoutMs: number;
  #token?: { value: string; at: number };
  /** Requests sent (for tests and benchmarks). */
  requests = 0;

  #onTrouble: () => void;

  /**
   * `onTrouble` is called when a request gets no usable answer (unreachable, no answer in time,
   * a 5xx, an answer that is not the apiserver's): an open watch stream may be dead too.
   */
  constructor(
    creds: KubeCredentials,
    opts: { timeoutMs?: number; onTrouble?: () => void } = {},
  ) {
    this.creds = creds;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#onTrouble = opts.onTrouble ?? (() => {});
    if (creds.caCert || creds.clientCert) {
      const base: Deno.CreateHttpClientOptions = creds.caCert ? { caCerts: [creds.caCert] } : {};
      this.#http = creds.clientCert && creds.clientKey
        ? Deno.createHttpClient({ ...base, cert: creds.clientCert, key: creds.clientKey })
        : Deno.createHttpClient(base);
    }
  }

  /** The bearer token to send now (the token file re-read when older than a minute). */
  #bearer(force = false): string | undefined {
    if (this.creds.tokenFile) {
      const now = Date.now();
      if (force || !this.#token || now - this.#token.at > TOKEN_REREAD_MS) {
        try {
          this.#token = { value: Deno.readTextFileSync(this.creds.tokenFile).trim(), at: now };
        } catch (e) {
          if (!this.#token) {
            throw new StoreError(
              `cannot read token file ${this.creds.tokenFile}: ${(e as Error).message}`,
            );
          }
        }
      }
      return this.#token!.value;
    }
    return this.creds.token;
  }

  async #fetch(
    req: KubeRequest,
    signal: AbortSignal | undefined,
    forceToken: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = this.#bearer(forceToken);
    if (token) headers.authorization = `Bearer ${token}`;
    if (req.body !== undefined) headers["content-type"] = req.contentType ?? "application/json";
    this.requests++;
    try {
      return await fetch(this.creds.server + req.path, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal,
        client: this.#http,
      });
    } catch (e) {
      // Aborted (by the caller, or by a deadline the caller words as "no answer within").
      if (signal?.aborted) throw e;
      throw new StoreError(
        `kubernetes ${req.verb} ${req.resource}: ${this.creds.server} unreachable: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
  }

  /** Sends `req` with a fresh token after a 401 (a rotated token file), once. */
  async #send(req: KubeRequest, signal?: AbortSignal): Promise<Response> {
    let r = await this.#fetch(req, signal, false);
    if (r.status === 401 && this.creds.tokenFile) {
      await r.body?.cancel();
      r = await this.#fetch(req, signal, true);
    }
    return r;
  }

  /** Sends a request and returns its JSON answer; a non-2xx answer throws the typed error. */
  async request<T>(req: KubeRequest, signal?: AbortSignal): Promise<T> {
    try {
      return await this.#request<T>(req, signal);
    } catch (e) {
      const apiAnswer = e instanceof KubeApiError && e.status.code < 500;
      if (e instanceof StoreError && !apiAnswer && !signal?.aborted) this.#onTrouble();
      throw e;
    }
  }

  async #request<T>(req: KubeRequest, signal?: AbortSignal): Promise<T> {
    const text = await this.requestText(req, signal);
    if (!text) return {} as T;
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      j = undefined;
    }
    if (typeof j !== "object" || j === null || Array.isArray(j)) {
      throw new StoreError(
        `kubernetes ${req.verb} ${req.resource}: the answer of ${this.creds.server} is not a JSON object: ${
          text.slice(0, 200)
        }`,
      );
    }
    return j as T;
  }

  /** Sends a request and returns its body as text (`/readyz`, `/metrics`); errors as request(). */
  async requestText(req: KubeRequest, signal?: AbortSignal): Promise<string> {
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const s = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const r = await this.#send(req, s);
      const text = await r.text();
      if (!r.ok) throw kubeError(r.status, text, req);
      return text;
    } catch (e) {
      if (deadline.aborted && !(e instanceof StoreError)) {
        throw new StoreError(
          `kubernetes ${req.verb} ${req.resource}: no answer within ${this.#timeoutMs} ms`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /**
   * Streams a watch (`path` with `watch=1` and its resourceVersion) until `signal` aborts or the
   * server ends it. The HTTP answer is awaited with the request deadline; the stream itself has
   * none (the server ends watches after its timeoutSeconds).
   */
  async *watch<T>(req: KubeRequest, signal: AbortSignal): AsyncIterable<KubeWatchEvent<T>> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => ctl.abort(new DOMException("timeout", "TimeoutError")),
      this.#timeoutMs,
    );
    try {
      const r = await this.#send(req, ctl.signal);
      clearTimeout(timer);
      if (!r.ok) throw kubeError(r.status, await r.text(), req);
      if (!r.body) throw new StoreError(`kubernetes watch ${req.resource}: no body`);
      let buf = "";
      const dec = new TextDecoder();
      for await (const chunk of chunksUntilAborted(r.body, ctl.signal)) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) yield JSON.parse(line) as KubeWatchEvent<T>;
        }
      }
      if (buf.trim()) {
        throw new StoreError(
          `kubernetes watch ${req.resource}: the answer of ${this.creds.server} is not JSON lines: ${
            buf.trim().slice(0, 200)
          }`,
        );
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof StoreError) throw e;
      if ((ctl.signal.reason as Error)?.name === "TimeoutError") {
        throw new StoreError(
          `kubernetes watch ${req.resource}: no answer within ${this.#timeoutMs} ms`,
          { cause: e },
        );
      }
      throw new StoreError(`kubernetes watch ${req.resource} broke: ${(e as Error).message}`, {
        cause: e,
      });
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      ctl.abort();
    }
  }

  /** Closes the TLS client. */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }
}
