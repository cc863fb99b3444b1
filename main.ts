/**
 * skein's entry point. Picks the command and imports only that command's module, so a CNI
 * VERSION call loads almost nothing.
 *
 * - any `CNI_*` variable set (a container runtime calling the plugin): CNI mode.
 * - otherwise `skein <command> [args]`.
 *
 * @module
 */
import { VERSION } from "./version.ts";

/** A command module: `main(args)` returns the process exit code. */
interface CommandModule {
  main(args: string[], opts?: { stdin?: unknown; recoverAdd?: string }): Promise<number>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  cni: {
    summary: "run as a CNI plugin (the default when CNI_COMMAND is set)",
    load: () => importCommand("cni"),
  },
  daemon: {
    summary: "node agent: lease this node's pod subnet, program routes to other nodes",
    load: () => importCommand("daemon"),
  },
  diagnose: {
    summary: "why pod A cannot reach pod B: per-hop checks with evidence and a fix (read-only)",
    load: () => importCommand("diagnose"),
  },
  lab: {
    summary: "build a multi-node cluster of network namespaces on this machine",
    load: () => importCommand("lab"),
  },
};

const HELP = `skein ${VERSION}: a Kubernetes node's pod network in one program

Usage:
  skein <command> [options]
  CNI_COMMAND=ADD|DEL|CHECK|VERSION|STATUS|GC skein < netconf.json   (CNI plugin mode)

Commands:
${Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)}${c.summary}`).join("\n")}
  version   print the version
  help      print this help

Run "skein <command> --help" for a command's options.
`;

/**
 * Imports `cmd/<name>.ts`. The specifier is assembled at run time on purpose: Deno preloads every
 * statically analyzable dynamic import (template literals included) when the program starts, so a
 * literal here would make each CNI call load the daemon's and the lab's ~100 modules too (about
 * 10 ms per call, measured with 30 VERSION calls). The price: `deno check`, `deno cache` and
 * `deno compile --include` must name `cmd/` themselves (deno.json's check task, install.sh).
 */
function importCommand(name: string): Promise<CommandModule> {
  return import(["./cmd", `${name}.ts`].join("/"));
}

/**
 * Deno.env.get(), except that a value which is not valid UTF-8 reads as "" instead of throwing:
 * the CNI code then answers with the spec's error naming the variable (cni/env.ts).
 */
function envGet(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return "";
  }
}

/**
 * True when a container runtime is calling: any CNI_* variable set. A call with CNI_NETNS but
 * no CNI_COMMAND is a broken call (the plugin answers with the spec's error JSON), not a user
 * asking for help.
 */
function calledAsPlugin(): boolean {
  if (envGet("CNI_COMMAND") !== undefined) return true;
  return Object.keys(Deno.env.toObject()).some((k) => k.startsWith("CNI_"));
}

/**
 * cmd/cni.ts for a call the daemon does not serve: the installed bundle of it when the launcher
 * names one (`$SKEIN_LIB/cni.js`, written by install.sh: one module instead of ~60, ~10 ms of
 * CPU less per call), else the module graph itself.
 */
async function loadCniInProcess(): Promise<CommandModule> {
  const lib = Deno.env.get("SKEIN_LIB");
  if (lib?.startsWith("/")) {
    try {
      return await import(`file://${lib}/cni.js`);
    } catch {
      // not built (bundling failed or an older install): the module graph below
    }
  }
  return await COMMANDS.cni!.load();
}

/** Runs skein with the given arguments and environment; returns the exit code. */
export async function run(args: string[]): Promise<number> {
  if ((args.length === 0 || args[0] === "cni") && calledAsPlugin()) {
    if (envGet("CNI_COMMAND") === "VERSION") {
      // The cheapest path: podman calls VERSION before every ADD and DEL.
      const { versionMain } = await import("./cni/version_cmd.ts");
      return versionMain();
    }
    const cniArgs = args.slice(args[0] === "cni" ? 1 : 0);
    if (cniArgs.length === 0) {
      // The daemon serves the call when it runs; this path loads nothing else.
      const { forwardCall, readStdinSync } = await import("./cni/forward.ts");
      const stdin = readStdinSync();
      const code = await forwardCall(stdin);
      if (typeof code === "number") return code;
      return (await loadCniInProcess()).main(cniArgs, { stdin, recoverAdd: code?.recoverAdd });
    }
    return (await COMMANDS.cni!.load()).main(cniArgs);
  }
  const [name, ...rest] = args;
  switch (name) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      // Bare `skein` (also a plugin binary run with no CNI_* at all): the help, exit 2.
      console.log(HELP);
      return name === undefined ? 2 : 0;
    case "version":
    case "--version":
      if (rest[0] === "--help" || rest[0] === "-h") {
        console.log("Usage: skein version   (or skein --version): prints the version");
        return 0;
      }
      if (rest.length > 0) {
        console.error(`skein version: unexpected argument "${rest[0]}" (it takes none)`);
        return 2;
      }
      console.log(`skein ${VERSION}`);
      return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd && rest.length === 1 && rest[0] === "--version") {
    // `skein daemon --version` and the like: the one program's version.
    console.log(`skein ${VERSION}`);
    return 0;
  }
  if (!cmd) {
    console.error(`skein: unknown command "${name}"\nRun "skein --help" for the commands.`);
    return 2;
  }
  return (await cmd.load()).main(rest);
}

if (import.meta.main) {
  let code: number;
  try {
    code = await run(Deno.args);
  } catch (e) {
    // The last safety net: a user sees what failed, not a stack trace (SKEIN_DEBUG=1 shows it).
    const what = Deno.args[0] && !Deno.args[0].startsWith("-") ? ` ${Deno.args[0]}` : "";
    console.error(`skein${what}: ${e instanceof Error ? e.message : String(e)}`);
    if (Deno.env.get("SKEIN_DEBUG")) console.error(e);
    code = 1;
  }
  Deno.exit(code);
}
