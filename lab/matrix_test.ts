import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { formatMatrix, matrixPairs, type MatrixPod, summarize } from "./matrix.ts";

const pods: MatrixPod[] = [
  { name: "n1-p1", ip: "10.244.1.2", netnsPath: "/run/netns/a" },
  { name: "n2-p1", ip: "10.244.2.2", netnsPath: "/run/netns/b" },
  { name: "n3-p1", ip: "10.244.3.2", netnsPath: "/run/netns/c" },
];

Deno.test("matrixPairs() lists every ordered pair of distinct pods", () => {
  assertEquals(matrixPairs(0), []);
  assertEquals(matrixPairs(1), []);
  assertEquals(matrixPairs(2), [{ from: 0, to: 1 }, { from: 1, to: 0 }]);
  assertEquals(matrixPairs(4).length, 12);
});

Deno.test("formatMatrix() prints ok cells and the diagonal", () => {
  const results = matrixPairs(3).map((p) => ({ ...p, ok: true }));
  const text = formatMatrix(pods, results);
  const lines = text.split("\n");
  assertEquals(lines[0], "from \\ to         n1-p1  n2-p1  n3-p1");
  assertEquals(lines[1], "n1-p1 10.244.1.2      -     ok     ok");
  assertEquals(lines[3], "n3-p1 10.244.3.2     ok     ok      -");
  assertStringIncludes(text, "6/6 pairs reachable");
  assertEquals(text.includes("FAIL"), false);
});

Deno.test("formatMatrix() marks failures and explains them", () => {
  const results = matrixPairs(3).map((p) =>
    p.from === 0 && p.to === 2 ? { ...p, ok: false, error: "100% packet loss" } : { ...p, ok: true }
  );
  const text = formatMatrix(pods, results);
  assertStringIncludes(text, "n1-p1 10.244.1.2      -     ok   FAIL");
  assertStringIncludes(text, "5/6 pairs reachable, 1 FAILED");
  assertStringIncludes(text, "FAIL n1-p1 -> n3-p1 (10.244.3.2): 100% packet loss");
  assertEquals(summarize(results), { total: 6, ok: 5, failed: 1 });
});

Deno.test("formatMatrix() shows a missing result as ?", () => {
  const text = formatMatrix(pods.slice(0, 2), [{ from: 0, to: 1, ok: true }]);
  assertStringIncludes(text, "n2-p1 10.244.2.2      ?      -");
});
