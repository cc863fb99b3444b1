/**
 * A small Prometheus registry: counters, gauges and histograms rendered in the text exposition
 * format (version 0.0.4), what `/metrics` serves.
 *
 * @module
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

interface Metric {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

/** A monotonically increasing count (per label set). */
export class Counter implements Metric {
  readonly type = "counter";
  #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  /** Adds `n` (default 1). */
  inc(labels?: Labels, n = 1): void {
    if (n < 0) throw new RangeError(`Counter ${this.name} cannot decrease`);
    const k = labelKey(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + n);
  }
  /** Current value for a label set. */
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
  }
}

/** A value that goes up and down. */
export class Gauge implements Metric {
  readonly type = "gauge";
  #values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  /** Sets the value for a label set. */
  set(v: number, labels?: Labels): void {
    this.#values.set(labelKey(labels), v);
  }
  /** Current value for a label set. */
  get(labels?: Labels): number {
    return this.#values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    if (this.#values.size === 0) return [`${this.name} 0`];
    return [...this.#values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${fmt(v)}`);
  }
}

/** Observations counted into cumulative buckets, with sum and count. */
export class Histogram implements Metric {
  readonly type = "histogram";
  #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.#counts = buckets.map(() => 0);
  }
  /** Records one observation. */
  observe(v: number): void {
    this.#sum += v;
    this.#count++;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.#counts[i]!++;
    });
  }
  /** Number of observations. */
  get count(): number {
    return this.#count;
  }
  render(): string[] {
    const out = this.buckets.map((b, i) =>
      `${this.name}_bucket{le="${fmt(b)}"} ${this.#counts[i]}`
    );
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    out.push(`${this.name}_sum ${fmt(this.#sum)}`, `${this.name}_count ${this.#count}`);
    return out;
  }
}

/** A metric rendered from someone else's values (Registry.source()). */
export interface ExternalMetric {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: { labels?: Labels; value: number }[];
}

