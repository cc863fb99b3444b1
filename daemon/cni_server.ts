/**
 * The daemon's CNI service: plugin processes forward their call (cni/forward.ts) over a unix
 * socket, and the daemon runs it in-process (cni/call.ts, already loaded and compiled) and
 * sends back the exact stdout, stderr and exit code.
 *
 * Who may call: the socket is mode 0600, and each connection's SO_PEERCRED must say uid 0
 * (net/unix_server.ts accepts through FFI, since Deno's unix listener hides the descriptor).
 * The peer's network namespace (/proc/<pid>/ns/net) must be the one this daemon serves;
 * otherwise the call is declined and the plugin runs it itself.
 *
 * Robustness: reading a request has a deadline (a slow or silent client is dropped), every
 * blocking socket call runs on a helper thread with a timeout, a malformed request closes its
 * connection only, and each call has a deadline after which the plugin gets "try again later"
 * (code 11). Calls for different containers run in parallel; calls for the same container id
 * run one after the other. All namespace work in the CNI code is synchronous on the JS thread
 * (openHandle, withNetns, sysctls), so concurrent calls never observe each other's setns.
 *
 * @module
 */
import { type UnixPeer, UnixServer } from "../net/unix_server.ts";
import { runCniCall } from "../cni/call.ts";
import {
  ACCEPTED,
  addMarkerPath,
  DECLINED,
  encodeAnswer,
  type Forwarded,
  GO,
  MAGIC,
  MAX_HEADER,
  MAX_STDIN,
} from "../cni/forward.ts";
import { isSupportedVersion, LATEST_VERSION } from "../cni/versions.ts";
import { foldedValue } from "../cni/ipam/_keys.ts";
import type { Logger } from "./log.ts";
import { KeyedQueue } from "./_keyed_queue.ts";
import { atomicWriteFile } from "../node/atomic_write.ts";

/** Options for serveCni(). */
export interface CniServerOptions {
  /** Socket path (default /run/skein/cni.sock). */
  socketPath: string;
  /** The namespace the daemon's dataplane lives in (config netns); undefined: its own. */
  hostNetns?: string;
  /** Logger. */
  log: Logger;
  /** How long a client may take to send its request (default 5 s). */
  readTimeoutMs?: number;
  /** How long one call may run before the plugin is told to try again (default 60 s). */
  callTimeoutMs?: number;
  /** Connections handled at once; more are declined (the plugin runs in-process). */
  maxConnections?: number;
}

/** The running service. */
export interface CniServer {
  /** The socket path clients connect to. */
  readonly socketPath: string;
  /** Stops accepting, waits for the calls in flight, removes the socket. */
  close(): Promise<void>;
}

/** Where the daemon listens by default. */
export const DEFAULT_CNI_SOCKET = "/run/skein/cni.sock";

interface Request {
  env: Record<string, string>;
  stdin: Uint8Array;
  /** The plugin process (SO_PEERCRED): CNI_NETNS is opened as that process sees it. */
  peerPid: number;
}

class BadRequest extends Error {}

