/**
 * "Functions in product code under ~80 lines": every function, method and arrow function of the
 * product folders is measured with a throwaway `deno lint` plugin (Deno's own parser, so strings,
 * templates and regular expressions cannot confuse the count). Any function over LIMIT fails the
 * test with its place, unless KNOWN lists it as still to split.
 */
import { assertEquals } from "../testing/assert.ts";

/** "About 80 lines": a few lines of slack, so a signature reflowed by fmt does not fail it. */
const LIMIT = 85;

/**
 * file → function name → lines when it was listed: still to be split. Empty since issue 8 closed;
 * an entry that is no longer over LIMIT fails the test until it is taken off.
 */
const KNOWN: Record<string, Record<string, number>> = {};

const PLUGIN = `
function report(context, node, name) {
  const src = context.sourceCode.text;
  const start = src.slice(0, node.range[0]).split("\\n").length;
  const end = src.slice(0, node.range[1]).split("\\n").length;
  if (end - start + 1 > ${LIMIT}) {
    context.report({ node, message: "FNLEN " + (end - start + 1) + " " + start + " " + name });
  }
}
export default {
  name: "skein",
  rules: {
    "function-length": {
      create(context) {
        return {
          FunctionDeclaration(n) { report(context, n, n.id ? n.id.name : "(anonymous)"); },
          MethodDefinition(n) { report(context, n, n.key && n.key.name ? n.key.name : "(method)"); },
          FunctionExpression(n) { if (n.parent?.type !== "MethodDefinition") report(context, n, "(function)"); },
          ArrowFunctionExpression(n) { report(context, n, "(arrow)"); },
        };
      },
    },
  },
};
`;

const ROOT = new URL("../", import.meta.url).pathname;
const SKIP = ["tests", "testing", ".tools", "dist", "node_modules", ".git"];

function* productFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) {
      if (!SKIP.includes(e.name)) yield* productFiles(rel);
    } else if (rel.endsWith(".ts") && !rel.endsWith("_test.ts")) {
      yield rel;
    }
  }
}

Deno.test("no product function is longer than about 80 lines (but the ones listed to split)", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-fnlen-" });
  try {
    Deno.writeTextFileSync(`${dir}/plugin.js`, PLUGIN);
    Deno.writeTextFileSync(
      `${dir}/deno.json`,
      JSON.stringify({
        lint: { plugins: ["./plugin.js"], rules: { include: ["skein/function-length"] } },
      }),
    );
    const out = new Deno.Command(Deno.execPath(), {
      args: ["lint", "--config", `${dir}/deno.json`, "--json", ...productFiles("")],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).outputSync();
    const report = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      diagnostics: { filename: string; message: string }[];
      errors: unknown[];
    };
    assertEquals(report.errors, [], "deno lint could not read every file");
    const bad: string[] = [];
    const stillLong = new Set<string>();
    for (const d of report.diagnostics) {
      if (!d.message.startsWith("FNLEN ")) continue; // e.g. an ignore directive of another rule
      const [, lines, line, name] = d.message.split(" ");
      const file = d.filename.replace(/^file:\/\//, "").slice(ROOT.length);
      const known = KNOWN[file]?.[name!];
      if (known === undefined) bad.push(`${file}:${line} ${name} is ${lines} lines`);
      else stillLong.add(`${file} ${name}`);
    }
    for (const [file, fns] of Object.entries(KNOWN)) {
      for (const name of Object.keys(fns)) {
        if (!stillLong.has(`${file} ${name}`)) bad.push(`${file} ${name} is split: unlist it`);
      }
    }
    assertEquals(bad, []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
