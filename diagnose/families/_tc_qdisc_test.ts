import { assertEquals } from "../../testing/assert.ts";
import type { TcQdisc } from "../../net/types.ts";
import { qdiscHarm } from "./_tc_qdisc.ts";

const q = (o: Partial<TcQdisc>): TcQdisc => ({
  ifindex: 2,
  kind: "pfifo",
  root: true,
  parent: "root",
  ...o,
});

Deno.test("qdiscHarm(): an empty fifo, a few-bit token bucket, netem losing everything drop every packet", () => {
  assertEquals(qdiscHarm(q({ limit: 0 }))?.sure, true);
  assertEquals(qdiscHarm(q({ limit: 1000 })), undefined);
  assertEquals(qdiscHarm(q({ kind: "bfifo", limit: 10 }))?.sure, true);
  assertEquals(qdiscHarm(q({ kind: "bfifo", limit: 1000 }))?.sure, false);
  assertEquals(qdiscHarm(q({ kind: "tbf", rateBytes: 1, limit: 1 }))?.sure, true);
  assertEquals(qdiscHarm(q({ kind: "tbf", rateBytes: 12_500, limit: 10_000 }))?.sure, false);
  assertEquals(qdiscHarm(q({ kind: "tbf", rateBytes: 125_000_000, limit: 10_000 })), undefined);
  assertEquals(qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 100 }))?.sure, true);
  assertEquals(
    qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 10 }))?.text,
    "loses 10.0% of packets",
  );
  assertEquals(qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 0 })), undefined);
  assertEquals(
    qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 0, corruptPct: 100 }))?.sure,
    true,
  );
  assertEquals(
    qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 0, delayMs: 5000 }))?.sure,
    false,
  );
  assertEquals(qdiscHarm(q({ kind: "netem", limit: 1000, lossPct: 0, rateBytes: 1 }))?.sure, true);
  assertEquals(qdiscHarm(q({ kind: "htb" })), undefined);
  assertEquals(qdiscHarm(q({ kind: "noqueue" })), undefined);
});