/** Reads exactly `n` bytes (fewer only at end of stream). */
async function readN(peer: UnixPeer, n: number): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await peer.read(out.subarray(off) as Uint8Array<ArrayBuffer>);
    if (got === 0) throw new BadRequest(`request cut short after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

async function readRequest(peer: UnixPeer): Promise<Request> {
  const head = await readN(peer, 8);
  if (new TextDecoder().decode(head.subarray(0, 4)) !== MAGIC) throw new BadRequest("bad magic");
  const hlen = new DataView(head.buffer).getUint32(4);
  if (hlen > MAX_HEADER) throw new BadRequest(`header of ${hlen} bytes`);
  const header = JSON.parse(new TextDecoder().decode(await readN(peer, hlen)));
  const env = header?.env;
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new BadRequest("header has no env object");
  }
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith("CNI_") || typeof v !== "string") throw new BadRequest(`bad variable ${k}`);
    clean[k] = v;
  }
  const slen = new DataView((await readN(peer, 4)).buffer).getUint32(0);
  if (slen > MAX_STDIN) throw new BadRequest(`stdin of ${slen} bytes`);
  return { env: clean, stdin: await readN(peer, slen), peerPid: peer.cred.pid };
}

/** The config's cniVersion when skein speaks it, else the newest (as cni/call.ts reports). */
function versionOf(stdin: Uint8Array): string {
  try {
    const v = JSON.parse(new TextDecoder().decode(stdin))?.cniVersion;
    return isSupportedVersion(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

/** True when the plugin sends "G" within `ms`; false on anything else, EOF or silence. */
async function committed(peer: UnixPeer, ms: number): Promise<boolean> {
  const timer = setTimeout(() => peer.abort(), ms);
  try {
    const b = new Uint8Array(1);
    return await peer.read(b) === 1 && b[0] === GO;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = Deno.statSync(a);
    const y = Deno.statSync(b);
    return x.ino === y.ino && x.dev === y.dev;
  } catch {
    return false;
  }
}

/**
 * Calls that must run subprocesses (nft for ipMasq and GC, a delegated IPAM plugin) in the
 * plugin's namespace: only possible when that namespace is the daemon's own.
 */
function needsOwnNamespace(r: Request): boolean {
  if (r.env.CNI_COMMAND === "GC") return true;
  try {
    const conf = JSON.parse(new TextDecoder().decode(r.stdin));
    if (conf?.ipMasq === true) return true;
    const ipam = conf?.ipam;
    // ipam.type read ignoring case, as cni/netconf.ts (and libcni) read it.
    return conf?.type === "skein" && ipam !== undefined &&
      (typeof ipam !== "object" || ipam === null || foldedValue(ipam, "type", "ipam") !== "skein");
  } catch {
    return false; // the call fails on its config, the same everywhere
  }
}

/**
 * Starts serving CNI calls on `socketPath` (`skein daemon`'s `cniSocket`). Throws when the
 * socket cannot be created (the daemon logs it and runs on; plugins then work in-process).
 */
export function serveCni(o: CniServerOptions): CniServer {
  const server = UnixServer.listen({ path: o.socketPath, mode: 0o600, ioTimeoutMs: 5000 });
  const ctx: Service = {
    o,
    served: o.hostNetns ?? "/proc/self/ns/net",
    queue: new KeyedQueue(),
    inFlight: new Set(),
    max: o.maxConnections ?? 64,
    readTimeout: o.readTimeoutMs ?? 5000,
    callTimeout: o.callTimeoutMs ?? 60_000,
  };
  const loop = (async () => {
    while (true) {
      const peer = await server.accept();
      if (!peer) return;
      const p = handleConnection(ctx, peer).catch(() => {});
      ctx.inFlight.add(p);
      p.finally(() => ctx.inFlight.delete(p));
    }
  })();
  o.log.info("serving CNI calls", { socket: o.socketPath });
  return {
    socketPath: o.socketPath,
    async close() {
      await server.close();
      await loop;
      await Promise.allSettled([...ctx.inFlight]);
    },
  };
}

/** What every connection of one service shares. */
interface Service {
  o: CniServerOptions;
  /** The namespace whose plugins this service runs calls for. */
  served: string;
  queue: KeyedQueue;
  inFlight: Set<Promise<void>>;
  max: number;
  readTimeout: number;
  callTimeout: number;
}

/**
 * Runs the call (serialized per container id); past the deadline, answers "try again later".
 * `done` settles when the call itself has ended.
 */
async function runWithDeadline(
  ctx: Service,
  r: Request,
  addMarker?: string,
): Promise<{ answer: Forwarded; done: Promise<unknown> }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<Forwarded>((resolve) => {
    timer = setTimeout(() => {
      const msg = {
        cniVersion: versionOf(r.stdin),
        code: 11,
        msg: "the skein daemon's call timed out",
        details: `no answer within ${ctx.callTimeout} ms; the call goes on, try again later`,
      };
      resolve({
        code: 1,
        stdout: new TextEncoder().encode(JSON.stringify(msg) + "\n"),
        stderr: new Uint8Array(),
      });
    }, ctx.callTimeout);
  });
  const work = ctx.queue.run(r.env.CNI_CONTAINERID ?? "", () =>
    runCniCall({
      getenv: (n) => r.env[n],
      stdin: r.stdin,
      hostNetns: ctx.o.hostNetns,
      peerPid: r.peerPid,
      longLived: true,
      addMarker,
    }));
  try {
    return { answer: await Promise.race([work, late]), done: work };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Marks an ADD this daemon runs (forward.ts addMarkerPath) until its answer is written and the
 * call has ended: a plugin whose connection then breaks learns from it whether this daemon still
 * runs the ADD (wait) or died in it (undo its half-done ADD, then ADD in-process). Undefined for
 * other calls, or when the marker cannot be written (the plugin then runs a plain ADD).
 */
function markAdd(o: CniServerOptions, r: Request): string | undefined {
  const { CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_IFNAME: ifName } = r.env;
  if (cmd !== "ADD" || !id || !ifName) return undefined;
  const marker = addMarkerPath(o.socketPath, id, ifName);
  try {
    let network: unknown;
    try {
      network = JSON.parse(new TextDecoder().decode(r.stdin))?.name;
    } catch {
      network = undefined;
    }
    Deno.mkdirSync(`${o.socketPath}.adds`, { recursive: true, mode: 0o700 });
    atomicWriteFile(marker, JSON.stringify({ pid: Deno.pid, network, state: "started" }));
    return marker;
  } catch {
    return undefined;
  }
}

function unmarkAdd(marker: string): void {
  try {
    Deno.removeSync(marker);
  } catch {
    // gone already
  }
}

/** One connection: who, the request, serve or decline, "A"/"G", the answer. Never throws. */
async function handleConnection(ctx: Service, peer: UnixPeer): Promise<void> {
  const { o } = ctx;
  const readTimer = setTimeout(() => peer.abort(), ctx.readTimeout);
  try {
    if (peer.cred.uid !== 0) {
      o.log.warn("CNI socket: refused a non-root client", { ...peer.cred });
      return;
    }
    let req: Request;
    try {
      req = await readRequest(peer);
    } catch (e) {
      o.log.warn("CNI socket: dropped a bad or slow request", {
        pid: peer.cred.pid,
        error: (e as Error).message,
      });
      return;
    } finally {
      clearTimeout(readTimer);
    }
    const declined = ctx.inFlight.size > ctx.max ||
      !sameFile(`/proc/${peer.cred.pid}/ns/net`, ctx.served) ||
      (o.hostNetns !== undefined && needsOwnNamespace(req));
    if (declined) {
      await peer.writeAll(new Uint8Array([DECLINED]));
      return;
    }
    // "A" at once; the call runs only once the plugin says it still waits ("G"): one that
    // gave up on us runs the call itself.
    await peer.writeAll(new Uint8Array([ACCEPTED]));
    if (!await committed(peer, ctx.readTimeout)) return;
    const marker = markAdd(o, req);
    let done: Promise<unknown> = Promise.resolve();
    try {
      const r = await runWithDeadline(ctx, req, marker);
      done = r.done;
      await peer.writeAll(encodeAnswer(r.answer).subarray(1) as Uint8Array<ArrayBuffer>);
    } finally {
      if (marker) void done.finally(() => unmarkAdd(marker));
    }
  } catch (e) {
    o.log.debug("CNI socket: client went away", { error: (e as Error).message });
  } finally {
    clearTimeout(readTimer);
    await peer.close();
  }
}
