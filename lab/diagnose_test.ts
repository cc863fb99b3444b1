import { assertRejects } from "../testing/assert.ts";
import { labDiagnose, NoLabError, NotSkeinLabError } from "./diagnose.ts";
import { labDefaults } from "./plan.ts";
import { writeLabState } from "./state.ts";

Deno.test("labDiagnose(): a missing lab and a --cni reference lab are refused, not diagnosed", async () => {
  const root = Deno.makeTempDirSync({ prefix: "skein-labdiag-" });
  try {
    await assertRejects(() => labDiagnose("nope", "n1-p1", "n2-p1", {}, root), NoLabError);
    const options = labDefaults({
      name: "ref",
      kubernetes: true,
      cni: "reference",
      datastore: "kubernetes",
      podsPerNode: 0,
    });
    Deno.mkdirSync(`${root}/ref`);
    writeLabState(`${root}/ref/lab.json`, {
      version: 1,
      name: "ref",
      options,
      createdAt: new Date().toISOString(),
      phase: "ready",
      namespaces: [],
      daemons: [],
      pods: [],
      processes: [],
    });
    await assertRejects(
      () => labDiagnose("ref", "default/a", "default/b", {}, root),
      NotSkeinLabError,
      "runs the reference CNI plugins",
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
