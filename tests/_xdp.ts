/**
 * An XDP program that drops every packet, for tests that attach one (`ip link set dev DEV
 * xdpgeneric obj FILE sec xdp`). The object is built from this LLVM IR with
 * `llc -march=bpf -filetype=obj xdp_drop.ll` (LLVM 14) and kept here as bytes, so the tests need
 * no compiler:
 *
 * ```llvm
 * target triple = "bpf"
 * define i32 @xdp_drop(i8* %ctx) section "xdp" {
 *   ret i32 1 ; XDP_DROP
 * }
 * @_license = global [4 x i8] c"GPL\00", section "license"
 * ```
 *
 * @module
 */
import { runCommand } from "../lab/_proc.ts";

const XDP_DROP_OBJECT =
  "f0VMRgIBAQAAAAAAAAAAAAEA9wABAAAAAAAAAAAAAAAAAAAAAAAAAFgBAAAAAAAAAAAAAEAAAAAAAEAACAABALcAAAABAAAAlQAAAAAAAABHUEwAAAAAABAAAAAAAAAAAXpSAAh8CwEMAAAAGAAAABgAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABQAAAAEAPH/AAAAAAAAAAAAAAAAAAAAAAAAAAADAAMAAAAAAAAAAAAAAAAAAAAAAAcAAAASAAMAAAAAAAAAAAAQAAAAAAAAACAAAAARAAQAAAAAAAAAAAAEAAAAAAAAABwAAAAAAAAAAgAAAAIAAAAALnRleHQAeGRwX2Ryb3AAeGRwAHhkcF9kcm9wLmxsAF9saWNlbnNlAC5yZWwuZWhfZnJhbWUALnN0cnRhYgAuc3ltdGFiAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAANwAAAAMAAAAAAAAAAAAAAAAAAAAAAAAAEAEAAAAAAABHAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAEAAAABAAAABgAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAQAAAAAQAAAAYAAAAAAAAAAAAAAAAAAABAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAIAAAAAAAAAAAAAAAAAAAAIQAAAAEAAAADAAAAAAAAAAAAAAAAAAAAUAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAAC0AAAABAAAAAgAAAAAAAAAAAAAAAAAAAFgAAAAAAAAAMAAAAAAAAAAAAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAApAAAACQAAAEAAAAAAAAAAAAAAAAAAAAAAAQAAAAAAABAAAAAAAAAABwAAAAUAAAAIAAAAAAAAABAAAAAAAAAAPwAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAiAAAAAAAAAB4AAAAAAAAAAEAAAADAAAACAAAAAAAAAAYAAAAAAAAAA==";

/** Attaches the drop-everything program to `dev` in namespace `netns` (a name) in generic mode. */
export async function attachXdpDrop(netns: string, dev: string): Promise<void> {
  const file = Deno.makeTempFileSync({ prefix: "skein-xdp-", suffix: ".o" });
  try {
    Deno.writeFileSync(file, Uint8Array.from(atob(XDP_DROP_OBJECT), (c) => c.charCodeAt(0)));
    const r = await runCommand([
      "ip",
      "-n",
      netns,
      "link",
      "set",
      "dev",
      dev,
      "xdpgeneric",
      "obj",
      file,
      "sec",
      "xdp",
    ]);
    if (!r.success) throw new Error(`cannot attach XDP to ${dev} in ${netns}: ${r.stderr}`);
  } finally {
    Deno.removeSync(file);
  }
}

/** Detaches it (`ip link set dev DEV xdpgeneric off`). */
export async function detachXdp(netns: string, dev: string): Promise<void> {
  await runCommand(["ip", "-n", netns, "link", "set", "dev", dev, "xdpgeneric", "off"]);
}
