/**
 * The one way skein runs `nft`: a script applied as ONE atomic transaction (`nft -f`: the kernel
 * applies the whole script or nothing), or a plain command such as `nft -j list map ...`,
 * optionally inside a network namespace (`nsenter --net=<path> nft ...`). nftables rules are the
 * one place product code uses a binary instead of netlink (DESIGN.md allows it for nft).
 *
 * Two transports with the same arguments and errors: nft() feeds the script on stdin
 * (`nft -f -`, async: the CNI plugin), nftSync() through a private temporary file
 * (`nft -f FILE`, synchronous: the daemon, whose callers are synchronous).
 *
 * @module
 */
import { nsenterArgs } from "./nsenter.ts";
import { memoryFileWithText } from "../net/memfd.ts";
import type { NetnsRef } from "../net/types.ts";

/** One nft call. */
export interface NftRequest {
  /** An nft script, applied as one transaction (`nft -f`). Either this or `args`. */
  script?: string;
  /** A plain command's arguments (`["-j", "list", "ruleset"]`), when there is no script. */
  args?: string[];
  /** The namespace to run in (path, pid or name); undefined: this process's. */
  netns?: NetnsRef;
}

/** nft could not be started, or it refused the command or transaction. */
export class NftError extends Error {
  /** The script nft refused, if the call had one. */
  readonly script?: string;
  /** nft's exit code; undefined when it could not be started. */
  readonly exitCode?: number;
  /** nft's error output, trimmed ("" when it could not be started). */
  readonly stderr: string;
  /**
   * Creates the error.
   * @param message what failed, with nft's own message
   */
  constructor(
    message: string,
    detail: { script?: string; exitCode?: number; stderr?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "NftError";
    this.script = detail.script;
    this.exitCode = detail.exitCode;
    this.stderr = detail.stderr ?? "";
  }
}

/** The argv for a request; `file` is where the script is read from ("-" for stdin). */
function argv(req: NftRequest, file: string): string[] {
  const nft = req.script === undefined ? ["nft", ...(req.args ?? [])] : ["nft", "-f", file];
  return [...nsenterArgs(req.netns), ...nft];
}

function spawnError(cmd: string, e: unknown, script?: string): NftError {
  return new NftError(`Cannot run ${cmd}: ${(e as Error).message}`, { script }, { cause: e });
}

/** The stdout of a finished call, or the NftError it earned. */
function outcome(req: NftRequest, shown: string, out: Deno.CommandOutput): string {
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    throw new NftError(`${shown} failed: ${stderr}`, {
      script: req.script,
      exitCode: out.code,
      stderr,
    });
  }
  return new TextDecoder().decode(out.stdout);
}

/** How a call is named in messages: `nft -f -` for a script, `nft ARGS...` otherwise. */
function shownAs(req: NftRequest): string {
  return req.script === undefined ? `nft ${(req.args ?? []).join(" ")}` : "nft -f -";
}

/**
 * Runs nft with the script on stdin (`nft -f -`, one atomic transaction) or with `args`, and
 * returns its stdout. Throws NftError when nft cannot be started or fails.
 *
 * @example
 * ```ts ignore
 * import { nft } from "./nft.ts";
 * await nft({ script: "add table inet skein\n" }); // nft -f - <<< 'add table inet skein'
 * const json = await nft({ args: ["-j", "list", "table", "inet", "skein"] });
 * ```
 */
export async function nft(req: NftRequest): Promise<string> {
  const cmd = argv(req, "-");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd[0]!, {
      args: cmd.slice(1),
      stdin: req.script === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw spawnError(cmd[0]!, e, req.script);
  }
  if (req.script !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(req.script));
    await w.close();
  }
  return outcome(req, shownAs(req), await child.output());
}

/**
 * nft() for synchronous callers: a synchronous child gets no stdin pipe, so the script goes to nft
 * as a file (`nft -f FILE`, the same single transaction). The file lives in memory
 * (net/memfd.ts) and goes away with this process even when it is killed mid-call (a runtime's
 * timeout sends SIGKILL); only where the kernel gives no memory file does a temporary file stand
 * in, removed afterwards.
 */
export function nftSync(req: NftRequest): string {
  nsenterArgs(req.netns); // validates the namespace before anything runs
  const file = req.script === undefined ? undefined : scriptFile(req.script);
  try {
    const cmd = argv(req, file?.path ?? "-");
    let out: Deno.CommandOutput;
    try {
      out = new Deno.Command(cmd[0]!, { args: cmd.slice(1), stdout: "piped", stderr: "piped" })
        .outputSync();
    } catch (e) {
      throw spawnError(cmd[0]!, e, req.script);
    }
    return outcome(req, shownAs(req), out);
  } finally {
    file?.close();
  }
}

/** The script as a file nft can read: in memory, or a temporary file when that is refused. */
function scriptFile(script: string): { path: string; close(): void } {
  const mem = memoryFileWithText("skein-nft", script);
  if (mem) return mem;
  const path = Deno.makeTempFileSync({ prefix: "skein-nft-", suffix: ".nft" });
  const close = () => Deno.removeSync(path);
  try {
    Deno.writeTextFileSync(path, script);
  } catch (e) {
    close();
    throw e;
  }
  return { path, close };
}