/** A set of metrics rendered together. */
export class Registry {
  #metrics: Metric[] = [];
  /** Registers a counter. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help));
  }
  /** Registers a gauge. */
  gauge(name: string, help: string): Gauge {
    return this.#add(new Gauge(name, help));
  }
  /** Registers a histogram with upper bounds `buckets` (ascending). */
  histogram(name: string, help: string, buckets: number[]): Histogram {
    return this.#add(new Histogram(name, help, buckets));
  }
  #add<M extends Metric>(m: M): M {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name)) {
      throw new TypeError(`Bad metric name ${m.name}`);
    }
    if (this.#metrics.some((x) => x.name === m.name)) {
      throw new TypeError(`Metric ${m.name} registered twice`);
    }
    this.#metrics.push(m);
    return m;
  }
  #sources: (() => ExternalMetric[])[] = [];
  /** Adds metrics produced elsewhere (a backend's own counters), read at every render. */
  source(fn: () => ExternalMetric[]): void {
    this.#sources.push(fn);
  }
  #collectors: (() => void)[] = [];
  /** Runs `fn` before every render (to refresh gauges such as memory). */
  onCollect(fn: () => void): void {
    this.#collectors.push(fn);
  }
  /** The text exposition format. */
  render(): string {
    for (const c of this.#collectors) c();
    const lines: string[] = [];
    for (const m of this.#metrics) {
      lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${m.name} ${m.type}`);
      lines.push(...m.render());
    }
    for (const m of this.#sources.flatMap((f) => f())) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name)) continue;
      lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      lines.push(`# TYPE ${m.name} ${m.type}`);
      for (const s of m.samples) {
        const k = labelKey(s.labels);
        lines.push(`${m.name}${k ? `{${k}}` : ""} ${fmt(s.value)}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}

/** The daemon's metrics. */
export interface DaemonMetrics {
  registry: Registry;
  leases: Gauge;
  routes: Gauge;
  skipped: Gauge;
  reconcileTotal: Counter;
  reconcileErrors: Counter;
  reconcileDuration: Histogram;
  lastReconcile: Gauge;
  drift: Gauge;
  driftRepaired: Counter;
  datastoreErrors: Counter;
  datastoreRelists: Counter;
  renewals: Counter;
  leaseExpiry: Gauge;
  ready: Gauge;
  info: Gauge;
  rss: Gauge;
  heapUsed: Gauge;
  leasesInvalid: Counter;
  datastoreUp: Gauge;
}

/** The metrics of the reconcile loop: what it programmed, how often, how long, what drifted. */
type ReconcileMetrics = Pick<
  DaemonMetrics,
  | "leases"
  | "routes"
  | "skipped"
  | "reconcileTotal"
  | "reconcileErrors"
  | "reconcileDuration"
  | "lastReconcile"
  | "drift"
  | "driftRepaired"
>;

/** Registers the reconcile loop's metrics on `r`. */
function reconcileMetrics(r: Registry): ReconcileMetrics {
  return {
    leases: r.gauge("skein_leases", "Live node leases in the datastore, this node's included."),
    routes: r.gauge(
      "skein_routes_programmed",
      "Routes to other nodes' pod subnets the kernel holds as planned, counted in the last " +
        "reconcile's kernel snapshot (plus the ones it added).",
    ),
    skipped: r.gauge(
      "skein_leases_skipped",
      "Leases the last reconcile could not program (see the log for why).",
    ),
    reconcileTotal: r.counter(
      "skein_reconcile_total",
      "Reconcile runs, by trigger (kernel: a kernel notification, file: a lease file changed, " +
        "event: a datastore change, list: a datastore (re-)list, lease: this node's lease " +
        "changed, grace: an expired lease's grace period ended, timer: the periodic safety net; " +
        "backend or datastore when one asked).",
    ),
    reconcileErrors: r.counter(
      "skein_reconcile_errors_total",
      "Failed changes in reconcile runs, by kind of object (route, neigh, fdb, addr, device, " +
        "sysctl, lease_file; other: the kernel state could not be read, or the run failed).",
    ),
    reconcileDuration: r.histogram(
      "skein_reconcile_duration_seconds",
      "Time one reconcile run took (setup, lease files, snapshot, plan, apply).",
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    lastReconcile: r.gauge(
      "skein_last_reconcile_timestamp_seconds",
      "When the last reconcile run ended (Unix time).",
    ),
    drift: r.gauge(
      "skein_kernel_drift_objects",
      "Objects that differ from the plan after the last reconcile, by kind: what its kernel " +
        "snapshot found different and it could not change.",
    ),
    driftRepaired: r.counter(
      "skein_kernel_drift_repaired_total",
      "Objects reconcile runs found different from the plan and changed, by kind.",
    ),
  };
}

/** Registers the datastore's, the lease's and the process's metrics on `r`. */
function nodeMetrics(
  r: Registry,
): Omit<DaemonMetrics, keyof ReconcileMetrics | "registry"> {
  return {
    datastoreErrors: r.counter(
      "skein_datastore_errors_total",
      "Failed datastore operations, by operation.",
    ),
    datastoreRelists: r.counter(
      "skein_datastore_relists_total",
      "Full datastore lists after the first (a watch error, end or gap; a store's resync).",
    ),
    renewals: r.counter("skein_lease_renewals_total", "Successful lease renewals."),
    leaseExpiry: r.gauge(
      "skein_lease_expiry_timestamp_seconds",
      "When this node's lease runs out unless renewed.",
    ),
    ready: r.gauge("skein_ready", "1 when /readyz answers 200."),
    info: r.gauge(
      "skein_info",
      "1, labelled with the backend and datastore in use (names from their registries).",
    ),
    rss: r.gauge("process_resident_memory_bytes", "Resident memory of the daemon process."),
    heapUsed: r.gauge("skein_heap_used_bytes", "JavaScript heap in use."),
    leasesInvalid: r.counter(
      "skein_leases_invalid_total",
      "Datastore records skipped as invalid, each counted when first seen, by reason " +
        "(undecodable, outside-network, public-ip-in-network, claims-own-subnet).",
    ),
    datastoreUp: r.gauge(
      "skein_datastore_up",
      "1 when the last datastore probe or renewal succeeded, 0 during an outage.",
    ),
  };
}

/** Creates the registry with every metric the daemon exports. */
export function createDaemonMetrics(): DaemonMetrics {
  const r = new Registry();
  // Registration order is the order of /metrics: the reconcile loop's first.
  const m: DaemonMetrics = { registry: r, ...reconcileMetrics(r), ...nodeMetrics(r) };
  r.onCollect(() => {
    const mem = Deno.memoryUsage();
    m.rss.set(mem.rss);
    m.heapUsed.set(mem.heapUsed);
  });
  return m;
}
