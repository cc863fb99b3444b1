import { assert, assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { FileStore } from "../store/file.ts";
import type { Lease, LeaseStore, Revision, WatchItem } from "../store/types.ts";
import { buildConfig, type DaemonConfig } from "./config.ts";
import { type KernelEventSource, type MasqueradeRequest, NodeDaemon } from "./daemon.ts";
import { readyzAnswer } from "./http.ts";
import type { LeaseRenewer, RenewResult } from "./renewer.ts";
import type { KernelEvent } from "../net/monitor.ts";
import { createLogger } from "./log.ts";
import type { LifecycleHost } from "../component/lifecycle.ts";
import { FakeBackend, nodeHandle } from "../testing/fake_daemon_deps.ts";

async function waitFor(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Rig {
  dir: string;
  cfg: DaemonConfig;
  logs: string[];
  backends: FakeBackend[];
  masq: MasqueradeRequest[];
  start(
    opts?: {
      store?: LeaseStore;
      name?: string;
      openMonitor?: () => KernelEventSource;
      reconcileInterval?: number;
      watchLeaseFiles?: boolean;
      probeNode?: (ip: string) => Promise<boolean>;
      openRenewer?: () => LeaseRenewer;
    },
  ): { daemon: NodeDaemon; stop: () => Promise<void>; done: Promise<void> };
}

async function withRig(fn: (r: Rig) => Promise<void>, yaml = ""): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "skein-daemon-" });
  const logs: string[] = [];
  const backends: FakeBackend[] = [];
  const masq: MasqueradeRequest[] = [];
  const cfg = buildConfig(
    `name: n1
network: 10.244.0.0/16
backend: {type: vxlan}
datastore: {type: file, dir: ${dir}/store, ttl: 3}
iface: eth0
leaseFile: ${dir}/run/subnet.json
subnetEnv: ${dir}/run/subnet.env
stateDir: ${dir}/state
reconcileInterval: 1
ipMasq: true
${yaml}`,
  );
  const running: Promise<void>[] = [];
  const aborts: AbortController[] = [];
  const rig: Rig = {
    dir,
    cfg,
    logs,
    backends,
    masq,
    start(opts = {}) {
      const ac = new AbortController();
      aborts.push(ac);
      const store = opts.store ?? new FileStore({ dir: `${dir}/store`, pollIntervalMs: 20 });
      const daemon = new NodeDaemon({
        config: {
          ...cfg,
          name: opts.name ?? cfg.name,
          reconcileInterval: opts.reconcileInterval ?? cfg.reconcileInterval,
        },
        ...(opts.openMonitor ? { openMonitor: opts.openMonitor } : {}),
        watchLeaseFiles: opts.watchLeaseFiles ?? true,
        ...(opts.probeNode ? { probeNode: opts.probeNode } : {}),
        ...(opts.openRenewer ? { openRenewer: opts.openRenewer } : {}),
        store,
        openHandle: () => nodeHandle(),
        createBackend: (o) => {
          const b = new FakeBackend(o);
          backends.push(b);
          return b;
        },
        ensureMasquerade: (o) => masq.push(o),
        log: createLogger("debug", (l) => logs.push(l)),
        backoff: { minMs: 20, maxMs: 100 },
        debounceMs: 5,
      });
      const done = daemon.run(ac.signal);
      running.push(done.catch(() => {}));
      return { daemon, done, stop: () => (ac.abort(), done) };
    },
  };
  try {
    await fn(rig);
  } finally {
    for (const ac of aborts) ac.abort(); // a failed assertion must not leave a daemon running
    await Promise.all(running);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("NodeDaemon: leases a subnet, writes both files, becomes ready, follows other leases", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start();
    await waitFor(
      "ready",
      () => daemon.readiness().routesProgrammed && daemon.readiness().leaseFileWritten,
    );
    assertEquals(daemon.lease?.subnet, "10.244.1.0/24");
    assertEquals(JSON.parse(await Deno.readTextFile(rig.cfg.leaseFile)), {
      node: "n1",
      network: "10.244.0.0/16",
      subnet: "10.244.1.0/24",
      mtu: 1450,
      ipMasq: true,
      backend: "vxlan",
      cniSocket: rig.cfg.cniSocket,
    });
    assertEquals(
      await Deno.readTextFile(rig.cfg.subnetEnv),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    assertEquals(rig.masq, [{
      clusterNetworks: ["10.244.0.0/16"],
      podSubnets: ["10.244.1.0/24"],
      enabled: true,
    }]);
    const b = rig.backends[0]!;
    assertEquals(b.opts.uplink, { name: "eth0", index: 2, mtu: 1500 });
    assertEquals(b.opts.publicIP, "192.168.1.10");
    // The published lease carries the backend data.
    const other = new FileStore({ dir: `${rig.dir}/store` });
    assertEquals((await other.list()).leases[0]?.backendData, { VtepMAC: "0a:00:00:00:00:01" });

    const l2 = await other.acquire({
      node: "n2",
      publicIP: "192.168.1.11",
      backendType: "vxlan",
      ttlSeconds: 60,
    });
    await waitFor("n2 programmed", () => b.last?.includes(l2.subnet) === true);
    await other.release(l2);
    await waitFor("n2 removed", () => b.last?.length === 0);
    assert(
      rig.logs.some((l) => l.includes(`msg="lease removed" subnet=${l2.subnet}`)),
      rig.logs.join("\n"),
    );
    const m = daemon.metrics.registry.render();
    assertStringIncludes(m, "skein_ready 1");
    await stop();
    // SIGTERM semantics: the lease stays in the store (flannel keeps it).
    assertEquals((await other.list()).leases.map((l) => l.node), ["n1"]);
    assertStringIncludes(rig.logs.at(-1)!, "dataplane left in place");
  });
});

