/**
 * Test helper process for tests/crash_full_disk_test.ts: run inside a private mount namespace
 * (`unshare -m --propagation private`), it mounts a small tmpfs on the directory given as its
 * argument (nothing on the host changes: the mount lives and dies with the namespace), fills it,
 * and checks that every writer of skein state fails with a clear error and leaves the state as it
 * was: the IPAM reservation store, the file lease store, the node lease files and the VTEP MAC.
 * Prints one line per check; exits 1 with the first failed check.
 *
 * Usage: `unshare -m --propagation private deno run -A tests/crash_disk_worker.ts DIR`
 *
 * @module
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { CniError } from "../cni/errors.ts";
import { ipamAdd, ipamDel, parseIpamConfig } from "../cni/ipam/mod.ts";
import { FileStore } from "../store/file.ts";
import { StoreError } from "../store/errors.ts";
import { leaseFileText, type NodeLeaseFile, writeLeaseFiles } from "../node/lease_file.ts";
import { resolveVtepMac } from "../backends/vtep_mac.ts";
import { lockNode, NodeLockedError } from "../daemon/node_lock.ts";

function run(cmd: string, ...args: string[]): void {
  const r = new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).outputSync();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  }
}

/** Every file under `dir` (relative path → content), so "changed nothing" is one comparison. */
function tree(dir: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of Deno.readDirSync(`${dir}${rel}`)) {
    const p = `${rel}/${e.name}`;
    if (e.isDirectory) Object.assign(out, tree(dir, p));
    else out[p] = Deno.readTextFileSync(`${dir}${p}`);
  }
  return out;
}

/** Fills the file system with one file until the kernel says ENOSPC. */
function fill(path: string): void {
  using f = Deno.openSync(path, { write: true, create: true });
  const chunk = new Uint8Array(4096);
  try {
    for (;;) f.writeSync(chunk);
  } catch (e) {
    if (!(e instanceof Error) || !/No space left/.test(e.message)) throw e;
  }
}

async function ipamChecks(root: string, filler: string): Promise<void> {
  const netconf = {
    cniVersion: "1.1.0",
    name: "full",
    type: "skein",
    ipam: {
      type: "skein",
      dataDir: `${root}/ipam`,
      ranges: [[{ subnet: "10.88.0.0/24" }], [{ subnet: "fd00:88::/120" }]],
    },
  };
  const config = await parseIpamConfig(netconf);
  await ipamAdd({ config, containerId: "live", ifName: "eth0", requestedIps: [] });
  const before = tree(`${root}/ipam`);
  fill(filler);
  for (let i = 0; i < 3; i++) {
    const e = await ipamAdd({ config, containerId: `c${i}`, ifName: "eth0", requestedIps: [] })
      .then(() => undefined, (e) => e);
    assert(e instanceof CniError && e.code === 5, `ADD on a full disk: ${e}`);
    assert(/No space left/.test(e.message), e.message);
  }
  // Before: each failed ADD left an empty .skein-tmp.* file (one inode per retry).
  assertEquals(tree(`${root}/ipam`), before, "three failed ADDs on a full disk changed nothing");
  console.log("ok: IPAM ADD on a full disk fails with code 5 and changes nothing");
  await ipamDel({ config, containerId: "live", ifName: "eth0" });
  Deno.removeSync(filler);
  const r = await ipamAdd({ config, containerId: "after", ifName: "eth0", requestedIps: [] });
  assertEquals(r.ips.length, 2);
  console.log("ok: IPAM DEL works on a full disk; ADD works again once there is room");
}

async function storeChecks(root: string, filler: string): Promise<void> {
  const dir = `${root}/store`;
  const s = new FileStore({ dir });
  await s.putNetworkConfigIfAbsent({
    network: "10.244.0.0/16",
    subnetLen: 24,
    backend: { type: "vxlan" },
  });
  const req = { node: "a", publicIP: "192.168.7.1", backendType: "vxlan", ttlSeconds: 600 };
  const a = await s.acquire(req);
  const before = tree(dir);
  fill(filler);
  for (
    const op of [
      () => s.renew(a, 600),
      () => s.acquire({ ...req, node: "b", publicIP: "192.168.7.2" }),
      () => s.acquire(req),
    ]
  ) {
    const e = await op().then(() => undefined, (e) => e);
    assert(e instanceof StoreError && /No space left/.test(e.message), `on a full disk: ${e}`);
  }
  assertEquals(tree(dir), before, "renew and acquire on a full disk changed nothing");
  assertEquals((await s.list()).leases.map((l) => l.subnet), [a.subnet]);
  console.log("ok: the file store's renew/acquire on a full disk fail clearly, change nothing");
  Deno.removeSync(filler);
  assertEquals((await s.renew(a, 600)).subnet, a.subnet);
  console.log("ok: the lease is renewed (same subnet) once there is room");
}

