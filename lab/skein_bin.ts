/**
 * How the lab runs skein itself (daemons, CNI plugin): the same program, whether it runs from
 * source, from the installed launcher, or as a compiled binary.
 *
 * @module
 */

/** Where the command comes from, for messages. */
export interface SkeinCommand {
  /** argv[0] */
  cmd: string;
  /** Arguments before the subcommand's own. */
  args: string[];
  /** "env" (SKEIN_BIN), "compiled" or "source". */
  via: "env" | "compiled" | "source";
}

/**
 * Resolves the command that runs skein:
 * 1. `SKEIN_BIN` (an executable path, e.g. the installed `/usr/local/bin/skein` launcher);
 * 2. the running executable itself when it is a compiled skein binary (`deno compile`);
 * 3. otherwise `deno run -A --cached-only --config <repo>/deno.json <repo>/main.ts` with the
 *    running Deno (the installed launcher's DENO_DIR is inherited through the environment).
 */
export function skeinCommand(
  env: { get(key: string): string | undefined } = Deno.env,
  mainUrl: string = new URL("../main.ts", import.meta.url).href,
  execPath: string = Deno.execPath(),
): SkeinCommand {
  const bin = env.get("SKEIN_BIN");
  if (bin) return { cmd: bin, args: [], via: "env" };
  if (!mainUrl.startsWith("file:")) {
    // Compiled binaries see their modules at a non-file or virtual path: run ourselves.
    return { cmd: execPath, args: [], via: "compiled" };
  }
  const main = decodeURIComponent(new URL(mainUrl).pathname);
  if (isCompiled(execPath)) return { cmd: execPath, args: [], via: "compiled" };
  const config = main.replace(/main\.ts$/, "deno.json");
  return {
    cmd: execPath,
    args: ["run", "-A", "--quiet", "--no-prompt", "--cached-only", "--config", config, main],
    via: "source",
  };
}

/** A `deno compile` binary is not called deno; a deno executable is. */
function isCompiled(execPath: string): boolean {
  const base = execPath.split("/").pop() ?? "";
  return !/^deno(\.exe)?$/.test(base);
}

/** The full argv for `skein <args...>`. */
export function skeinArgv(c: SkeinCommand, args: string[]): [string, string[]] {
  return [c.cmd, [...c.args, ...args]];
}
