import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { checkIfname, ifnameProblem, isIfname } from "./ifname.ts";

Deno.test("ifnameProblem() takes the names the kernel takes", () => {
  for (
    const ok of [
      "eth0",
      "net1.100",
      "a",
      "abcdefghijklmno",
      "skein.1",
      "a\u2000b",
      "a\x01b",
      "abcdefghijklmé",
    ]
  ) {
    assertEquals(ifnameProblem(ok), undefined, ok);
    assertEquals(isIfname(ok), true, ok);
  }
});

Deno.test("ifnameProblem() names why the kernel would refuse a name", () => {
  const cases: [unknown, string][] = [
    ["", "empty"],
    [undefined, "empty"],
    [42, "empty"],
    ["abcdefghijklmnop", "too-long"],
    // 15 characters but 16 UTF-8 bytes: too long for the kernel (a UTF-16 length check would
    // let it through).
    ["abcdefghijklmné", "too-long"],
    [".", "dot"],
    ["..", "dot"],
    ["a/b", "bad-char"],
    ["a:b", "bad-char"],
    ["a b", "bad-char"],
    ["a\tb", "bad-char"],
    ["a\nb", "bad-char"],
    ["a\0b", "bad-char"],
    // The kernel's isspace() counts the byte 0xA0: "à" is C3 A0, a no-break space C2 A0.
    ["à", "bad-char"],
    ["a\u00a0b", "bad-char"],
  ];
  for (const [name, why] of cases) {
    assertEquals(ifnameProblem(name), why, JSON.stringify(name));
    assertEquals(isIfname(name), false, JSON.stringify(name));
  }
});

Deno.test("checkIfname() throws a TypeError naming what the name was for", () => {
  checkIfname("eth0");
  assertThrows(
    () => checkIfname("way-too-long-ifname", "veth peer"),
    TypeError,
    'Cannot use veth peer name "way-too-long-ifname": an interface name is 1-15 bytes',
  );
});
