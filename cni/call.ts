/**
 * One CNI call from its inputs to its outputs: the CNI_* variables and the stdin bytes in, the
 * exact stdout bytes, stderr bytes and exit code out. The plugin process (cmd/cni.ts) prints
 * what this returns; the daemon (daemon/cni_server.ts) sends it back to the plugin that
 * forwarded the call, so both paths answer byte for byte the same.
 *
 * @module
 */
import { CniCode, CniError } from "./errors.ts";
import { readCmdArgs } from "./env.ts";
import { isSupportedVersion, LATEST_VERSION } from "./versions.ts";
import { MAX_STDIN, type StdinBytes } from "./forward.ts";

/** Inputs of one call. */
export interface CniCallOptions {
  /** Reads one CNI_* variable of the call (the process environment, or a forwarded copy). */
  getenv: (name: string) => string | undefined;
  /** stdin, already read to EOF (or why it could not be). */
  stdin: StdinBytes;
  /**
   * The namespace the plugin runs in, when it is not this process's (the daemon serving a
   * plugin that runs in its node's namespace).
   */
  hostNetns?: string;
  /** The plugin process, when this process runs the call for it (see RunContext.peerPid). */
  peerPid?: number;
  /** This process outlives the call (see RunContext.longLived). */
  longLived?: boolean;
  /** See RunContext.recoverAdd. */
  recoverAdd?: string;
  /** See RunContext.addMarker. */
  addMarker?: string;
}

/** What one call prints and returns. */
export interface CniCallResult {
  /** 0 on success, 1 on error. */
  code: number;
  /** stdout bytes: the result or error JSON and a newline, or nothing. */
  stdout: Uint8Array;
  /** stderr bytes (only for an internal error). */
  stderr: Uint8Array;
}

const EMPTY = new Uint8Array();

function jsonLine(obj: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(obj) + "\n");
}

function versionOf(stdin: Uint8Array): string {
  try {
    const v = (JSON.parse(new TextDecoder().decode(stdin)) as { cniVersion?: unknown })?.cniVersion;
    return isSupportedVersion(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

function stdinBytes(s: StdinBytes): Uint8Array {
  if (s instanceof Uint8Array) return s;
  if (s.failure === "too-large") {
    throw new CniError(
      CniCode.DecodeFailure,
      "error unmarshalling network config",
      `stdin is larger than ${MAX_STDIN} bytes`,
    );
  }
  throw new CniError(CniCode.IoFailure, "error reading from stdin", s.message);
}

/**
 * Runs one CNI call (not VERSION's stdin wait: the caller passes stdin read to EOF). Never
 * throws: every failure becomes the spec's error JSON on stdout and exit code 1. The CNI_*
 * variables are checked before stdin, so an environment error reports the newest version.
 */
export async function runCniCall(o: CniCallOptions): Promise<CniCallResult> {
  let stdin: Uint8Array = EMPTY;
  try {
    const cmd = readCmdArgs(o.getenv);
    stdin = stdinBytes(o.stdin);
    if (cmd.command === "VERSION") {
      const { versionAnswer } = await import("./version_cmd.ts");
      return {
        code: 0,
        stdout: jsonLine(versionAnswer(new TextDecoder().decode(stdin))),
        stderr: EMPTY,
      };
    }
    const { runCni } = await import("./plugin.ts");
    const out = await runCni(cmd, stdin, {
      hostNetns: o.hostNetns,
      peerPid: o.peerPid,
      longLived: o.longLived,
      recoverAdd: o.recoverAdd,
      addMarker: o.addMarker,
    });
    return { code: 0, stdout: out === undefined ? EMPTY : jsonLine(out), stderr: EMPTY };
  } catch (e) {
    // Never a stack trace: the runtime shows msg/details to users, and logs stderr.
    const err = e instanceof CniError ? e : new CniError(
      CniCode.Internal,
      `internal error: ${(e as Error)?.message ?? String(e)}`,
      (e as Error)?.name,
    );
    return {
      code: 1,
      stdout: jsonLine(err.toJSON(versionOf(stdin))),
      stderr: e instanceof CniError ? EMPTY : new TextEncoder().encode(`skein: ${err.message}\n`),
    };
  }
}
