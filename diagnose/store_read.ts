/**
 * Reads the leases from the datastore for a diagnosis, read-only and bounded in time, through
 * the datastore table (store/registry.ts, `readOnly`: a file store is opened only when its
 * directory exists); any failure becomes the StoreView's `error` so the lease checks say so and
 * the rest still run.
 *
 * @module
 */
import { datastoreDefinition } from "../store/registry.ts";
import type { LeaseStore } from "../store/types.ts";
import type { StoreView } from "./context.ts";

/**
 * Where the leases are: a datastore `type` from the table and its fields, as the daemon config's
 * `datastore` section holds them (file: `dir`; etcd: `endpoints`, `prefix`).
 */
export interface StoreSpec {
  type: string;
  [field: string]: unknown;
}

function open(
  spec: StoreSpec,
  timeoutMs: number,
  onWarning: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<LeaseStore> {
  const def = datastoreDefinition(spec.type);
  if (!def) throw new Error(`unknown datastore type ${JSON.stringify(spec.type)}`);
  return def.open(spec, { readOnly: true, timeoutMs, onWarning });
}

/** Lists the live leases; never throws. */
export async function readStore(spec: StoreSpec, timeoutMs: number): Promise<StoreView> {
  const view: StoreView = {
    type: spec.type,
    where: datastoreDefinition(spec.type)?.where(spec) ?? spec.type,
  };
  let store: LeaseStore | undefined;
  // The records the store skips (undecodable, a key and value that disagree): the daemons skip
  // them too, so their nodes get no route.
  const bad: string[] = [];
  const onWarning = (msg: string, fields?: Record<string, unknown>) => {
    if (bad.length < 20) {
      const where = fields?.key ?? fields?.node ?? fields?.file ?? fields?.subnet;
      bad.push(
        `${msg}${where !== undefined ? ` ${String(where)}` : ""}${
          fields?.error !== undefined ? `: ${String(fields.error)}` : ""
        }`,
      );
    }
  };
  try {
    store = await open(spec, timeoutMs, onWarning);
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
  if (bad.length) view.skipped = bad;
  return view;
}
