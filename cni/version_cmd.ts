/**
 * The CNI VERSION command: the cheapest path through skein (podman calls it before every ADD
 * and DEL). Imports only the version table.
 *
 * @module
 */
import { isSupportedVersion, LATEST_VERSION, SUPPORTED_VERSIONS } from "./versions.ts";

/** How long VERSION waits for a config on stdin before answering without one. */
const STDIN_WAIT_MS = 200;

/**
 * The VERSION answer for a config text (or none): the config's cniVersion when skein supports
 * it, else the newest version skein speaks.
 */
export function versionAnswer(stdinText: string | undefined): {
  cniVersion: string;
  supportedVersions: string[];
} {
  let cniVersion = LATEST_VERSION;
  if (stdinText && stdinText.trim()) {
    try {
      const conf = JSON.parse(stdinText) as { cniVersion?: unknown };
      if (isSupportedVersion(conf?.cniVersion)) cniVersion = conf.cniVersion;
    } catch {
      // A VERSION query does not need a config: ignore one that does not parse.
    }
  }
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/**
 * stdin for VERSION. A regular file or /dev/null is read synchronously (it cannot block); a
 * pipe is read for at most STDIN_WAIT_MS, since a caller may leave it open without writing.
 * No streams and no setTimeout: both load modules on first use (~4-5 ms CPU, measured).
 */
async function readStdinBriefly(): Promise<string | undefined> {
  if (Deno.stdin.isTerminal()) return undefined;
  const chunks: Uint8Array[] = [];
  let kind: Deno.FileInfo | undefined;
  try {
    kind = Deno.statSync("/proc/self/fd/0");
  } catch {
    kind = undefined;
  }
  try {
    if (kind?.isFile || kind?.isCharDevice) {
      while (true) {
        const buf = new Uint8Array(64 * 1024);
        const n = Deno.stdin.readSync(buf);
        if (n === null) break;
        chunks.push(buf.subarray(0, n));
      }
    } else {
      const signal = AbortSignal.timeout(STDIN_WAIT_MS);
      const timeout = new Promise<"timeout">((r) =>
        signal.addEventListener("abort", () => r("timeout"), { once: true })
      );
      while (true) {
        const buf = new Uint8Array(64 * 1024);
        const n = await Promise.race([Deno.stdin.read(buf), timeout]);
        if (n === "timeout" || n === null) break;
        chunks.push(buf.subarray(0, n));
      }
    }
  } catch {
    // stdin closed or unreadable: answer without a config.
  }
  return new TextDecoder().decode(concat(chunks));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Runs `CNI_COMMAND=VERSION`: prints
 * `{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}`
 * and returns exit code 0.
 */
export async function versionMain(): Promise<number> {
  const text = await readStdinBriefly();
  console.log(JSON.stringify(versionAnswer(text)));
  return 0;
}
