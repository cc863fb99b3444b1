/**
 * Reads the leases from the datastore for a diagnosis, read-only and bounded in time. A file
 * store is opened only when its directory exists (opening one creates it otherwise); any failure
 * becomes the StoreView's `error` so the lease checks say so and the rest still run.
 *
 * @module
 */
import type { LeaseStore } from "../store/types.ts";
import type { StoreView } from "./context.ts";

/** Where the leases are. */
export type StoreSpec =
  | { type: "file"; dir: string }
  | { type: "etcd"; endpoints: string[]; prefix: string };

async function open(spec: StoreSpec, timeoutMs: number): Promise<LeaseStore> {
  if (spec.type === "file") {
    const st = Deno.statSync(`${spec.dir}/subnets`);
    if (!st.isDirectory) throw new Error(`${spec.dir}/subnets is not a directory`);
    const { FileStore } = await import("../store/file.ts");
    return new FileStore({ dir: spec.dir, fsEvents: false });
  }
  const { EtcdStore } = await import("../store/etcd.ts");
  return new EtcdStore({ endpoints: spec.endpoints, prefix: spec.prefix, timeoutMs });
}

/** Lists the live leases; never throws. */
export async function readStore(spec: StoreSpec, timeoutMs: number): Promise<StoreView> {
  const view: StoreView = {
    type: spec.type,
    where: spec.type === "file" ? spec.dir : spec.endpoints.join(","),
  };
  let store: LeaseStore | undefined;
  try {
    store = await open(spec, timeoutMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      view.leases = (await Promise.race([store.list(), timeout])).leases;
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    view.error = e instanceof Deno.errors.NotFound
      ? `${view.where}: no such datastore directory`
      : (e as Error).message;
  } finally {
    await store?.close().catch(() => {});
  }
  return view;
}
