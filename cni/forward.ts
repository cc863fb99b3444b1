/**
 * The CNI plugin's forwarding client: when the node's daemon serves CNI on its unix socket, the
 * plugin process only hands it the call (the CNI_* variables and the stdin bytes) and prints
 * what comes back. This module imports nothing (no config parsing, no FFI, no YAML), so the
 * forwarding path costs little more than the runtime's own start.
 *
 * The installed launcher runs cni/forward_fast.pl, a perl copy of this client that starts
 * ~15 ms faster, when a daemon may be there, and this module when that one hands the call on.
 *
 * The socket is found through the node lease file the daemon writes (`cniSocket`): the one
 * the config's `ipam.leaseFile` names, else /run/skein/subnet.json. `SKEIN_CNI_SOCKET` in the
 * environment overrides it ("off" turns forwarding off).
 *
 * Wire format (all lengths u32 big-endian). Request: "SKC1", header length, header JSON
 * (`{"env":{"CNI_COMMAND":..}}`), stdin length, stdin bytes. Reply: one byte, "A" (accepted:
 * the daemon runs the call) or "F" (declined: run it in-process); after "A": exit code, stdout
 * length, stdout, stderr length, stderr. The plugin answers "A" with "G" (GO) before the daemon
 * starts: a plugin that stopped waiting runs the call itself, and the daemon does not.
 *
 * @module
 */

/** Where the daemon's JSON lease file is by default (node/lease_file.ts says the same; not imported, to keep this module import-free). */
export const DEFAULT_LEASE_FILE = "/run/skein/subnet.json";
/** Largest network config accepted on stdin (cmd/cni.ts refuses more with code 6). */
export const MAX_STDIN = 1 << 20;
/** Largest request header (the CNI_* variables; CNI_ARGS can be long). */
export const MAX_HEADER = 1 << 20;
/** Request magic and version. */
export const MAGIC = "SKC1";
/** Reply byte: the daemon runs the call. */
export const ACCEPTED = 0x41;
/** Reply byte: the daemon does not serve this call; the plugin runs it in-process. */
export const DECLINED = 0x46;
/**
 * The plugin's byte after "A": it still waits, so the daemon may run the call. A plugin that
 * gave up waiting for "A" (and runs the call itself) never sends it, so the call never runs
 * twice.
 */
export const GO = 0x47;

/** How long the plugin waits for the daemon to accept (or decline) before running in-process. */
const ACCEPT_TIMEOUT_MS = 2000;
/** How long it waits for the answer after "A" (the daemon's own deadline is shorter). */
const ANSWER_TIMEOUT_MS = 120_000;

/** What a forwarded call printed and returned. */
export interface Forwarded {
  /** Exit code. */
  code: number;
  /** stdout bytes, exactly as the in-process path prints them. */
  stdout: Uint8Array;
  /** stderr bytes. */
  stderr: Uint8Array;
}

/** Why stdin could not be used: more than MAX_STDIN bytes (code 6), or a read error (code 5). */
export interface StdinFailure {
  /** "too-large" or "read". */
  failure: "too-large" | "read";
  /** The read error's message. */
  message?: string;
}

/** stdin read to EOF, or why it could not be. */
export type StdinBytes = Uint8Array | StdinFailure;

/**
 * Reads stdin to EOF synchronously (the stream machinery costs ~8 ms at process start). Stops
 * past MAX_STDIN, so an endless or huge stdin cannot exhaust memory.
 */
export function readStdinSync(): StdinBytes {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const buf = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = Deno.stdin.readSync(buf);
    } catch (e) {
      return { failure: "read", message: (e as Error).message };
    }
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    total += n;
    if (total > MAX_STDIN) return { failure: "too-large" };
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** The CNI_* variables of this process. */
export function cniEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) if (k.startsWith("CNI_")) out[k] = v;
  return out;
}

/**
 * The daemon's CNI socket for this call, or undefined when no daemon announces one:
 * $SKEIN_CNI_SOCKET, else `cniSocket` of the lease file the config names (`ipam.leaseFile`,
 * default /run/skein/subnet.json).
 */
export function socketFor(stdin: Uint8Array): string | undefined {
  const env = Deno.env.get("SKEIN_CNI_SOCKET");
  if (env !== undefined) return env === "" || env === "off" ? undefined : env;
  let leaseFile = DEFAULT_LEASE_FILE;
  try {
    const conf = JSON.parse(new TextDecoder().decode(stdin));
    const lf = conf?.ipam?.leaseFile;
    if (typeof lf === "string" && lf.startsWith("/")) leaseFile = lf;
  } catch {
    // not JSON: the daemon reports that like the in-process path would
  }
  if (leaseFile.endsWith(".env")) leaseFile = DEFAULT_LEASE_FILE;
  try {
    const text = readLeaseText(leaseFile);
    const sock = text === undefined ? undefined : JSON.parse(text)?.cniSocket;
    return typeof sock === "string" && sock.startsWith("/") ? sock : undefined;
  } catch {
    return undefined; // no daemon (yet): in-process
  }
}

