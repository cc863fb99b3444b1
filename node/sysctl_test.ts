import { assertEquals, assertThrows } from "../testing/assert.ts";
import { ensureSysctl, netnsSysctl, type SysctlAccess } from "./sysctl.ts";

function fake(
  values: Record<string, string>,
  failRead = false,
): SysctlAccess & { writes: string[] } {
  const writes: string[] = [];
  return {
    writes,
    get: (k) => {
      if (failRead) throw new Error("EACCES");
      return values[k];
    },
    set: (k, v) => {
      writes.push(`${k}=${v}`);
      values[k] = v;
    },
  };
}

Deno.test("ensureSysctl() writes only when the value differs", () => {
  const s = fake({ "net.ipv4.ip_forward": "1\n", "net.ipv6.conf.all.forwarding": "0" });
  assertEquals(ensureSysctl("net.ipv4.ip_forward", "1", s), false);
  assertEquals(ensureSysctl("net.ipv6.conf.all.forwarding", "1", s), true);
  assertEquals(ensureSysctl("net.ipv6.conf.all.forwarding", "1", s), false);
  assertEquals(s.writes, ["net.ipv6.conf.all.forwarding=1"]);
});

Deno.test("ensureSysctl() writes a value it cannot read, and throws the write's error", () => {
  const s = fake({}, true);
  assertEquals(ensureSysctl("net.ipv4.ip_forward", "1", s), true);
  assertEquals(s.writes, ["net.ipv4.ip_forward=1"]);
  const broken: SysctlAccess = {
    get: () => undefined,
    set: () => {
      throw new Error("read-only file system");
    },
  };
  assertThrows(() => ensureSysctl("net.ipv4.ip_forward", "1", broken), Error, "read-only");
});

Deno.test("netnsSysctl() reads a missing key as undefined", () => {
  const s = netnsSysctl();
  assertEquals(s.get("net/ipv4/conf/no-such-if0/forwarding"), undefined);
  assertEquals(["0", "1"].includes(s.get("net.ipv4.ip_forward")!), true);
});