function fileChecks(root: string, filler: string): void {
  const lease: NodeLeaseFile = {
    node: "a",
    network: "10.244.0.0/16",
    subnet: "10.244.1.0/24",
    mtu: 1450,
    ipMasq: true,
    backend: "vxlan",
  };
  const paths = { leaseFile: `${root}/run/subnet.json`, subnetEnv: `${root}/run/subnet.env` };
  writeLeaseFiles(lease, paths);
  const before = tree(`${root}/run`);
  fill(filler);
  let err: unknown;
  try {
    writeLeaseFiles({ ...lease, subnet: "10.244.2.0/24" }, paths);
  } catch (e) {
    err = e;
  }
  assert(err instanceof Error && /No space left/.test(err.message), `lease files: ${err}`);
  assertEquals(tree(`${root}/run`), before, "the old lease files stay whole");
  assertEquals(Deno.readTextFileSync(paths.leaseFile), leaseFileText(lease));
  console.log("ok: lease files on a full disk: the old ones stay whole, no temporary file");
  Deno.removeSync(filler);
}

async function macChecks(root: string, filler: string): Promise<void> {
  fill(filler);
  // The node lock is taken on a full disk (its file is empty; the pid it records is a courtesy).
  const lock = await lockNode(`${root}/state/daemon.lock`);
  lock.release();
  // Persisting the VTEP MAC is a convenience (it is derived, or read from the device, anyway):
  // a full state directory must not stop the daemon.
  const mac = resolveVtepMac({ stateDir: `${root}/state`, device: "skein.1", seed: "a|x|1" });
  assert(/^[0-9a-f:]{17}$/.test(mac), mac);
  Deno.removeSync(filler);
  assertEquals(
    resolveVtepMac({ stateDir: `${root}/state`, device: "skein.1", seed: "a|x|1" }),
    mac,
    "the same MAC once it can be stored",
  );
  console.log(
    "ok: node lock and VTEP MAC on a full state directory; MAC stored once there is room",
  );
}

/** The same writers on a read-only file system: clear errors, the MAC still chosen. */
async function readOnlyChecks(root: string): Promise<void> {
  run("mount", "-o", "remount,ro", root);
  try {
    const before = tree(root);
    const netconf = {
      cniVersion: "1.1.0",
      name: "full",
      type: "skein",
      ipam: { type: "skein", dataDir: `${root}/ipam`, subnet: "10.88.0.0/24" },
    };
    const config = await parseIpamConfig(netconf);
    const e = await ipamAdd({ config, containerId: "ro", ifName: "eth0", requestedIps: [] })
      .then(() => undefined, (e) => e);
    assert(e instanceof CniError && e.code === 5 && /Read-only/.test(e.message), `ADD: ${e}`);
    const s = new FileStore({ dir: `${root}/store` });
    const [lease] = (await s.list()).leases;
    const r = await s.renew(lease!, 600).then(() => undefined, (e) => e);
    assert(r instanceof StoreError && /Read-only/.test(r.message), `renew: ${r}`);
    const mac = resolveVtepMac({ stateDir: `${root}/state2`, device: "skein.1", seed: "a|x|1" });
    assert(/^[0-9a-f:]{17}$/.test(mac), mac);
    const lock = await lockNode(`${root}/state3/daemon.lock`).then(() => undefined, (e) => e);
    assert(!(lock instanceof NodeLockedError) && lock instanceof Error, `node lock: ${lock}`);
    assertEquals(tree(root), before);
    console.log("ok: read-only: IPAM ADD code 5, renew StoreError, MAC still chosen");
  } finally {
    run("mount", "-o", "remount,rw", root);
  }
}

if (import.meta.main) {
  const root = Deno.args[0];
  if (!root) throw new Error("usage: crash_disk_worker.ts DIR (in a private mount namespace)");
  run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "skein-crash-disk", root);
  try {
    const filler = `${root}/filler`;
    await ipamChecks(root, filler);
    await storeChecks(root, filler);
    fileChecks(root, filler);
    await macChecks(root, filler);
    await readOnlyChecks(root);
  } finally {
    run("umount", root);
  }
}
