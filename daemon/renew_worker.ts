/**
 * The renewal worker's entry point (see renewer.ts): opens the datastore through the datastore
 * table, renews the lease the daemon last handed over on its own timer, and posts a RenewResult
 * after each attempt. Started by workerRenewer(); not imported by anything else.
 *
 * @module
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { datastoreDefinition } from "../store/registry.ts";
import { LeaseLostError } from "../store/errors.ts";
import type { Lease, LeaseStore } from "../store/types.ts";
import type { RenewCommand, RenewResult } from "./renewer.ts";

let store: LeaseStore | undefined;
let opening: Promise<void> | undefined;
let ttl = 86400;
let backoff = { minMs: 500, maxMs: 30_000 };
let want: Lease | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let busy = false;
let failWait = 0;
/** A "renew now" arrived during an attempt: run the next one at once. */
let soon = false;

function post(r: RenewResult | { type: "closed" }): void {
  self.postMessage(r);
}

/** Warning fields as plain values (errors as their message), so postMessage can copy them. */
function cloneable(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  return Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]),
  );
}

function schedule(ms: number): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = setTimeout(() => void tick(), ms);
}

async function tick(): Promise<void> {
  timer = undefined;
  if (busy || !want) return;
  busy = true;
  const period = (ttl * 1000) / 3;
  let next = period;
  try {
    await opening;
    if (!store) return;
    const asked = want;
    const renewed = await store.renew(asked, ttl);
    if (want === asked) want = { ...asked, expiration: renewed.expiration };
    failWait = 0;
    post({ type: "renewed", lease: renewed });
  } catch (e) {
    const message = (e as Error)?.message ?? String(e);
    if (e instanceof LeaseLostError) {
      want = undefined; // the daemon acquires again and hands over the new lease
      post({ type: "lost", message });
      return;
    }
    // Keep trying well before the lease runs out.
    failWait = Math.min(
      Math.max(backoff.minMs, failWait * 2),
      backoff.maxMs,
      (ttl * 1000) / 6,
    );
    next = failWait;
    post({ type: "error", message });
  } finally {
    busy = false;
    if (want && timer === undefined) schedule(soon ? 0 : next);
    soon = false;
  }
}

self.onmessage = (ev: MessageEvent<RenewCommand>) => {
  const c = ev.data;
  switch (c.type) {
    case "start": {
      ttl = c.datastore.ttl;
      backoff = c.backoff;
      const { type, ...settings } = c.datastore;
      const def = datastoreDefinition(type);
      if (!def) {
        post({ type: "failed", message: `no datastore of type ${JSON.stringify(type)}` });
        break;
      }
      const onWarning = (message: string, fields?: Record<string, unknown>) =>
        post({ type: "warning", message, fields: cloneable(fields) });
      opening = def.open(settings, { ttl, onWarning }).then(
        (s) => void (store = s),
        (e) => post({ type: "failed", message: (e as Error)?.message ?? String(e) }),
      );
      break;
    }
    case "renew":
      want = c.lease;
      if (!busy) schedule(c.now ? 0 : (ttl * 1000) / 3);
      else if (c.now) soon = true;
      break;
    case "pause":
      want = undefined;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      break;
    case "close":
      want = undefined;
      if (timer !== undefined) clearTimeout(timer);
      (store?.close() ?? Promise.resolve()).catch(() => {}).finally(() => post({ type: "closed" }));
      break;
  }
};
