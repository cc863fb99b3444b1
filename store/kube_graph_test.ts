import { assertEquals } from "../testing/assert.ts";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** The modules `entry` loads at start (static imports only; `await import()` left out). */
async function staticGraph(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [...info.roots];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpec.get(s)?.dependencies ?? []) {
      if (!d.isDynamic && d.code) todo.push(d.code.specifier);
    }
  }
  return seen;
}

Deno.test("the CNI plugin and the daemon's start load no Kubernetes client (lazy in the registry)", async () => {
  for (const entry of ["../cmd/cni.ts", "../cmd/daemon.ts"]) {
    const graph = await staticGraph(entry);
    const kube = [...graph].filter((s) =>
      /\/store\/(kubernetes|kube_[a-z_]+|_kube_client)\.ts$/.test(s)
    );
    assertEquals(kube, [], `${entry} loads ${kube.join(", ")}`);
  }
  // The check itself can see a static import: the registry's own graph holds its fields module.
  const reg = await staticGraph("./registry.ts");
  assertEquals([...reg].some((s) => s.endsWith("/component/fields.ts")), true);
});
