/**
 * skein delegating to an IPAM plugin of another kind (root): the plugin may exit without reading
 * its stdin, as a DEL that does nothing or an early error does. Its exit status and output judge
 * the call (as libcni's Go exec does), not the broken pipe.
 */
import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { callPlugin, cniBinDir, links } from "./_cni.ts";

const SCRIPTS: Record<string, string> = {
  // A DEL that does nothing and reads nothing.
  noopipam: "exit 0",
  // An error before reading stdin (a skel-based plugin's answer to a bad environment).
  quickfail:
    `echo '{"cniVersion":"1.0.0","code":4,"msg":"required env variables [FOO] missing"}'; exit 1`,
  // A result printed without reading the config.
  noread: `echo '{"cniVersion":"1.0.0","ips":[{"address":"10.44.0.5/24","gateway":"10.44.0.1"}]}'`,
};

Deno.test("cni: a delegated IPAM plugin that exits without reading stdin is judged by its exit status and output", async () => {
  const bin = Deno.makeTempDirSync({ prefix: "skein-ipam-bin-" });
  try {
    for (const [name, body] of Object.entries(SCRIPTS)) {
      Deno.writeTextFileSync(`${bin}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    }
    await withNamespaces(["host", "p1"], async (ns) => {
      const conf = (type: string) => ({
        cniVersion: "1.0.0",
        name: "deleg",
        type: "skein",
        bridge: "dbr0",
        isGateway: true,
        ipam: { type },
      });
      const call = (command: "ADD" | "DEL", type: string) =>
        callPlugin({
          command,
          conf: conf(type),
          containerId: "d1",
          netns: ns.p1,
          hostNs: ns.host!,
          env: { CNI_PATH: `${cniBinDir()}:${bin}` },
        });
      const del = await call("DEL", "noopipam");
      assertEquals([del.code, del.stdout.trim()], [0, ""], del.stderr);
      const fail = await call("ADD", "quickfail");
      assertEquals(fail.code, 1);
      assertEquals(fail.json?.code, 4, fail.stdout);
      assertStringIncludes(String(fail.json?.msg), "required env variables [FOO] missing");
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo"], "a failed ADD leaves no interface");
      const add = await call("ADD", "noread");
      assertEquals(add.code, 0, add.stdout + add.stderr);
      assertEquals((add.json?.ips as { address: string }[])[0]!.address, "10.44.0.5/24");
      const gone = await call("DEL", "noopipam");
      assertEquals(gone.code, 0, gone.stdout + gone.stderr);
      assertEquals(links(ns.p1!).map((l) => l.ifname), ["lo"]);
    });
  } finally {
    Deno.removeSync(bin, { recursive: true });
  }
});
