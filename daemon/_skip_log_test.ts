import { assertEquals } from "../testing/assert.ts";
import { skipChanges } from "./_skip_log.ts";

const skip = (n: number, reason = "not on-link") => ({ subnet: `10.244.${n}.0/24`, reason });

Deno.test("skipChanges(): 200 skipped, 5 more: only the 5 are reported", () => {
  const first = skipChanges(new Map(), Array.from({ length: 200 }, (_, i) => skip(i)));
  assertEquals(first.skipped.length, 200);
  assertEquals(first.cleared, []);
  const more = Array.from({ length: 205 }, (_, i) => skip(i));
  const second = skipChanges(first.next, more);
  assertEquals(
    second.skipped.map((s) => s.subnet),
    [200, 201, 202, 203, 204].map((n) => skip(n).subnet),
  );
  assertEquals(second.cleared, []);
  const same = skipChanges(second.next, more);
  assertEquals([same.skipped, same.cleared], [[], []]);
});

Deno.test("skipChanges(): a changed reason is reported again; a lease no longer skipped is cleared", () => {
  const a = skipChanges(new Map(), [skip(1), skip(2)]);
  const b = skipChanges(a.next, [skip(2, "the kernel refused it")]);
  assertEquals(b.skipped, [skip(2, "the kernel refused it")]);
  assertEquals(b.cleared, ["10.244.1.0/24"]);
});

Deno.test("skipChanges(): one subnet skipped for two reasons keeps both, once each", () => {
  const a = skipChanges(new Map(), [skip(1, "x"), skip(1, "y"), skip(1, "y")]);
  assertEquals(a.skipped, [skip(1, "x; y")]);
});