Deno.test("NodeDaemon: a restarted daemon gets the same subnet; the timer reconciles and renews", async () => {
  await withRig(async (rig) => {
    const other = new FileStore({ dir: `${rig.dir}/store` });
    const first = rig.start();
    await waitFor("ready", () => first.daemon.readiness().routesProgrammed);
    const subnet = first.daemon.lease!.subnet;
    const exp1 = first.daemon.lease!.expiration;
    await new Promise((r) => setTimeout(r, 1300)); // ttl 3 s: renewed after 1 s; timer every 1 s
    assert(first.daemon.metrics.renewals.get() >= 1, "renewed");
    assert(first.daemon.lease!.expiration > exp1);
    assert(rig.backends[0]!.calls.length >= 2, "timer reconcile ran");
    assert(rig.backends[0]!.setups >= 2, "timer re-ran setup");
    await first.stop();
    // Someone else leases meanwhile; the restart still gets its own subnet back.
    await other.acquire({
      node: "n7",
      publicIP: "192.168.1.17",
      backendType: "vxlan",
      ttlSeconds: 60,
    });
    const second = rig.start();
    await waitFor("ready again", () => second.daemon.readiness().routesProgrammed);
    assertEquals(second.daemon.lease!.subnet, subnet);
    await second.stop();
  });
});

Deno.test("NodeDaemon: a lease deleted from the datastore is taken again", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start();
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const subnet = daemon.lease!.subnet;
    await Deno.remove(`${rig.dir}/store/subnets/${subnet.replace("/", "-")}.json`);
    await waitFor("re-acquired", () => rig.logs.some((l) => l.includes("lease acquired again")));
    assertEquals(daemon.lease!.subnet, subnet);
    await waitFor("record back", () => {
      try {
        Deno.statSync(`${rig.dir}/store/subnets/${subnet.replace("/", "-")}.json`);
        return true;
      } catch {
        return false;
      }
    });
    await stop();
  });
});

Deno.test("NodeDaemon: a datastore outage is retried with backoff and counted, the dataplane is kept", async () => {
  await withRig(async (rig) => {
    const real = new FileStore({ dir: `${rig.dir}/store`, pollIntervalMs: 20 });
    let failures = 3;
    const flaky: LeaseStore = {
      type: "file",
      getNetworkConfig: () => real.getNetworkConfig(),
      putNetworkConfigIfAbsent: (c) =>
        failures-- > 0
          ? Promise.reject(new Error("connection refused"))
          : real.putNetworkConfigIfAbsent(c),
      acquire: (r) => real.acquire(r),
      renew: (l, t) => real.renew(l, t),
      list: () => real.list(),
      watch: (r, s) => real.watch(r, s),
      release: (l) => real.release(l),
      close: () => real.close(),
    };
    const { daemon, stop } = rig.start({ store: flaky });
    assertEquals(daemon.readiness().leaseHeld, false);
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    assertEquals(daemon.metrics.datastoreErrors.get({ op: "config" }), 3);
    assertStringIncludes(
      daemon.metrics.registry.render(),
      'skein_datastore_errors_total{op="config"} 3',
    );
    assert(rig.logs.some((l) => l.includes("datastore error") && l.includes("connection refused")));
    await stop();
  });
});

