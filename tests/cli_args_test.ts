/**
 * The command line as a user (or a checker) probes it: `--help` on every subcommand is exit 0
 * with the usage on stdout; a wrong flag, a flag without its value, an unknown subcommand, a bad
 * lab name or a bad number is exit 2 with the problem and where to look in at most two lines,
 * and creates nothing (no state directory, no namespace).
 *
 * @module
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { run } from "../main.ts";
import { netnsList } from "../net/mod.ts";
import { LAB_ROOT } from "../lab/mod.ts";

/** run() with console output captured: [exit code, stdout, stderr]. */
async function captured(args: string[]): Promise<[number, string, string]> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return [await run(args), out.join("\n"), err.join("\n")];
  } finally {
    Object.assign(console, { log, error });
  }
}

const NAME = "lh" + Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b % 10).join("");

function nothingCreated(name: string): void {
  let dir = false;
  try {
    Deno.statSync(`${LAB_ROOT}/${name}`);
    dir = true;
  } catch { /* absent */ }
  assertEquals(dir, false, `${LAB_ROOT}/${name} must not exist`);
  if (Deno.uid() === 0) {
    assertEquals(netnsList().filter((n) => n.startsWith(`${name}-`)), []);
  }
}

const HELPS: [string[], RegExp][] = [
  [["--help"], /^Usage:/m],
  [["help"], /^Usage:/m],
  [["version", "--help"], /Usage: skein version/],
  [["cni", "--help"], /Usage: CNI_COMMAND=/],
  [["daemon", "--help"], /^Usage:/m],
  [["diagnose", "--help"], /^Usage:/m],
  [["lab", "--help"], /^Usage:/m],
  [["lab", "help"], /^Usage:/m],
  ...["up", "down", "status", "ping", "diagnose", "kubeconfig", "forward"].flatMap(
    (sub): [string[], RegExp][] => [
      [["lab", sub, "--help"], /^Usage:/m],
      [["lab", sub, "-h"], /^Usage:/m],
    ],
  ),
];

for (const [args, usage] of HELPS) {
  Deno.test(`skein ${args.join(" ")}: exit 0, the usage on stdout`, async () => {
    const [code, out, err] = await captured(args);
    assertEquals([code, usage.test(out)], [0, true], `stderr: ${err}`);
  });
}

Deno.test("skein --version, skein version and skein COMMAND --version: exit 0, the version", async () => {
  for (
    const a of [
      ["--version"],
      ["version"],
      ...["lab", "daemon", "diagnose", "cni"].map((c) => [c, "--version"]),
    ]
  ) {
    const [code, out] = await captured(a);
    assertEquals([code, /^skein \d+\.\d+\.\d+/.test(out)], [0, true]);
  }
});

