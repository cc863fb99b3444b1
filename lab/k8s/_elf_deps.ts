/**
 * The shared libraries (and the dynamic loader) a program links against, as `ldd` names them,
 * for copying a host program into an image.
 *
 * @module
 */

/** `ldd` could not run, or a library is missing. */
export class ElfDepsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ElfDepsError";
  }
}

/**
 * The absolute paths in `ldd`'s output, in its order: "libc.so.6 => /lib/.../libc.so.6 (0x..)"
 * and the loader's "/lib64/ld-linux-x86-64.so.2 (0x..)"; the vDSO (no file) is left out, a
 * static program gives []. Throws ElfDepsError for "libx.so => not found".
 */
export function parseLdd(text: string, program = "the program"): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || /statically linked|not a dynamic executable/.test(line)) continue;
    const arrow = /^(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      if (arrow[2] === "not found") {
        throw new ElfDepsError(`Cannot copy ${program}: its library ${arrow[1]} is not found`);
      }
      if (arrow[2]!.startsWith("/")) out.push(arrow[2]!);
      continue;
    }
    const direct = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (direct) out.push(direct[1]!);
  }
  return out;
}

/** The libraries `program` loads (`ldd PROGRAM`), as absolute paths on this machine. */
export function elfDeps(program: string): string[] {
  let out;
  try {
    out = new Deno.Command("ldd", { args: [program], stdout: "piped", stderr: "piped" })
      .outputSync();
  } catch (e) {
    throw new ElfDepsError(`Cannot run ldd ${program}: ${(e as Error).message}`, { cause: e });
  }
  const dec = new TextDecoder();
  const text = dec.decode(out.stdout);
  // ldd exits 1 for a static program ("not a dynamic executable") and says so.
  if (!out.success && !/not a dynamic executable/.test(text + dec.decode(out.stderr))) {
    throw new ElfDepsError(`ldd ${program} failed: ${dec.decode(out.stderr).trim()}`);
  }
  return parseLdd(text, program);
}