Deno.test("NodeDaemon: reconcile errors keep /readyz at 503 with the reason", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start();
    await waitFor("backend", () => rig.backends.length === 1);
    rig.backends[0]!.fail = true;
    await waitFor("a reconcile", () => rig.backends[0]!.calls.length >= 1);
    const r = daemon.readiness();
    assertEquals([r.leaseHeld, r.routesProgrammed, r.leaseFileWritten], [true, false, true]);
    assertStringIncludes(r.detail ?? "", "ENETUNREACH");
    rig.backends[0]!.fail = false;
    await waitFor("healed by the timer", () => daemon.readiness().routesProgrammed, 3000);
    await stop();
  });
});

Deno.test("NodeDaemon: a deleted lease file is rewritten by the timer", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start();
    await waitFor("ready", () => daemon.readiness().leaseFileWritten);
    await Deno.remove(rig.cfg.leaseFile);
    await waitFor("rewritten", () => {
      try {
        return JSON.parse(Deno.readTextFileSync(rig.cfg.leaseFile)).subnet === "10.244.1.0/24";
      } catch {
        return false;
      }
    }, 3000);
    await stop();
  });
});

Deno.test("NodeDaemon: two daemons on one store get different subnets; releaseOnExit gives it back", async () => {
  await withRig(async (rig) => {
    const a = rig.start({ name: "a" });
    const b = rig.start({ name: "b" });
    await waitFor("both", () => a.daemon.lease !== undefined && b.daemon.lease !== undefined);
    assert(a.daemon.lease!.subnet !== b.daemon.lease!.subnet);
    await waitFor(
      "a sees b",
      () => rig.backends.some((x) => x.opts.node === "a" && x.last?.length === 1),
    );
    await a.stop();
    await b.stop();
  });
  await withRig(async (rig) => {
    const a = rig.start();
    await waitFor("lease", () => a.daemon.lease !== undefined);
    await a.stop();
    assertEquals((await new FileStore({ dir: `${rig.dir}/store` }).list()).leases, []);
  }, "releaseOnExit: true\n");
});

Deno.test("NodeDaemon: dual-stack config gives subnet6 in the lease and both files", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start();
    await waitFor("files", () => daemon.readiness().leaseFileWritten);
    assertEquals(daemon.lease?.subnet6, "fd00:10:244:1::/64");
    const f = JSON.parse(await Deno.readTextFile(rig.cfg.leaseFile));
    assertEquals([f.network6, f.subnet6], ["fd00:10:244::/56", "fd00:10:244:1::/64"]);
    assertStringIncludes(
      await Deno.readTextFile(rig.cfg.subnetEnv),
      "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\n",
    );
    assertEquals(rig.masq.at(-1)?.clusterNetworks, ["10.244.0.0/16", "fd00:10:244::/56"]);
    assertEquals(rig.backends[0]!.opts.publicIP6, "fd00::10");
    assertEquals(daemon.lease?.publicIP6, "fd00::10");
    await stop();
  }, "network6: fd00:10:244::/56\npublicIP6: fd00::10\n");
});

