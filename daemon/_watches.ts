/**
 * The daemon's two watches that ask for reconciles: kernel notifications (rtnetlink, filtered by
 * _kernel_events.ts to what the plan depends on) and the lease files' directories (inotify).
 * Each runs until its signal aborts; a watch that cannot start or fails logs why and returns
 * (the timer still heals).
 *
 * @module
 */
import { type DirWatcher, watchDirs } from "../net/inotify.ts";
import type { KernelEvent } from "../net/monitor.ts";
import { kernelEventReason, type WatchedObjects } from "./_kernel_events.ts";
import type { Logger } from "./log.ts";

/** A source of kernel notification batches (net/monitor.ts's Monitor, or a test's). */
export interface KernelEventSource extends AsyncIterable<KernelEvent[]> {
  close(): void;
}

/** Options of watchKernel(). */
export interface KernelWatchOptions {
  open: () => KernelEventSource;
  /** What the plan depends on now (asked per batch: the uplink or device may change). */
  watched: () => WatchedObjects;
  /** A batch had events that matter, with their reasons ("route", "addr", "lost", ...). */
  onEvents: (reasons: ReadonlySet<string>) => void;
  log: Logger;
  signal: AbortSignal;
}

/** Reads kernel notifications until `signal` aborts; each batch that matters calls onEvents. */
export async function watchKernel(o: KernelWatchOptions): Promise<void> {
  if (o.signal.aborted) return;
  let mon: KernelEventSource;
  try {
    mon = o.open();
  } catch (e) {
    o.log.warn("cannot watch the kernel; drift heals on the timer only", { error: e });
    return;
  }
  const stop = () => mon.close();
  o.signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const batch of mon) {
      const w = o.watched();
      const reasons = new Set<string>();
      for (const ev of batch) {
        const why = kernelEventReason(ev, w);
        if (!why) continue;
        if (ev.kind === "lost") o.log.warn("kernel notifications lost", { why: ev.reason });
        reasons.add(why);
      }
      if (reasons.size) o.onEvents(reasons);
    }
  } catch (e) {
    if (!o.signal.aborted) {
      o.log.warn("the kernel monitor failed; drift heals on the timer only", { error: e });
    }
  } finally {
    o.signal.removeEventListener("abort", stop);
    mon.close();
  }
}

/**
 * Watches the directories of `files` (inotify: net/inotify.ts, which never opens what it reports,
 * so a FIFO planted there cannot wedge it) until `signal` aborts; a change to one of them (not a
 * read: the daemon's own check reads them), or a lost-events notice, calls onChange.
 */
export async function watchFiles(
  o: { files: string[]; onChange: () => void; log: Logger; signal: AbortSignal },
): Promise<void> {
  if (o.signal.aborted) return;
  const names = new Set(o.files.map((f) => f.slice(f.lastIndexOf("/") + 1)));
  const dirs = [
    ...new Set(o.files.map((f) => f.slice(0, Math.max(f.lastIndexOf("/"), 0)) || ".")),
  ];
  let w: DirWatcher;
  try {
    w = watchDirs(dirs);
  } catch (e) {
    o.log.warn("cannot watch the lease files; they are checked on the timer only", { error: e });
    return;
  }
  const stop = () => w.close();
  o.signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const ev of w) {
      if (ev.kind === "other") continue;
      // Overflow: events were lost, one of them may have been ours.
      if (ev.kind === "overflow") o.onChange();
      else if (ev.paths.some((p) => names.has(p.slice(p.lastIndexOf("/") + 1)))) o.onChange();
    }
    if (!o.signal.aborted) {
      o.log.warn("the lease files' directory is gone; they are checked on the timer only", {
        dirs,
      });
    }
  } catch (e) {
    if (!o.signal.aborted) o.log.warn("lease file watch ended", { error: e });
  } finally {
    o.signal.removeEventListener("abort", stop);
    w.close();
  }
}
