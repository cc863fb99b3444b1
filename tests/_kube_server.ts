/**
 * Test helper: a real kube-apiserver v1.20.2 (scripts/build-kube.sh) on loopback with Debian's
 * etcd 3.4 (data on /dev/shm), TLS from a throwaway CA, token auth (an admin token), client
 * certificates, RBAC, and service-account keys made with openssl. One per test file: start it
 * once and share it. Skips with a printed reason (outside CI) when the build or etcd is missing;
 * with `CI` or `SKEIN_REQUIRE_KUBE` set (scripts/test.sh) a missing apiserver fails.
 *
 * @module
 */
import { ETCD_BIN, withEtcd } from "./store_etcd_server.ts";
import { formatKubeconfig, type KubeCredentials } from "../store/kube_config.ts";
import { apiserverArgs } from "../lab/kube.ts";

/** What a running apiserver offers a test. */
export interface TestKube {
  /** "https://127.0.0.1:PORT". */
  server: string;
  /** The etcd it stores in (for compaction). */
  etcdEndpoint: string;
  dir: string;
  caCert: string;
  /** Credentials of a cluster admin (bearer token). */
  admin: KubeCredentials;
  /** Credentials of a cluster admin by client certificate. */
  adminCert: KubeCredentials;
  /** Writes a kubeconfig for `creds` and returns its path. */
  kubeconfig(creds: KubeCredentials, name: string): string;
  /** Stops the apiserver (SIGSTOP: a hung server, or SIGKILL). */
  signal(sig: "SIGSTOP" | "SIGCONT" | "SIGKILL"): void;
  /** Starts it again after a SIGKILL (same port, same etcd); resolves when ready. */
  restart(): Promise<void>;
  /** The apiserver's /metrics text. */
  metrics(): Promise<string>;
}

/** The apiserver binary, building it when needed (undefined with the reason printed). */
export async function kubeApiserverBin(what: string): Promise<string | undefined> {
  try {
    Deno.statSync(ETCD_BIN);
  } catch {
    return skip(what, `${ETCD_BIN} is missing (apt-get install etcd-server)`);
  }
  const out = await new Deno.Command("bash", {
    args: [new URL("../scripts/build-kube.sh", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const dir = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || !dir) {
    return skip(what, "scripts/build-kube.sh could not build kube-apiserver");
  }
  return `${dir}/kube-apiserver`;
}

function skip(what: string, why: string): undefined {
  if (Deno.env.get("CI") || Deno.env.get("SKEIN_REQUIRE_KUBE")) {
    throw new Error(`${what}: ${why} (CI and scripts/test.sh must run the kubernetes tests)`);
  }
  console.log(`SKIP ${what}: ${why}`);
  return undefined;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function sh(cmd: string, cwd: string): Promise<void> {
  const r = await new Deno.Command("bash", {
    args: ["-ec", cmd],
    cwd,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!r.success) throw new Error(`${cmd}: ${new TextDecoder().decode(r.stderr)}`);
}

/** Throwaway CA, serving cert for 127.0.0.1, an admin client cert and service-account keys. */
async function makePki(dir: string): Promise<void> {
  await sh(
    [
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=skein-test-ca -days 2",
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\\n' > san.ext",
      "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext",
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext",
      "openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj /O=system:masters/CN=skein-admin",
      "openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 2 -extfile client.ext",
      "openssl genrsa -out sa.key 2048",
      "openssl rsa -in sa.key -pubout -out sa.pub",
      "echo 'skein-admin-token,skein-admin,skein-admin-uid,system:masters' > tokens.csv",
    ].join(" && "),
    dir,
  );
}

/**
 * Runs `fn` with a fresh apiserver + etcd, or skips (returns false) when it cannot be built
 * outside CI. `extraArgs`: more apiserver flags (e.g. --watch-cache=false).
 */
export async function withKube(
  what: string,
  fn: (k: TestKube) => Promise<void>,
  opts: { extraArgs?: string[] } = {},
): Promise<boolean> {
  const bin = await kubeApiserverBin(what);
  if (!bin) return false;
  await withEtcd(async (etcd) => {
    const dir = await Deno.makeTempDir({ prefix: "skein-kube-", dir: "/dev/shm" });
    let child: Deno.ChildProcess | undefined;
    const port = freePort();
    const server = `https://127.0.0.1:${port}`;
    try {
      await makePki(dir);
      const caCert = Deno.readTextFileSync(`${dir}/ca.crt`);
      const admin: KubeCredentials = { server, caCert, token: "skein-admin-token", namespace: "" };
      const start = async () => {
        child = new Deno.Command(bin, {
          args: [
            ...apiserverArgs({ dir, ip: "127.0.0.1", port, etcd: etcd.endpoint }),
            "--v=0",
            ...(opts.extraArgs ?? []),
          ],
          stdout: "null",
          stderr: Deno.env.get("SKEIN_KUBE_LOG") ? "inherit" : "null",
        }).spawn();
        await waitReady(server, admin);
      };
      await start();
      const k: TestKube = {
        server,
        etcdEndpoint: etcd.endpoint,
        dir,
        caCert,
        admin,
        adminCert: {
          server,
          caCert,
          clientCert: Deno.readTextFileSync(`${dir}/admin.crt`),
          clientKey: Deno.readTextFileSync(`${dir}/admin.key`),
          namespace: "",
        },
        kubeconfig: (c, name) => writeKubeconfig(dir, c, name),
        signal: (sig) => child?.kill(sig),
        restart: async () => {
          await child?.status;
          await start();
        },
        metrics: async () => {
          const c = Deno.createHttpClient({ caCerts: [caCert] });
          try {
            const r = await fetch(`${server}/metrics`, {
              headers: { authorization: `Bearer ${admin.token}` },
              client: c,
            });
            return await r.text();
          } finally {
            c.close();
          }
        },
      };
      await fn(k);
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* gone */ }
      await child?.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }, { dir: "/dev/shm" });
  return true;
}

async function waitReady(server: string, admin: KubeCredentials): Promise<void> {
  const c = Deno.createHttpClient({ caCerts: [admin.caCert!] });
  try {
    for (let i = 0; i < 600; i++) {
      try {
        const r = await fetch(`${server}/readyz`, {
          headers: { authorization: `Bearer ${admin.token}` },
          client: c,
        });
        await r.body?.cancel();
        if (r.ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`kube-apiserver did not get ready on ${server}`);
  } finally {
    c.close();
  }
}

function writeKubeconfig(dir: string, c: KubeCredentials, name: string): string {
  const path = `${dir}/${name}.kubeconfig`;
  Deno.writeTextFileSync(path, formatKubeconfig(c));
  return path;
}
