import { assert_ as assert, assertEquals, assertMatch } from "../testing/assert.ts";

function assertInstanceOf(v: unknown, cls: abstract new (...a: never[]) => unknown): void {
  assert(v instanceof cls, `${(v as Error)?.name} is not a ${cls.name}`);
}
import {
  KubeApiError,
  KubeConflictError,
  kubeError,
  KubeForbiddenError,
  KubeGoneError,
  KubeInvalidError,
  KubeNotFoundError,
  parseStatus,
} from "./kube_errors.ts";
import { StoreError } from "./errors.ts";

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });

Deno.test("kubeError: Status codes become typed errors", () => {
  const req = {
    verb: "create",
    resource: "leases.coordination.k8s.io",
    name: "x",
    namespace: "skein",
  };
  assertInstanceOf(kubeError(409, status(409, "AlreadyExists", "exists"), req), KubeConflictError);
  assertInstanceOf(kubeError(410, status(410, "Expired", "too old"), req), KubeGoneError);
  assertInstanceOf(kubeError(422, status(422, "Invalid", "immutable"), req), KubeInvalidError);
  assertInstanceOf(kubeError(404, status(404, "NotFound", "no"), req), KubeNotFoundError);
  const other = kubeError(500, "oops", req);
  assertInstanceOf(other, KubeApiError);
  assertInstanceOf(other, StoreError);
  assertEquals(other.status.message, "oops");
});

Deno.test("kubeError: 403 names the verb, the resource and where to grant it", () => {
  const e = kubeError(403, status(403, "Forbidden", 'nodes "n1" is forbidden'), {
    verb: "delete",
    resource: "nodes",
    name: "n1",
  });
  assertInstanceOf(e, KubeForbiddenError);
  assertMatch(e.message, /may not delete nodes "n1" \(cluster scope\)/);
  assertMatch(e.message, /ClusterRole/);
});

Deno.test("parseStatus: a watch ERROR object, garbage and a code-less body", () => {
  assertEquals(parseStatus(200, { kind: "Status", code: 410, reason: "Expired" }).code, 410);
  assertEquals(parseStatus(502, "<html>").code, 502);
  assertEquals(parseStatus(500, { code: "x" }).code, 500);
  assert(parseStatus(500, "x".repeat(5000)).message!.length <= 500);
});
