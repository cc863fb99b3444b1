/**
 * The layer rules, checked by reading import lines: ARCHITECTURE.md's order (nothing imports
 * upward, the features do not import each other but for the two named exceptions), product code
 * never imports testing/, node/ (node facts) and component/ import only net/ and themselves.
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

/** Every relative module `file` imports, as a path from the repository root. */
function importedModules(file: string): string[] {
  const text = Deno.readTextFileSync(`${ROOT}${file}`);
  const out: string[] = [];
  // Import and export lines and dynamic imports; JSDoc examples (lines starting with " *") are
  // documentation, not imports.
  const re = /^(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"|\bimport\(\s*"(\.[^"]+)"\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2]!;
    out.push(new URL(spec, `file://${ROOT}${file}`).pathname.slice(ROOT.length));
  }
  return out;
}

/** The top folder of a module path ("." for the repository root). */
function topFolder(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : ".";
}

/** The top folder of every relative module `file` imports ("." for the repository root). */
function importedFolders(file: string): string[] {
  return importedModules(file).map(topFolder);
}

/** ARCHITECTURE.md's layers, top first: a module imports from its own layer's folder or below. */
const LAYERS: readonly (readonly string[])[] = [
  ["."], // main.ts, mod.ts
  ["cmd"],
  ["cni", "daemon", "diagnose", "lab"], // the features
  ["backends"],
  ["store"],
  ["node", "component"], // node facts; config fields and lifecycle
  ["net"],
  ["net/nl"],
];

/** The imports between two folders of one layer that the design names. */
const SIDEWAYS: Record<string, string> = {
  "daemon -> cni": "the daemon serves CNI calls (daemon/cni_server.ts runs cni/call.ts)",
  "lab -> diagnose": "`skein lab diagnose` (lab/diagnose.ts)",
};

/** What net/nl/ (bytes only) uses of net/: the pure address math and the object types. */
const NL_USES_OF_NET = ["net/cidr.ts", "net/types.ts"];

/** The layer folder of a module path: net/nl/ is its own layer below net/. */
function layerFolder(path: string): string {
  return path.startsWith("net/nl/") ? "net/nl" : topFolder(path);
}

function layerIndex(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

Deno.test("nothing imports upward or sideways (ARCHITECTURE.md's layer order)", () => {
  const bad: string[] = [];
  const sidewaysSeen = new Set<string>();
  for (const f of productFiles("")) {
    const from = layerFolder(f);
    if (layerIndex(from) < 0) bad.push(`${f}: folder ${from}/ is in no layer`);
    for (const m of importedModules(f)) {
      const to = layerFolder(m);
      if (to === from || to === "testing") continue; // testing/: its own test below
      const pair = `${from} -> ${to}`;
      if (from === "net/nl" && to === "net" && NL_USES_OF_NET.includes(m)) continue;
      if (layerIndex(to) > layerIndex(from)) continue;
      if (SIDEWAYS[pair] && layerIndex(to) === layerIndex(from)) {
        sidewaysSeen.add(pair);
        continue;
      }
      bad.push(`${f} imports ${m} (${pair})`);
    }
  }
  for (const pair of Object.keys(SIDEWAYS)) {
    if (!sidewaysSeen.has(pair)) bad.push(`${pair} is allowed but no longer used: unlist it`);
  }
  assertEquals(bad, []);
});

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