Deno.test("NodeDaemon: 5,000 lease events in one burst make O(1) reconciles; a later event is not lost", async () => {
  await withRig(async (rig) => {
    const real = new FileStore({ dir: `${rig.dir}/store`, pollIntervalMs: 20 });
    const lease = (i: number): Lease => ({
      subnet: `10.244.${(i * 8) >> 8}.${(i * 8) & 255}/29`,
      publicIP: `192.168.${i >> 8}.${i & 255}`,
      node: `burst${i}`,
      backendType: "vxlan",
      backendData: {},
      expiration: new Date(Date.now() + 60_000).toISOString(),
    });
    let go!: () => void;
    const started = new Promise<void>((r) => (go = r));
    let later!: () => void;
    const sendLater = new Promise<void>((r) => (later = r));
    const store: LeaseStore = {
      type: "file",
      getNetworkConfig: () => real.getNetworkConfig(),
      putNetworkConfigIfAbsent: (c) => real.putNetworkConfigIfAbsent(c),
      acquire: (r) => real.acquire(r),
      renew: (l, t) => real.renew(l, t),
      list: () => real.list(),
      async *watch(rev: Revision, signal: AbortSignal): AsyncIterable<WatchItem> {
        await started;
        for (let i = 2; i < 5002; i++) {
          yield { events: [{ type: "added", lease: lease(i) }], revision: rev };
        }
        await sendLater;
        yield { events: [{ type: "removed", lease: lease(2) }], revision: rev };
        yield* real.watch(rev, signal);
      },
      release: (l) => real.release(l),
      close: () => real.close(),
    };
    const { daemon, stop } = rig.start({ store });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const b = rig.backends[0]!;
    const before = b.calls.length;
    go();
    await waitFor("5,000 leases programmed", () => b.last?.length === 5000);
    // The burst's reconciles: one (or two if the 1 s timer ran in between), never thousands.
    const burst = b.calls.length - before;
    assert(burst <= 2, `${burst} reconciles for one burst`);
    later();
    await waitFor("the removal programmed", () => b.last?.length === 4999);
    assert(!b.last!.includes("10.244.0.16/29"));
    assert(b.calls.length - before <= 4, `${b.calls.length - before} reconciles in all`);
    await stop();
  }, "subnetLen: 29\n");
});

