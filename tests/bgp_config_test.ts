/**
 * `skein daemon` with a bad bgp backend configuration exits 2 before touching anything, with a
 * message naming the field (AS 0, an unknown field, a peer that is not an address).
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

async function daemon(yaml: string): Promise<{ code: number; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "skein-bgp-config-" });
  try {
    await Deno.writeTextFile(`${dir}/c.yaml`, yaml);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--no-prompt",
        "--config",
        CONFIG,
        MAIN,
        "daemon",
        "--config",
        `${dir}/c.yaml`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bad bgp config: exit 2 and a message naming the field", async () => {
  const cases: [string, string][] = [
    [
      "backend: {type: bgp, asNumber: 0}\n",
      "config.backend.asNumber: must be an integer from 1 to 4294967295, got 0",
    ],
    ["backend: {type: bgp, colour: red}\n", 'config.backend: unknown field "colour"'],
    [
      "backend: {type: bgp, peers: [{address: tor, asNumber: 65000}]}\n",
      'config.backend.peers: [0].address must be an IP address, got "tor"',
    ],
  ];
  for (const [yaml, want] of cases) {
    const r = await daemon(yaml);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, want);
  }
});
