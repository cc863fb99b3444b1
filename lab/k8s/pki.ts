/**
 * Client certificates from the lab's throwaway CA (lab/kube.ts makes `ca.crt`/`ca.key` in the
 * control plane's directory): the identities of the scheduler, the controller-manager, each
 * kubelet (`system:node:<name>` in `system:nodes`, for the Node authorizer) and the apiserver's
 * client to the kubelets. P-256 keys: quick to make on a loaded machine.
 *
 * @module
 */
import { runCommand } from "../_proc.ts";

/** A client certificate and its key (PEM file paths). */
export interface ClientCertFiles {
  cert: string;
  key: string;
}

/** The openssl `-subj` of a client identity (`/O=ORG/CN=CN`). */
export function clientSubject(cn: string, org?: string): string {
  for (const v of [cn, org ?? ""]) {
    if (/[/,=+\\\n]/.test(v)) throw new TypeError(`Cannot use ${v} in a certificate subject`);
  }
  return `${org ? `/O=${org}` : ""}/CN=${cn}`;
}

async function openssl(caDir: string, args: string[]): Promise<void> {
  const r = await runCommand(["openssl", ...args], {});
  if (!r.success) {
    throw new Error(`Cannot make a lab certificate (${caDir}): openssl ${args[0]}: ${r.stderr}`);
  }
}

/**
 * Makes `<outDir>/<name>.key` and `<outDir>/<name>.crt`, a client certificate for CN `cn`
 * (organization `org`: the Kubernetes group) signed by `<caDir>/ca.crt` for 30 days.
 * `openssl req -new -newkey ec ... -subj /O=ORG/CN=CN; openssl x509 -req -CA ca.crt ...`
 * Not for concurrent calls on one CA (its serial file).
 */
export async function makeClientCert(
  o: { caDir: string; outDir: string; name: string; cn: string; org?: string },
): Promise<ClientCertFiles> {
  if (!/^[A-Za-z0-9_.-]+$/.test(o.name)) throw new TypeError(`bad certificate name ${o.name}`);
  Deno.mkdirSync(o.outDir, { recursive: true });
  const base = `${o.outDir}/${o.name}`;
  await openssl(o.caDir, [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${base}.key`,
    "-out",
    `${base}.csr`,
    "-subj",
    clientSubject(o.cn, o.org),
  ]);
  await openssl(o.caDir, [
    "x509",
    "-req",
    "-in",
    `${base}.csr`,
    "-CA",
    `${o.caDir}/ca.crt`,
    "-CAkey",
    `${o.caDir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${base}.crt`,
    "-days",
    "30",
  ]);
  Deno.removeSync(`${base}.csr`);
  Deno.chmodSync(`${base}.key`, 0o600);
  return { cert: `${base}.crt`, key: `${base}.key` };
}
