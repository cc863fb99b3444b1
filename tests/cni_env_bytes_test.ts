/**
 * CNI_* variables whose bytes are not UTF-8 (a runtime cannot send them, a hostile caller can):
 * the spec's error JSON with code 4 on stdout, nothing else there, no stack trace.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { withNamespaces } from "./_netns.ts";
import { cniBinDir, cniMode, cniService } from "./_cni.ts";

Deno.test("CNI_* variables that are not valid UTF-8 are code 4", async () => {
  await withNamespaces(["host"], async (ns) => {
    const socket = cniMode() === "daemon" ? cniService(ns.host!) : "off";
    const conf = '{"cniVersion":"1.0.0","name":"bytes","type":"skein","mode":"loopback"}';
    for (const v of ["CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_ARGS"]) {
      // sh's printf puts the raw bytes 0xff 0xfe in the value; JS strings cannot hold them.
      const script = `exec env -i PATH=/usr/bin:/bin CNI_COMMAND=ADD CNI_CONTAINERID=c1 \\
        CNI_IFNAME=eth0 CNI_NETNS=/proc/self/ns/net CNI_PATH=/x SKEIN_CNI_SOCKET='${socket}' \\
        "${v}=a$(printf '\\377\\376')b" '${cniBinDir()}/skein'`;
      const child = new Deno.Command("nsenter", {
        args: [`--net=${ns.host}`, "sh", "-c", script],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(conf));
      await w.close();
      const out = await child.output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 1, `${v}: ${stdout}${stderr}`);
      const j = JSON.parse(stdout);
      assertEquals(j.code, 4, `${v}: ${stdout}`);
      assert(typeof j.msg === "string" && typeof j.cniVersion === "string", stdout);
      assert(!/\n\s+at /.test(stdout + stderr), `${v}: stack trace: ${stderr}`);
    }
  });
});
