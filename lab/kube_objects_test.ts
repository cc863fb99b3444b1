import { parseAllDocuments } from "yaml";
import { assertEquals } from "../testing/assert.ts";
import { collectionPath, SKEIN_RBAC_OBJECTS } from "./kube_objects.ts";

Deno.test("the lab's RBAC objects are exactly deploy/kubernetes/skein.yaml's", () => {
  const text = Deno.readTextFileSync(
    new URL("../deploy/kubernetes/skein.yaml", import.meta.url),
  );
  const kinds = new Set(SKEIN_RBAC_OBJECTS.map((o) => o.kind));
  const fromManifest = parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((o): o is Record<string, unknown> => !!o && kinds.has(o.kind));
  assertEquals(fromManifest, [...SKEIN_RBAC_OBJECTS]);
  assertEquals(
    collectionPath(SKEIN_RBAC_OBJECTS[4]!),
    "/apis/rbac.authorization.k8s.io/v1/namespaces/skein/roles",
  );
});