/** node/lease_file.ts's MAX_LEASE_FILE_BYTES (not imported, to keep this module import-free). */
const MAX_LEASE_FILE = 64 * 1024;

/**
 * The lease file's text, or undefined unless it is a regular file of at most 64 KiB: the config
 * names it, and `/dev/zero` would be read until memory runs out, a FIFO forever. The in-process
 * path then reads it through node/lease_file.ts, which says what is wrong with it.
 */
function readLeaseText(path: string): string | undefined {
  const st = Deno.statSync(path);
  if (!st.isFile || st.size > MAX_LEASE_FILE) return undefined;
  using f = Deno.openSync(path, { read: true });
  const buf = new Uint8Array(MAX_LEASE_FILE + 1);
  let n = 0;
  while (n < buf.length) {
    const r = f.readSync(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return n > MAX_LEASE_FILE ? undefined : new TextDecoder().decode(buf.subarray(0, n));
}

/** The request bytes for a call. */
export function encodeRequest(env: Record<string, string>, stdin: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ env }));
  const out = new Uint8Array(12 + header.length + stdin.length);
  const v = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MAGIC), 0);
  v.setUint32(4, header.length);
  out.set(header, 8);
  v.setUint32(8 + header.length, stdin.length);
  out.set(stdin, 12 + header.length);
  return out;
}

/** The reply bytes after "A". */
export function encodeAnswer(a: Forwarded): Uint8Array {
  const out = new Uint8Array(13 + a.stdout.length + a.stderr.length);
  const v = new DataView(out.buffer);
  out[0] = ACCEPTED;
  v.setUint32(1, a.code);
  v.setUint32(5, a.stdout.length);
  out.set(a.stdout, 9);
  v.setUint32(9 + a.stdout.length, a.stderr.length);
  out.set(a.stderr, 13 + a.stdout.length);
  return out;
}

/** Parses a complete reply after "A"; undefined when it is cut short or malformed. */
export function decodeAnswer(b: Uint8Array): Forwarded | undefined {
  if (b.length < 13 || b[0] !== ACCEPTED) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const outLen = v.getUint32(5);
  if (9 + outLen + 4 > b.length) return undefined;
  const errLen = v.getUint32(9 + outLen);
  if (13 + outLen + errLen !== b.length) return undefined;
  return {
    code: v.getUint32(1),
    stdout: b.subarray(9, 9 + outLen),
    stderr: b.subarray(13 + outLen),
  };
}

/**
 * Resolves to "timeout" after `ms`. AbortSignal.timeout, not setTimeout: the global setTimeout
 * is node's and loads node's timers, inspect and errors modules on first use (~5 ms CPU,
 * measured with --cpu-prof); this timer does not keep the process alive either.
 */
function timeout(ms: number): Promise<"timeout"> {
  const signal = AbortSignal.timeout(ms);
  return new Promise((r) => signal.addEventListener("abort", () => r("timeout"), { once: true }));
}

/**
 * Sends the call to the daemon. Returns its answer, or undefined when the plugin must run the
 * call itself: no socket, connection refused, no "A" within 2 s, the daemon declined, or the
 * the connection broke before the daemon accepted. "broken": the daemon accepted the call and the
 * connection broke before a complete answer (a daemon that died mid-call: see orphanedCall).
 */
