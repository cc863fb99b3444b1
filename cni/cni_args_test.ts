import { assertEquals, assertThrows } from "../testing/assert.ts";
import { parseCniArgs } from "./cni_args.ts";
import { CniError } from "./errors.ts";

Deno.test("parseCniArgs() reads IgnoreUnknown, IP, MAC and K8S keys", () => {
  const a = parseCniArgs(
    "IgnoreUnknown=1;IP=10.244.1.5,fd00::5;K8S_POD_NAME=web-0;FOO=bar;MAC=0A:58:0A:F4:01:05",
  );
  assertEquals(a.ignoreUnknown, true);
  assertEquals(a.ips, ["10.244.1.5", "fd00::5"]);
  assertEquals(a.mac, "0a:58:0a:f4:01:05");
  assertEquals(a.pairs.K8S_POD_NAME, "web-0");
});

Deno.test("parseCniArgs() accepts empty input and known keys without IgnoreUnknown", () => {
  assertEquals(parseCniArgs(undefined).ips, []);
  assertEquals(parseCniArgs("").ignoreUnknown, false);
  assertEquals(parseCniArgs("K8S_POD_NAMESPACE=default;IP=10.0.0.9").ips, ["10.0.0.9"]);
});

Deno.test("parseCniArgs() rejects unknown keys unless IgnoreUnknown (code 4, names CNI_ARGS)", () => {
  const e = assertThrows(() => parseCniArgs("FOO=bar"), CniError, "CNI_ARGS");
  assertEquals(e.code, 4);
  assertEquals(e.details?.includes("FOO"), true);
  assertEquals(parseCniArgs("FOO=bar;IgnoreUnknown=true").ignoreUnknown, true);
});

Deno.test("parseCniArgs() rejects bad pairs and values", () => {
  assertThrows(() => parseCniArgs("IP"), CniError);
  assertThrows(() => parseCniArgs("=x"), CniError);
  assertThrows(() => parseCniArgs("IP=10.0.0.300"), CniError);
  assertThrows(() => parseCniArgs("IgnoreUnknown=maybe"), CniError);
  assertThrows(() => parseCniArgs("MAC=zz:zz"), CniError);
});

Deno.test("parseCniArgs() lets a repeated key's later value win, as libcni's LoadArgs does", () => {
  assertEquals(parseCniArgs("IP=10.0.0.5;IP=10.0.0.6").ips, ["10.0.0.6"]);
  assertEquals(
    parseCniArgs("MAC=0a:58:00:00:00:01;MAC=0a:58:00:00:00:02").mac,
    "0a:58:00:00:00:02",
  );
  assertThrows(() => parseCniArgs("IP=10.0.0.300;IP=10.0.0.6"), CniError);
});

Deno.test("parseCniArgs() treats __proto__ like any unknown key", () => {
  const e = assertThrows(() => parseCniArgs("__proto__=x"), CniError, "CNI_ARGS");
  assertEquals(e.code, 4);
  assertEquals(parseCniArgs("IgnoreUnknown=1;__proto__=x;constructor=y").pairs.__proto__, "x");
});

Deno.test("parseCniArgs() refuses a MAC the kernel would refuse for a veth (multicast, zero)", () => {
  for (const mac of ["01:00:5e:00:00:01", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"]) {
    const e = assertThrows(() => parseCniArgs(`MAC=${mac}`), CniError, "CNI_ARGS");
    assertEquals(e.code, 4);
  }
});

Deno.test("parseCniArgs(): IgnoreUnknown as libcni's UnmarshallableBool, an empty MAC= asks for nothing", () => {
  assertEquals(parseCniArgs("IgnoreUnknown=TrUe;X=1").ignoreUnknown, true);
  assertEquals(parseCniArgs("IgnoreUnknown=0").ignoreUnknown, false);
  for (const v of ["t", "T", "f", "yes", ""]) {
    assertThrows(() => parseCniArgs(`IgnoreUnknown=${v}`), CniError, "CNI_ARGS");
  }
  assertEquals(parseCniArgs("MAC=").mac, undefined);
  assertEquals(parseCniArgs("MAC=0a:58:00:00:00:01;MAC=").mac, undefined);
});