/** A kernel event source the test pushes batches into. */
class FakeMonitor implements KernelEventSource {
  #queue: KernelEvent[][] = [];
  #wake?: () => void;
  closed = false;
  push(...evs: KernelEvent[]): void {
    this.#queue.push(evs);
    this.#wake?.();
  }
  close(): void {
    this.closed = true;
    this.#wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<KernelEvent[]> {
    while (!this.closed) {
      const b = this.#queue.shift();
      if (b) {
        yield b;
        continue;
      }
      await new Promise<void>((r) => this.#wake = r);
    }
  }
}

Deno.test("NodeDaemon: a kernel change to what skein owns runs the full plan at once; others are ignored", async () => {
  await withRig(async (rig) => {
    const mon = new FakeMonitor();
    const { daemon, stop } = rig.start({
      openMonitor: () => mon,
      reconcileInterval: 3600,
      watchLeaseFiles: false, // the lease file below must be rewritten by the kernel-triggered run
    });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const b = rig.backends[0]!;
    const kernelRuns = () => daemon.metrics.reconcileTotal.get({ trigger: "kernel" });
    // A pod's veth appearing is not the daemon's business.
    mon.push({
      kind: "link",
      op: "new",
      link: { index: 40, name: "veth0", mtu: 1500, flags: 0, up: true, operState: "up" },
    });
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(kernelRuns(), 0);
    // One of skein's routes deleted: setup, lease files and reconcile run without the timer.
    const setups = b.setups;
    await Deno.remove(rig.cfg.leaseFile);
    mon.push({
      kind: "route",
      op: "del",
      route: {
        family: 4,
        dst: "10.244.9.0/24",
        gateway: "10.244.9.0",
        oif: 7,
        table: 254,
        protocol: 100,
        scope: "universe",
        type: "unicast",
        onlink: true,
      },
    });
    await waitFor("kernel-triggered reconcile", () => kernelRuns() >= 1);
    assert(b.setups > setups, "setup ran again (device, ip_forward)");
    assertEquals(
      JSON.parse(await Deno.readTextFile(rig.cfg.leaseFile)).subnet,
      daemon.lease!.subnet,
    );
    await stop();
    assert(mon.closed, "the monitor is closed on stop");
  });
});

Deno.test("NodeDaemon: a removed lease file is rewritten at once (file watch), not on the timer", async () => {
  await withRig(async (rig) => {
    const { daemon, stop } = rig.start({ reconcileInterval: 3600 });
    await waitFor("ready", () => daemon.readiness().leaseFileWritten);
    await Deno.remove(rig.cfg.subnetEnv);
    await waitFor("subnet.env back", () => {
      try {
        return Deno.readTextFileSync(rig.cfg.subnetEnv).includes("FLANNEL_SUBNET");
      } catch {
        return false;
      }
    });
    assert(daemon.metrics.reconcileTotal.get({ trigger: "file" }) >= 1);
    assertEquals(daemon.metrics.reconcileTotal.get({ trigger: "timer" }), 0);
    await stop();
  });
});

Deno.test("NodeDaemon: a FIFO planted as the lease file is replaced, never read (it would block)", async () => {
  await withRig(async (rig) => {
    // The timer finds it (the file watch's part is tests/daemon_fifo_watch_test.ts).
    const { daemon, stop } = rig.start({ reconcileInterval: 1, watchLeaseFiles: false });
    await waitFor("ready", () => daemon.readiness().leaseFileWritten);
    // Before: the synchronous read of the lease file waited for a writer, blocking the daemon.
    const fifo = `${rig.dir}/subnet.json.fifo`;
    const r = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
    assert(r.success, "mkfifo");
    Deno.renameSync(fifo, rig.cfg.leaseFile);
    await waitFor("subnet.json a regular file again", () => {
      try {
        return Deno.lstatSync(rig.cfg.leaseFile).isFile &&
          Deno.readTextFileSync(rig.cfg.leaseFile).includes("subnet");
      } catch {
        return false;
      }
    });
    await stop();
  });
});

Deno.test("NodeDaemon: a backend's requestReconcile() runs a reconcile; the backend is closed on stop", async () => {
  await withRig(async (rig) => {
    // No timer and no lease-file watch: the backend's requests are the only triggers left.
    const { daemon, stop } = rig.start({ reconcileInterval: 3600, watchLeaseFiles: false });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const b = rig.backends[0]!;
    assert(b.host !== undefined, "start() was called with the daemon's host");
    assertEquals(daemon.metrics.info.get({ backend: "vxlan", datastore: "file" }), 1);
    const runs = () => daemon.metrics.reconcileTotal.get({ trigger: "backend" });
    const calls = b.calls.length;
    b.host!.requestReconcile("peer 192.168.1.12 up");
    b.host!.requestReconcile("peer 192.168.1.13 up"); // coalesced with the first
    await waitFor("backend-triggered reconcile", () => runs() >= 1);
    await new Promise((r) => setTimeout(r, 30));
    assertEquals([runs(), b.calls.length], [1, calls + 1]);
    assert(rig.logs.some((l) => l.includes("reconcile requested") && l.includes("peer")));
    assert(!b.closed);
    await stop();
    assert(b.closed, "close() ran when the daemon stopped");
    assert(b.host!.signal.aborted, "the host's signal is aborted on stop");
  });
});

Deno.test("NodeDaemon: a datastore's start() gets a host whose requests reconcile", async () => {
  await withRig(async (rig) => {
    let host: LifecycleHost | undefined;
    class StartedStore extends FileStore {
      start(h: LifecycleHost): Promise<void> {
        host = h;
        return Promise.resolve();
      }
    }
    const store = new StartedStore({ dir: `${rig.dir}/store`, pollIntervalMs: 20 });
    const { daemon } = rig.start({ store, reconcileInterval: 3600, watchLeaseFiles: false });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    host!.requestReconcile("reconnected");
    await waitFor(
      "datastore-triggered reconcile",
      () => daemon.metrics.reconcileTotal.get({ trigger: "datastore" }) === 1,
    );
  });
});

Deno.test("NodeDaemon: /readyz turns not ready when the kernel keeps differing from the plan past the grace period", async () => {
  await withRig(async (rig) => {
    const mon = new FakeMonitor();
    const { daemon, stop } = rig.start({ openMonitor: () => mon, reconcileInterval: 3600 });
    await waitFor("ready", () => readyzAnswer(daemon.readiness()).status === 200);
    const b = rig.backends[0]!;
    // A route the kernel refuses to take back: found and left.
    b.drift = { route: 1 };
    b.driftLeft = { route: 1 };
    b.fail = true;
    const kick = () => mon.push({ kind: "lost", reason: "test" });
    kick();
    await waitFor("drift seen", () => daemon.metrics.drift.get({ kind: "route" }) === 1);
    // driftGrace is 1 s in this rig: still ready right after.
    assertEquals(daemon.readiness().kernelMatchesPlan, true);
    await waitFor("not ready after the grace period", () => {
      kick();
      return daemon.readiness().kernelMatchesPlan === false;
    });
    const a = readyzAnswer(daemon.readiness());
    assertEquals(a.status, 503);
    assertStringIncludes(
      a.body,
      "the kernel differs from the plan: 1 route differ from the plan for",
    );
    assertStringIncludes(
      daemon.metrics.registry.render(),
      'skein_reconcile_errors_total{kind="route"}',
    );
    // Repaired: ready again at once.
    b.driftLeft = {};
    b.fail = false;
    kick();
    await waitFor("ready again", () => readyzAnswer(daemon.readiness()).status === 200);
    assertEquals(daemon.metrics.drift.get({ kind: "route" }), 0);
    assert(daemon.metrics.driftRepaired.get({ kind: "route" }) >= 1);
    assert(daemon.metrics.lastReconcile.get() > Date.now() / 1000 - 60);
    await stop();
  }, "driftGrace: 1\n");
});

Deno.test("NodeDaemon: no reconcile before the first list; a lease a broken watch missed comes in by a re-list and counts for /readyz", async () => {
  await withRig(async (rig) => {
    const real = new FileStore({ dir: `${rig.dir}/store`, pollIntervalMs: 20 });
    let openList!: () => void;
    const listGate = new Promise<void>((r) => (openList = r));
    let watches = 0;
    const store: LeaseStore = {
      type: "file",
      getNetworkConfig: () => real.getNetworkConfig(),
      putNetworkConfigIfAbsent: (c) => real.putNetworkConfigIfAbsent(c),
      acquire: (r) => real.acquire(r),
      renew: (l, t) => real.renew(l, t),
      list: async () => (await listGate, real.list()),
      async *watch(rev: Revision, signal: AbortSignal): AsyncIterable<WatchItem> {
        if (watches++ === 0) {
          // The first watch breaks after a lease was written that it never delivers.
          await real.acquire({
            node: "n2",
            publicIP: "192.168.1.11",
            backendType: "vxlan",
            ttlSeconds: 60,
          });
          throw new Error("watch stream reset");
        }
        yield* real.watch(rev, signal);
      },
      release: (l) => real.release(l),
      close: () => real.close(),
    };
    const { daemon, stop } = rig.start({ store, reconcileInterval: 0.05 });
    await waitFor("lease", () => daemon.lease !== undefined);
    await new Promise((r) => setTimeout(r, 200)); // the 50 ms timer fired several times
    assertEquals(rig.backends[0]!.calls, [], "reconciled before the datastore was listed");
    assertEquals(daemon.readiness().routesProgrammed, false);
    openList();
    await waitFor("n2 programmed", () => rig.backends[0]!.last?.includes("10.244.2.0/24") ?? false);
    assertEquals(watches, 2);
    assertEquals([...daemon.readiness().programmed ?? []].sort(), [
      "10.244.1.0/24",
      "10.244.2.0/24",
    ]);
    assert(rig.logs.some((l) => l.includes("watch stream reset")));
    assertEquals(daemon.metrics.datastoreRelists.get(), 1);
    await stop();
  });
});

Deno.test("NodeDaemon: another node's expired lease stays programmed while its node answers; a released one goes at once", async () => {
  await withRig(async (rig) => {
    let answers = true;
    const probed: string[] = [];
    const { daemon, stop } = rig.start({
      probeNode: (ip) => {
        probed.push(ip);
        return Promise.resolve(answers);
      },
    });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const b = rig.backends[0]!;
    const other = new FileStore({ dir: `${rig.dir}/store` });
    const hung = await other.acquire({
      node: "n2",
      publicIP: "192.168.1.12",
      backendType: "vxlan",
      ttlSeconds: 1, // its daemon "hangs": no renewal
    });
    const gone = await other.acquire({
      node: "n3",
      publicIP: "192.168.1.13",
      backendType: "vxlan",
      ttlSeconds: 60,
    });
    await waitFor("both programmed", () => b.last?.length === 2);
    await other.release(gone); // released: no grace
    await waitFor("n3 removed", () => b.last?.join() === hung.subnet);
    await waitFor("n2 expired and probed", () => probed.includes("192.168.1.12"));
    assert(rig.logs.some((l) => l.includes("lease removed") && l.includes("routes kept")));
    assertEquals(b.last, [hung.subnet], "n2 still programmed: its node answers");
    assert(!probed.includes("192.168.1.13"), "a released lease is not probed");
    answers = false; // the node is gone now
    await waitFor("n2 removed", () => b.last?.length === 0);
    assert(
      rig.logs.some((l) => l.includes("expired lease let go") && l.includes("does not answer")),
    );
    await stop();
  }, "leaseGrace: 60\n");
});

/** A renewer the test answers for (what the worker would post). */
class FakeRenewer implements LeaseRenewer {
  asked: { subnet: string; now: boolean }[] = [];
  closed = false;
  #queue: RenewResult[] = [];
  #wake?: () => void;
  renew(lease: Lease, now = false): void {
    this.asked.push({ subnet: lease.subnet, now });
  }
  pause(): void {}
  push(r: RenewResult): void {
    this.#queue.push(r);
    this.#wake?.();
  }
  async *results(): AsyncGenerator<RenewResult> {
    while (!this.closed) {
      const r = this.#queue.shift();
      if (r) {
        yield r;
        continue;
      }
      await new Promise<void>((res) => (this.#wake = res));
    }
  }
  close(): Promise<void> {
    this.closed = true;
    this.#wake?.();
    return Promise.resolve();
  }
}

Deno.test("NodeDaemon: with a renewal worker, its results renew the lease; a lost lease is acquired again and handed back", async () => {
  await withRig(async (rig) => {
    const r = new FakeRenewer();
    const { daemon, stop } = rig.start({ openRenewer: () => r });
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const lease = daemon.lease!;
    assertEquals(r.asked[0], { subnet: lease.subnet, now: false });
    const later = new Date(Date.now() + 600_000).toISOString();
    r.push({ type: "renewed", lease: { ...lease, expiration: later } });
    await waitFor("renewal applied", () => daemon.lease?.expiration === later);
    assertEquals(daemon.metrics.renewals.get(), 1);
    // Gone from the store: the worker says so, the daemon acquires again and hands it back.
    await Deno.remove(`${rig.dir}/store/subnets/${lease.subnet.replace("/", "-")}.json`);
    const asked = r.asked.length;
    r.push({ type: "lost", message: "the record is gone" });
    await waitFor(
      "handed back",
      () => r.asked.length > asked && daemon.lease?.expiration !== later,
    );
    assertEquals(daemon.lease!.subnet, lease.subnet);
    assert(rig.logs.some((l) => l.includes("lease acquired again")));
    r.push({ type: "error", message: "connection refused" });
    await waitFor("counted", () => daemon.metrics.datastoreErrors.get({ op: "renew" }) === 1);
    await stop();
    assert(r.closed, "the renewer is closed on stop");
  });
});

Deno.test("NodeDaemon.reload: the backend takes its own settings live; other changed fields need a restart", async () => {
  await withRig(async (rig) => {
    const { daemon } = rig.start();
    await waitFor("ready", () => daemon.readiness().routesProgrammed);
    const b = rig.backends[0]! as FakeBackend & {
      reload?: (s: Readonly<Record<string, unknown>>) => string[];
    };
    const given: unknown[] = [];
    b.reload = (s) => {
      given.push(s);
      return ["port"];
    };
    const next: DaemonConfig = {
      ...rig.cfg,
      reconcileInterval: 7,
      backend: { ...rig.cfg.backend, vni: 7, mtu: 1400 },
    };
    assertEquals(daemon.reload(next), ["reconcileInterval", "backend.port", "backend.mtu"]);
    assertEquals(given, [{ vni: 7 }]);
    assertEquals(daemon.reload({ ...rig.cfg }), ["backend.port"], "nothing else differs");
    delete b.reload;
    assertEquals(daemon.reload(next), ["reconcileInterval", "backend"], "no live reload");
  });
});