export async function forward(
  socket: string,
  env: Record<string, string>,
  stdin: Uint8Array,
): Promise<Forwarded | "timeout" | "broken" | undefined> {
  let conn: Deno.UnixConn;
  try {
    // A unix connect does not wait: it succeeds, or fails at once (no listener, full backlog).
    conn = await Deno.connect({ transport: "unix", path: socket });
  } catch {
    return undefined;
  }
  let accepted = false;
  try {
    await conn.write(encodeRequest(env, stdin));
    const chunks: Uint8Array[] = [];
    let total = 0;
    let deadline = timeout(ACCEPT_TIMEOUT_MS);
    while (true) {
      const buf = new Uint8Array(64 * 1024);
      const n = await Promise.race([conn.read(buf), deadline]);
      if (n === "timeout") return total === 0 ? undefined : "timeout";
      if (n === null) break;
      if (total === 0) {
        if (buf[0] !== ACCEPTED) return undefined; // declined
        await conn.write(new Uint8Array([GO]));
        accepted = true;
        deadline = timeout(ANSWER_TIMEOUT_MS);
      }
      chunks.push(buf.subarray(0, n));
      total += n;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return accepted ? decodeAnswer(all) ?? "broken" : undefined;
  } catch {
    return accepted ? "broken" : undefined;
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

function writeAllSync(w: { writeSync(b: Uint8Array): number }, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += w.writeSync(data.subarray(off));
}

/**
 * Where the daemon serving `socket` marks an ADD of (containerId, ifName) it runs: the file
 * exists from before the call until its answer was written, and holds
 * `{"pid":N,"network":"..","state":"started"|"touched"}` ("touched": the ADD got past its
 * checks and may have reserved addresses or made links).
 */
export function addMarkerPath(socket: string, containerId: string, ifName: string): string {
  return `${socket}.adds/${encodeURIComponent(`${containerId}/${ifName}`)}`;
}

/** The process is gone (no /proc entry, or a zombie waiting to be reaped). */
function processGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/** What to do about a call the daemon accepted and never answered. */
export type Orphaned = "in-process" | "try-later" | { recoverAdd: string };

/**
 * A call the daemon on `socket` accepted and then dropped: run it in-process ("in-process"),
 * answer "try again later" ("try-later": the daemon still runs the ADD; running it here too
 * would race it), or first undo what the dead daemon's half-done ADD of this attachment left
 * (`recoverAdd`: the marker's path; cni/plugin.ts does that, then the ADD).
 */
export function orphanedCall(socket: string, env: Record<string, string>): Orphaned {
  if (env.CNI_COMMAND !== "ADD" || !env.CNI_CONTAINERID || !env.CNI_IFNAME) return "in-process";
  const marker = addMarkerPath(socket, env.CNI_CONTAINERID, env.CNI_IFNAME);
  let m: { pid?: unknown; state?: unknown };
  try {
    m = JSON.parse(Deno.readTextFileSync(marker));
  } catch {
    return "in-process"; // the daemon never started it, or answered it (the answer was lost)
  }
  if (typeof m?.pid !== "number" || !processGone(m.pid)) return "try-later";
  if (m.state === "touched") return { recoverAdd: marker };
  try {
    Deno.removeSync(marker);
  } catch {
    // another plugin process took it
  }
  return "in-process";
}

/** Prints the spec's "try again later" (code 11) with the config's version; returns 1. */
function tryLater(stdin: Uint8Array, msg: string): number {
  let cniVersion = "1.1.0";
  try {
    const v = JSON.parse(new TextDecoder().decode(stdin))?.cniVersion;
    if (typeof v === "string" && /^\d+\.\d+\.\d+$/.test(v)) cniVersion = v;
  } catch {
    // keep the newest version
  }
  const out = { cniVersion, code: 11, msg };
  writeAllSync(Deno.stdout, new TextEncoder().encode(JSON.stringify(out) + "\n"));
  return 1;
}

/**
 * The whole forwarding path: finds the daemon's socket, sends the call, prints the answer and
 * returns the exit code; undefined when the plugin must run the call itself, `{recoverAdd}`
 * when it must first undo a dead daemon's half-done ADD of this attachment. A daemon that
 * accepted the call but did not answer within 2 minutes, or dropped it while it still runs
 * (orphanedCall), gets the spec's "try again later" (code 11): running the call a second time
 * in-process could race the daemon's. `SKEIN_CNI_ORPHANED=SOCKET` says the perl client
 * (forward_fast.pl) saw that daemon drop the call.
 */
export async function forwardCall(
  stdin: StdinBytes,
): Promise<number | { recoverAdd: string } | undefined> {
  if (!(stdin instanceof Uint8Array)) return undefined;
  const socket = socketFor(stdin);
  const dropped = Deno.env.get("SKEIN_CNI_ORPHANED");
  if (socket === undefined && dropped?.startsWith("/")) return orphaned(dropped, stdin);
  if (socket === undefined) return undefined;
  const a = await forward(socket, cniEnv(), stdin);
  if (a === undefined) return undefined;
  if (a === "broken") return orphaned(socket, stdin);
  if (a === "timeout") {
    return tryLater(stdin, `the skein daemon on ${socket} did not answer in time`);
  }
  writeAllSync(Deno.stdout, a.stdout);
  writeAllSync(Deno.stderr, a.stderr);
  return a.code;
}

function orphaned(socket: string, stdin: Uint8Array): number | { recoverAdd: string } | undefined {
  const o = orphanedCall(socket, cniEnv());
  if (o === "in-process") return undefined;
  if (o === "try-later") {
    return tryLater(stdin, `the skein daemon on ${socket} dropped the call and still runs it`);
  }
  return o;
}
