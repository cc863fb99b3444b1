/**
 * `skein cni` / CNI plugin mode: reads the CNI_* environment and the network config on stdin,
 * runs the verb, prints the result (or the spec's error JSON) on stdout and returns the exit
 * code (0 on success, 1 on error).
 *
 * @module
 */
import { CniCode, CniError } from "../cni/errors.ts";
import { readCmdArgs } from "../cni/env.ts";
import { isSupportedVersion, LATEST_VERSION, SUPPORTED_VERSIONS } from "../cni/versions.ts";

const HELP = `Usage: CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC [CNI_CONTAINERID=..] [CNI_NETNS=..]
       [CNI_IFNAME=..] [CNI_ARGS=..] CNI_PATH=.. skein [cni] < netconf.json

Runs skein as a CNI plugin (spec ${SUPPORTED_VERSIONS.join(", ")}).
  "type": "skein"  main plugin; "mode": "bridge" (default) | "routed" | "loopback"
  other "type" with "ipam": {"type": "skein"}  skein answers as an IPAM plugin

Bridge options: bridge (cni0), isGateway, isDefaultGateway, ipMasq, mtu, hairpinMode, promiscMode.
The result or error JSON is printed on stdout; the exit code is 0 on success, 1 on error.
`;

/** Largest network config accepted on stdin (real ones are a few kB, with prevResult < 64 kB). */
const MAX_STDIN = 1 << 20;

/**
 * Reads stdin to EOF synchronously (the stream machinery costs ~8 ms at process start). Stops
 * with code 6 past MAX_STDIN, so an endless or huge stdin cannot exhaust memory.
 */
function readAllSync(): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const buf = new Uint8Array(64 * 1024);
    const n = Deno.stdin.readSync(buf);
    if (n === null) break;
    chunks.push(buf.subarray(0, n));
    total += n;
    if (total > MAX_STDIN) {
      throw new CniError(
        CniCode.DecodeFailure,
        "error unmarshalling network config",
        `stdin is larger than ${MAX_STDIN} bytes`,
      );
    }
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function versionOf(stdin: Uint8Array): string {
  try {
    const v = (JSON.parse(new TextDecoder().decode(stdin)) as { cniVersion?: unknown })?.cniVersion;
    return isSupportedVersion(v) ? v : LATEST_VERSION;
  } catch {
    return LATEST_VERSION;
  }
}

function print(obj: unknown): void {
  const data = new TextEncoder().encode(JSON.stringify(obj) + "\n");
  let off = 0;
  while (off < data.length) off += Deno.stdout.writeSync(data.subarray(off));
}

/** Runs one CNI call from the process environment and stdin; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  let stdin: Uint8Array = new Uint8Array();
  try {
    const cmd = readCmdArgs((n) => Deno.env.get(n));
    if (cmd.command === "VERSION") {
      const { versionMain } = await import("../cni/version_cmd.ts");
      return await versionMain();
    }
    try {
      stdin = readAllSync();
    } catch (e) {
      if (e instanceof CniError) throw e;
      throw new CniError(CniCode.IoFailure, "error reading from stdin", (e as Error).message);
    }
    const { runCni } = await import("../cni/plugin.ts");
    const out = await runCni(cmd, stdin);
    if (out !== undefined) print(out);
    return 0;
  } catch (e) {
    // Never a stack trace: the runtime shows msg/details to users, and logs stderr.
    const err = e instanceof CniError ? e : new CniError(
      CniCode.Internal,
      `internal error: ${(e as Error)?.message ?? String(e)}`,
      (e as Error)?.name,
    );
    print(err.toJSON(versionOf(stdin)));
    if (!(e instanceof CniError)) console.error(`skein: ${err.message}`);
    return 1;
  }
}
