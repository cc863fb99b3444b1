/**
 * `skein lab up` under Ctrl-C or SIGTERM: the build stops and what it made is removed, so an
 * interrupted `up` leaves no namespace, process or state directory behind (or says how to
 * finish when something could not be removed, or when a second signal cuts the removal short).
 *
 * @module
 */
import { labDown, type Progress, readLabState } from "../lab/mod.ts";
import { LAB_ROOT } from "../lab/mod.ts";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** The shell's exit code for a death by `sig`. */
function exitCode(sig: Deno.Signal): number {
  return sig === "SIGINT" ? 130 : 143;
}

/** True when lab.json says this process is building the lab (so the lab is ours to remove). */
function buildingHere(name: string): boolean {
  try {
    return readLabState(`${LAB_ROOT}/${name}/lab.json`)?.upPid === Deno.pid;
  } catch {
    return false;
  }
}

/** Resolves when `p` settles or after `ms`, whichever is first. */
function settled(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<void>((r) => timer = setTimeout(r, ms));
  return Promise.race([p.then(() => {}, () => {}), t]).finally(() => clearTimeout(timer));
}

/**
 * Removes the lab an interrupted build made: once at once (its daemons die, so the build's
 * waits fail fast), then again after the build has stopped (up to 30 s), for what it started
 * meanwhile. Returns the errors of the last pass.
 */
async function removeBuilt(
  name: string,
  building: Promise<unknown>,
  progress: Progress,
): Promise<string[]> {
  await labDown(name, progress);
  await settled(building, 30_000);
  return (await labDown(name, progress)).errors;
}

/**
 * Runs `build` (labUp with the given signal), then `report` with its result; returns what
 * `report` returns. The first SIGINT or SIGTERM during the build aborts it, removes what this
 * process built and exits 130 (SIGINT) or 143 (SIGTERM); a second one exits at once saying how
 * to finish. A build that had not made anything yet (or a lab another `up` owns) is left alone.
 * A signal during `report` exits saying the lab is built and stays.
 */
export async function interruptibleUp<T>(
  name: string,
  build: (signal: AbortSignal) => Promise<T>,
  progress: Progress,
  report: (result: T) => number,
): Promise<number> {
  const ctl = new AbortController();
  const nameArg = name === "skein" ? "" : ` --name ${name}`;
  let building: Promise<T> = Promise.resolve(undefined as T);
  let teardown: Promise<void> | undefined;
  let built = false;
  const onSignal = (sig: Deno.Signal) => {
    if (built) {
      // The lab is complete; only its report was being printed.
      console.error(
        `\nskein lab up: interrupted; lab ${name} is built and stays (remove it with: skein lab down${nameArg})`,
      );
      Deno.exit(exitCode(sig));
    }
    if (teardown) {
      console.error(`\nskein lab up: stopped; remove the rest with: skein lab down${nameArg}`);
      Deno.exit(exitCode(sig));
    }
    ctl.abort();
    const ours = buildingHere(name);
    console.error(
      `\nskein lab up: interrupted (${sig})${ours ? "; removing what was built" : ""}`,
    );
    teardown = (ours ? removeBuilt(name, building, progress) : Promise.resolve([])).then(
      (errors) => {
        if (errors.length) {
          console.error(
            `skein lab up: could not remove everything:\n  ${errors.join("\n  ")}\n` +
              `Finish with: skein lab down${nameArg}`,
          );
        } else if (ours) console.error(`skein lab up: interrupted; lab ${name} removed`);
        Deno.exit(exitCode(sig));
      },
      (e) => {
        console.error(
          `skein lab up: ${(e as Error).message}\nFinish with: skein lab down${nameArg}`,
        );
        Deno.exit(exitCode(sig));
      },
    );
  };
  const handlers = SIGNALS.map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);
  try {
    building = build(ctl.signal);
    let result: T;
    try {
      result = await building;
    } catch (e) {
      // A Ctrl-C also reaches the build's child processes: their failure may come first.
      if (!teardown) await new Promise((r) => setTimeout(r, 200));
      if (teardown) await teardown;
      throw e;
    }
    if (teardown) await teardown;
    built = true;
    return report(result);
  } finally {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
}
