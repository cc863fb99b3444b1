import { assert, assertEquals } from "../testing/assert.ts";
import {
  describeHistoryLoss,
  type EtcdHeader,
  etcdHeaderOf,
  EtcdHistory,
  historyLoss,
} from "./_etcd_history.ts";

const h = (revision: number, clusterId = "111", memberId = "7"): EtcdHeader => ({
  revision,
  clusterId,
  memberId,
});

Deno.test("etcdHeaderOf(): the header of an answer or of a watch message; undefined without one", () => {
  assertEquals(
    etcdHeaderOf({
      header: { cluster_id: "111", member_id: "7", revision: "305", raft_term: "2" },
    }),
    h(305),
  );
  assertEquals(
    etcdHeaderOf({ result: { header: { cluster_id: "9", revision: "4" }, created: true } }),
    { revision: 4, clusterId: "9", memberId: "" },
  );
  assertEquals(etcdHeaderOf({ header: {} }), { revision: 0, clusterId: "", memberId: "" });
  assertEquals(etcdHeaderOf({ kvs: [] }), undefined);
  assertEquals(etcdHeaderOf({ header: { revision: "x" } }), undefined);
  assertEquals(etcdHeaderOf({ header: { revision: "-3" } }), undefined);
  assertEquals(etcdHeaderOf(undefined), undefined);
  assertEquals(etcdHeaderOf("header"), undefined);
});

Deno.test("historyLoss(): a revision below the one seen, or another cluster ID; nothing else", () => {
  const seen = { revision: 305, clusterId: "111" };
  assertEquals(historyLoss(seen, h(305)), undefined, "nothing new is no loss");
  assertEquals(historyLoss(seen, h(900)), undefined);
  assertEquals(historyLoss(seen, h(4)), { kind: "revision", seen, now: h(4) });
  assertEquals(historyLoss(seen, h(900, "222")), { kind: "cluster", seen, now: h(900, "222") });
  // Another cluster is named first, also when it is behind.
  assertEquals(historyLoss(seen, h(4, "222"))?.kind, "cluster");
  // An answer without a cluster ID (or "0") or without a revision tells nothing of it.
  assertEquals(historyLoss(seen, h(900, "")), undefined);
  assertEquals(historyLoss(seen, h(900, "0")), undefined);
  assertEquals(historyLoss(seen, h(0)), undefined);
  // Nothing seen yet: anything fits.
  assertEquals(historyLoss({ revision: 0 }, h(1, "5")), undefined);
});

Deno.test("describeHistoryLoss(): names both revisions, or both cluster IDs, and the member", () => {
  const seen = { revision: 305, clusterId: "111" };
  const r = describeHistoryLoss(historyLoss(seen, h(4))!);
  assert(r.includes("revision 4 (member 7)") && r.includes("below revision 305"), r);
  const c = describeHistoryLoss(historyLoss(seen, h(900, "222"))!);
  assertEquals(c, "etcd is another cluster: cluster ID 222 (member 7), was 111");
});

Deno.test("EtcdHistory: records the highest revision and the first cluster ID; a loss is a suspect, not recorded", () => {
  const hist = new EtcdHistory();
  assertEquals(hist.observe(h(10), hist.mark()), undefined);
  const m = hist.mark();
  assertEquals(m, { revision: 10, clusterId: "111", epoch: 0 });
  // An answer overtaken on the way (sent before revision 12 was seen) is no loss.
  assertEquals(hist.observe(h(12), hist.mark()), undefined);
  assertEquals(hist.observe(h(11), m), undefined);
  assertEquals(hist.seen, { revision: 12, clusterId: "111" });
  // Below what was seen when it was sent: the first loss is kept as the suspect.
  const first = hist.observe(h(3), hist.mark());
  assertEquals(first?.kind, "revision");
  assertEquals(hist.observe(h(2, "222"), hist.mark())?.kind, "cluster");
  assertEquals(hist.suspect, first);
  assertEquals(hist.seen, { revision: 12, clusterId: "111" }, "a loss is not recorded");
});

Deno.test("EtcdHistory.confirm(): a list at or above the mark clears the suspect (a member behind); below it starts over", () => {
  const hist = new EtcdHistory();
  hist.observe(h(300), hist.mark());
  hist.observe(h(298), hist.mark()); // a watch created on a member behind the others
  assert(hist.suspect);
  const m = hist.mark();
  assertEquals(hist.confirm(h(301), m), undefined);
  assertEquals(hist.suspect, undefined);
  assertEquals(hist.seen.revision, 301);

  // Wiped: answers below, then a list below confirms it; the history starts over from the list.
  const stale = hist.mark();
  hist.observe(h(2), hist.mark());
  const loss = hist.confirm(h(3), hist.mark());
  assertEquals(loss, { kind: "revision", seen: { revision: 301, clusterId: "111" }, now: h(3) });
  assertEquals(hist.suspect, undefined);
  assertEquals(hist.seen, { revision: 3, clusterId: "111" });
  assertEquals(hist.observe(h(4), hist.mark()), undefined);
  // A late answer of the old etcd (sent before the loss) is ignored: not recorded, no suspect.
  assertEquals(hist.observe(h(305), stale), undefined);
  assertEquals(hist.seen.revision, 4);
  assertEquals(hist.suspect, undefined);

  // Another cluster: its ID replaces the old one.
  hist.observe(h(50, "222"), hist.mark());
  assertEquals(hist.confirm(h(50, "222"), hist.mark())?.kind, "cluster");
  assertEquals(hist.seen, { revision: 50, clusterId: "222" });
  assertEquals(hist.observe(h(51, "222"), hist.mark()), undefined);
});
