/**
 * The layer rules that are cheap to check by reading import lines: product code never imports
 * testing/, node/ (node facts) imports only net/ and itself, and net/ never imports node/.
 */
import { assertEquals } from "./assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;

function* productFiles(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory) {
      if (["tests", "testing", ".tools", "dist", "node_modules", ".git"].includes(e.name)) continue;
      yield* productFiles(rel);
    } else if (rel.endsWith(".ts") && !rel.endsWith("_test.ts")) {
      yield rel;
    }
  }
}

/** The top folder of every relative module `file` imports ("." for the repository root). */
function importedFolders(file: string): string[] {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  const out: string[] = [];
  // Import and export lines and dynamic imports; JSDoc examples (lines starting with " *") are
  // documentation, not imports.
  const re = /^(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"|\bimport\(\s*"(\.[^"]+)"\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2]!;
    const abs = new URL(spec, `file://${ROOT}${file}`).pathname.slice(ROOT.length);
    out.push(abs.includes("/") ? abs.slice(0, abs.indexOf("/")) : ".");
  }
  return out;
}

Deno.test("product code never imports testing/", () => {
  const bad = [...productFiles("")].filter((f) => importedFolders(f).includes("testing"));
  assertEquals(bad, []);
});

Deno.test("node/ imports only net/ and node/; net/ never imports node/", () => {
  const bad: string[] = [];
  for (const f of productFiles("")) {
    const top = f.slice(0, f.indexOf("/"));
    const allowed = top === "node" ? ["node", "net"] : top === "net" ? undefined : null;
    for (const d of importedFolders(f)) {
      if (allowed && !allowed.includes(d)) bad.push(`${f} imports ${d}/`);
      if (allowed === undefined && d === "node") bad.push(`${f} imports node/`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("component/ (config fields, lifecycle) imports only net/ and component/", () => {
  const bad: string[] = [];
  for (const f of productFiles("component")) {
    for (const d of importedFolders(f)) {
      if (d !== "component" && d !== "net") bad.push(`${f} imports ${d}/`);
    }
  }
  assertEquals(bad, []);
});
