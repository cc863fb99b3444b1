import { assertEquals, assertThrows } from "../testing/assert.ts";
import { readCmdArgs, validateIfName, validateNetworkName } from "./env.ts";
import { CniError } from "./errors.ts";

const base: Record<string, string> = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "abc123",
  CNI_NETNS: "/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin::/usr/lib/cni",
};
const env = (over: Record<string, string | undefined>) => (n: string) => ({ ...base, ...over })[n];

Deno.test("readCmdArgs() reads every CNI_* variable", () => {
  const a = readCmdArgs(env({ CNI_ARGS: "IgnoreUnknown=1" }));
  assertEquals(a, {
    command: "ADD",
    containerId: "abc123",
    netns: "/run/netns/x",
    ifName: "eth0",
    args: "IgnoreUnknown=1",
    path: ["/opt/cni/bin", "/usr/lib/cni"],
  });
});

Deno.test("readCmdArgs() names every missing variable with code 4", () => {
  const e = assertThrows(
    () => readCmdArgs(env({ CNI_NETNS: undefined, CNI_PATH: "" })),
    CniError,
    "[CNI_NETNS,CNI_PATH]",
  );
  assertEquals(e.code, 4);
  assertThrows(() => readCmdArgs(env({ CNI_COMMAND: undefined })), CniError, "CNI_COMMAND");
});

Deno.test("readCmdArgs() does not need CNI_NETNS on DEL, nor anything but the command for VERSION/GC/STATUS", () => {
  assertEquals(readCmdArgs(env({ CNI_COMMAND: "DEL", CNI_NETNS: undefined })).netns, "");
  const only = (cmd: string) => (n: string) => n === "CNI_COMMAND" ? cmd : undefined;
  assertEquals(readCmdArgs(only("VERSION")).command, "VERSION");
  assertEquals(readCmdArgs(only("GC")).command, "GC");
  assertEquals(readCmdArgs(only("STATUS")).command, "STATUS");
});

Deno.test("readCmdArgs() rejects an unknown command and bad ids with code 4", () => {
  assertEquals(
    assertThrows(() => readCmdArgs(env({ CNI_COMMAND: "FOO" })), CniError, "FOO").code,
    4,
  );
  assertEquals(assertThrows(() => readCmdArgs(env({ CNI_CONTAINERID: "a/b" })), CniError).code, 4);
  assertEquals(
    assertThrows(() => readCmdArgs(env({ CNI_IFNAME: "waytoolonginterface" })), CniError).code,
    4,
  );
});

Deno.test("validateIfName() follows the kernel's rules", () => {
  validateIfName("eth0");
  validateIfName("net1.100");
  for (
    const bad of [
      "",
      ".",
      "..",
      "a/b",
      "a:b",
      "a b",
      "abcdefghijklmnop",
      "a\x01b",
      "a\x7f",
      "all",
      "default",
      "eth%d",
      "a%b",
    ]
  ) {
    assertThrows(() => validateIfName(bad), CniError);
  }
});

Deno.test("validateNetworkName() gives code 7", () => {
  assertEquals(assertThrows(() => validateNetworkName(""), CniError).code, 7);
  assertEquals(assertThrows(() => validateNetworkName("bad name"), CniError).code, 7);
  assertEquals(validateNetworkName("pods"), "pods");
});

Deno.test("readCmdArgs(): a variable Deno cannot read as UTF-8 is code 4 naming it", () => {
  const e = assertThrows(
    () =>
      readCmdArgs((n) => {
        if (n === "CNI_ARGS") throw new TypeError("environment variable was not valid unicode");
        return base[n];
      }),
    CniError,
    "CNI_ARGS",
  );
  assertEquals(e.code, 4);
});
