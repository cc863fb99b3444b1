/**
 * `skein cni` / CNI plugin mode: reads the CNI_* environment and the network config on stdin,
 * runs the verb, prints the result (or the spec's error JSON) on stdout and returns the exit
 * code (0 on success, 1 on error).
 *
 * @module
 */
import { runCniCall } from "../cni/call.ts";
import { readStdinSync, type StdinBytes } from "../cni/forward.ts";
import { SUPPORTED_VERSIONS } from "../cni/versions.ts";

const HELP = `Usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC [CNI_CONTAINERID=..] [CNI_NETNS=..]
       [CNI_IFNAME=..] [CNI_ARGS=..] CNI_PATH=.. skein [cni] < netconf.json

Runs skein as a CNI plugin (spec ${SUPPORTED_VERSIONS.join(", ")}).
  "type": "skein"  main plugin; "mode": "bridge" (default) | "routed" | "loopback"
  other "type" with "ipam": {"type": "skein"}  skein answers as an IPAM plugin

Bridge options: bridge (cni0), isGateway, isDefaultGateway, ipMasq, mtu, hairpinMode, promiscMode.
The result or error JSON is printed on stdout; the exit code is 0 on success, 1 on error.
`;

function writeAll(w: { writeSync(b: Uint8Array): number }, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += w.writeSync(data.subarray(off));
}

/** CNI_COMMAND is VERSION (false for a value that is not valid UTF-8: runCniCall reports it). */
function commandIsVersion(): boolean {
  try {
    return Deno.env.get("CNI_COMMAND") === "VERSION";
  } catch {
    return false;
  }
}

/** Options for main() beyond the arguments. */
export interface CniMainOptions {
  /** stdin, when the caller already read it (main.ts, after trying the daemon). */
  stdin?: StdinBytes;
  /** A dead daemon's ADD marker: undo its half-done ADD of this attachment first (forward.ts). */
  recoverAdd?: string;
}

/** Runs one CNI call from the process environment and stdin; returns the exit code. */
export async function main(args: string[], opts: CniMainOptions = {}): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  if (args.length > 0) {
    console.error(
      `skein cni: unexpected argument "${args[0]}": a CNI plugin reads CNI_* variables and ` +
        'stdin only (run "skein cni --help")',
    );
    return 2;
  }
  if (!Object.keys(Deno.env.toObject()).some((k) => k.startsWith("CNI_"))) {
    // Not called by a runtime (no CNI_* at all): the help, like bare `skein`.
    console.log(HELP);
    return 2;
  }
  if (opts.stdin === undefined && commandIsVersion()) {
    const { versionMain } = await import("../cni/version_cmd.ts");
    return await versionMain();
  }
  const r = await runCniCall({
    getenv: (n) => Deno.env.get(n),
    stdin: opts.stdin ?? readStdinSync(),
    recoverAdd: opts.recoverAdd,
  });
  writeAll(Deno.stdout, r.stdout);
  writeAll(Deno.stderr, r.stderr);
  return r.code;
}