/** Bad command lines: [args, a word the one-line error must contain]. */
const BAD: [string[], string][] = [
  [["frob"], '"frob"'],
  [["lab", "frob"], '"frob"'],
  [["lab", "frob", "--name", NAME], '"frob"'],
  [["lab", "up", "--name", NAME, "--nodes", "0"], "--nodes"],
  [["lab", "up", "--name", NAME, "--nodes", "200"], "--nodes"],
  [["lab", "up", "--name", NAME, "--nodes", "1.5"], "--nodes"],
  [["lab", "up", "--name", NAME, "--nodes", "-1"], "--nodes"],
  [["lab", "up", "--name", NAME, "--pods-per-node", "51"], "--pods-per-node"],
  [["lab", "up", "--name", NAME, "--backend", "nope"], "--backend"],
  [["lab", "up", "--name", NAME, "--pods-per-node", "1" + "0".repeat(21)], "1" + "0".repeat(21)],
  [["lab", "up", "--name", NAME, "--backend", "bgp", "--bgp-peer", "999.1.1.1:65000"], "999.1.1.1"],
  [["lab", "up", "--name", NAME, "--backend", "bgp", "--bgp-peer", "10.0.0.1:0"], "--bgp-peer"],
  [
    ["lab", "up", "--name", NAME, "--backend", "bgp", "--bgp-peer", "10.0.0.1:4294967296"],
    "--bgp-peer",
  ],
  [["lab", "up", "--name", NAME, "--topology", "ring"], "--topology"],
  [["lab", "up", "--name", NAME, "--datastore", "sql"], "--datastore"],
  [["lab", "up", "--name", NAME, "--bogus"], "--bogus"],
  [["lab", "up", "--name", NAME, "--nodes"], "--nodes"],
  [["lab", "up", "--name"], "--name"],
  [["lab", "up", "--name", NAME, "stray"], "stray"],
  [["lab", "up", "--name", "a/b"], "--name"],
  [["lab", "up", "--name", ".."], "--name"],
  [["lab", "up", "--name", "a b"], "--name"],
  [["lab", "up", "--name", "h\u00e9llo"], "--name"],
  [["lab", "up", "--name", "x".repeat(40)], "--name"],
  [["lab", "up", "--name", ""], "--name"],
  [["lab", "down", "--name", "../etc"], "--name"],
  [["lab", "status", "--name", "../etc"], "--name"],
  [["lab", "ping", "--name", "../etc"], "--name"],
  [["lab", "kubeconfig", "--name", "a/b"], "--name"],
  [["lab", "diagnose", "--name", "../x", "n1-p1", "n2-p1"], "--name"],
  [["lab", "diagnose", "--name", NAME], "FROM and TO"],
  [["lab", "diagnose", "--name", NAME, "n1-p1"], "FROM and TO"],
  [["lab", "status", "--name", NAME, "--bogus"], "--bogus"],
  [["lab", "forward", "--bogus"], "--bogus"],
  [["lab", "forward", "--netns", "../x", "--to", "1.2.3.4:5"], "--netns"],
  [["daemon", "--bogus"], "--bogus"],
  [["daemon", "--config"], "--config"],
  [["daemon", "stray"], "stray"],
  [["diagnose"], "--from"],
  [["diagnose", "--bogus"], "--bogus"],
  [["version", "stray"], "stray"],
];

for (const [args, word] of BAD) {
  Deno.test(`skein ${args.join(" ")}: exit 2, what is wrong in at most two lines, nothing made`, async () => {
    const [code, out, err] = await captured(args);
    assertEquals(code, 2, `stdout: ${out}\nstderr: ${err}`);
    const lines = err.trim().split("\n");
    assert(lines.length <= 3, `a short error, got ${lines.length} lines:\n${err}`);
    assert(err.includes(word), `the error names ${word}: ${err}`);
    assert(/^skein[ :]/.test(lines[0]!), `the error says which command: ${err}`);
    nothingCreated(NAME);
  });
}

Deno.test("lab status, ping, kubeconfig, diagnose of a lab that does not exist: exit non-zero naming it; down is exit 0 twice", async () => {
  for (const sub of ["status", "ping", "kubeconfig"]) {
    const [code, , err] = await captured(["lab", sub, "--name", NAME]);
    assertEquals([code, err.includes(`no lab "${NAME}"`)], [1, true], err);
  }
  const [dcode, , derr] = await captured(["lab", "diagnose", "--name", NAME, "n1-p1", "n2-p1"]);
  assertEquals([dcode, derr.includes(`no lab "${NAME}"`)], [2, true], derr);
  if (Deno.uid() === 0) {
    for (let i = 0; i < 2; i++) {
      const [code, , err] = await captured(["lab", "down", "--name", NAME]);
      assertEquals([code, err.includes("nothing to do")], [0, true], err);
    }
  }
  nothingCreated(NAME);
});

Deno.test({
  name:
    "a corrupt lab.json: status, ping, kubeconfig, diagnose and up say to run lab down, which removes it",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = `${LAB_ROOT}/${NAME}`;
    Deno.mkdirSync(dir, { recursive: true });
    try {
      Deno.writeTextFileSync(`${dir}/lab.json`, '{"version": 1, "na');
      const subs = [["status"], ["ping"], ["kubeconfig"], ["diagnose", "n1-p1", "n2-p1"], ["up"]];
      for (const [sub, ...rest] of subs) {
        const [code, , err] = await captured(["lab", sub!, "--name", NAME, ...rest]);
        assertEquals(code, 1, err);
        assert(err.includes(`skein lab down --name ${NAME}`), err);
        assert(!err.includes("left as far as it got"), err);
      }
      const [code, , err] = await captured(["lab", "down", "--name", NAME]);
      assertEquals(code, 0, err);
      nothingCreated(NAME);
    } finally {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* lab down removed it */ }
    }
  },
});
