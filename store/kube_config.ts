/**
 * Where the apiserver is and how skein proves who it is: a kubeconfig file (client certificate
 * or bearer token, CA from the file or inline) or the in-cluster service account
 * (`KUBERNETES_SERVICE_HOST`/`PORT`, token, CA and namespace under
 * /var/run/secrets/kubernetes.io/serviceaccount/). Parsed at the boundary into
 * {@linkcode KubeCredentials}; bad input is a {@linkcode KubeConfigError} naming the field.
 *
 * @module
 */
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

/** The default service-account directory of a pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A kubeconfig or in-cluster setup that cannot be used. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeConfigError";
  }
}

/** How to reach and authenticate to one apiserver. */
export interface KubeCredentials {
  /** "https://10.96.0.1:443" (no trailing slash). */
  server: string;
  /** PEM CA bundle the server's certificate is verified against (none: the system roots). */
  caCert?: string;
  /** Client certificate and key (PEM). */
  clientCert?: string;
  clientKey?: string;
  /** A fixed bearer token. */
  token?: string;
  /** A file holding the bearer token, re-read as it rotates (bound service-account tokens). */
  tokenFile?: string;
  /** Namespace from the context or the service account ("" when none). */
  namespace: string;
  /** Skip server certificate checks (kubeconfig insecure-skip-tls-verify); refused for https. */
  insecure?: boolean;
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new KubeConfigError(`${what} must be a mapping`);
  }
  return v as Obj;
}

function str(o: Obj, k: string, what: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new KubeConfigError(`${what}.${k} must be a string`);
  return v;
}

function named(list: unknown, name: string, kind: string): Obj {
  if (!Array.isArray(list)) throw new KubeConfigError(`kubeconfig has no ${kind}s list`);
  for (const e of list) {
    const o = obj(e, `${kind} entry`);
    if (o.name === name) return obj(o[kind], `${kind} "${name}"`);
  }
  throw new KubeConfigError(`kubeconfig has no ${kind} named "${name}"`);
}

function b64(text: string, what: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)));
  } catch {
    throw new KubeConfigError(`${what} is not base64`);
  }
}

/** Inline `<k>-data` (base64) or a file `<k>` (relative to the kubeconfig's directory). */
function pem(o: Obj, k: string, what: string, dir: string): string | undefined {
  const data = str(o, `${k}-data`, what);
  if (data) return b64(data, `${what}.${k}-data`);
  const file = str(o, k, what);
  if (!file) return undefined;
  return Deno.readTextFileSync(file.startsWith("/") ? file : `${dir}/${file}`);
}

/**
 * Credentials from a kubeconfig's text (`dir`: its directory, for relative paths). Uses
 * `context` or the file's current-context; supports server + CA, client certificates, `token`
 * and `tokenFile`. Exec and auth-provider plugins are refused with a clear message.
 */
export function parseKubeconfig(text: string, dir: string, context?: string): KubeCredentials {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new KubeConfigError(`kubeconfig is not YAML: ${(e as Error).message}`);
  }
  const root = obj(doc, "kubeconfig");
  const ctxName = context ?? str(root, "current-context", "kubeconfig");
  if (!ctxName) throw new KubeConfigError("kubeconfig has no current-context");
  const ctx = named(root.contexts, ctxName, "context");
  const clusterName = str(ctx, "cluster", `context "${ctxName}"`);
  const userName = str(ctx, "user", `context "${ctxName}"`);
  if (!clusterName) throw new KubeConfigError(`context "${ctxName}" names no cluster`);
  const cluster = named(root.clusters, clusterName, "cluster");
  const server = str(cluster, "server", `cluster "${clusterName}"`)?.replace(/\/+$/, "");
  if (!server || !/^https?:\/\/[^/]+/.test(server)) {
    throw new KubeConfigError(`cluster "${clusterName}" has no http(s) server URL`);
  }
  const creds: KubeCredentials = {
    server,
    caCert: pem(cluster, "certificate-authority", `cluster "${clusterName}"`, dir),
    namespace: str(ctx, "namespace", `context "${ctxName}"`) ?? "",
    insecure: cluster["insecure-skip-tls-verify"] === true || undefined,
  };
  if (userName) {
    const user = named(root.users, userName, "user");
    const what = `user "${userName}"`;
    if (user.exec || user["auth-provider"]) {
      throw new KubeConfigError(`${what}: exec and auth-provider plugins are not supported`);
    }
    creds.clientCert = pem(user, "client-certificate", what, dir);
    creds.clientKey = pem(user, "client-key", what, dir);
    if (!creds.clientCert !== !creds.clientKey) {
      throw new KubeConfigError(`${what}: a client certificate needs its key and vice versa`);
    }
    creds.token = str(user, "token", what);
    const tf = str(user, "tokenFile", what);
    if (tf) creds.tokenFile = tf.startsWith("/") ? tf : `${dir}/${tf}`;
  }
  if (creds.insecure && server.startsWith("https:")) {
    throw new KubeConfigError(
      `cluster "${clusterName}": insecure-skip-tls-verify is refused; give its CA`,
    );
  }
  return creds;
}

/** Credentials from a kubeconfig file. */
export function loadKubeconfig(path: string, context?: string): KubeCredentials {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new KubeConfigError(`cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  return parseKubeconfig(text, dir, context);
}

/**
 * In-cluster credentials: `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` and the service
 * account's token (re-read as it rotates), CA and namespace under `dir`.
 */
export function inClusterCredentials(
  env: { get(k: string): string | undefined } = Deno.env,
  dir = SERVICE_ACCOUNT_DIR,
): KubeCredentials {
  const host = env.get("KUBERNETES_SERVICE_HOST");
  const port = env.get("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new KubeConfigError(
      "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are unset (give datastore.kubeconfig)",
    );
  }
  let caCert: string;
  try {
    caCert = Deno.readTextFileSync(`${dir}/ca.crt`);
    Deno.statSync(`${dir}/token`);
  } catch (e) {
    throw new KubeConfigError(`no service account at ${dir}: ${(e as Error).message}`);
  }
  let namespace = "";
  try {
    namespace = Deno.readTextFileSync(`${dir}/namespace`).trim();
  } catch { /* optional */ }
  const h = host.includes(":") ? `[${host}]` : host;
  return { server: `https://${h}:${port}`, caCert, tokenFile: `${dir}/token`, namespace };
}

/** A kubeconfig (YAML) for `creds`, one context; parseKubeconfig() reads it back. */
export function formatKubeconfig(creds: KubeCredentials): string {
  const b64 = (s: string) => btoa(s);
  const user: Record<string, string> = {};
  if (creds.token) user.token = creds.token;
  if (creds.tokenFile) user.tokenFile = creds.tokenFile;
  if (creds.clientCert) user["client-certificate-data"] = b64(creds.clientCert);
  if (creds.clientKey) user["client-key-data"] = b64(creds.clientKey);
  const cluster: Record<string, string> = { server: creds.server };
  if (creds.caCert) cluster["certificate-authority-data"] = b64(creds.caCert);
  const context: Record<string, string> = { cluster: "c", user: "u" };
  if (creds.namespace) context.namespace = creds.namespace;
  return stringifyYaml({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "c",
    contexts: [{ name: "c", context }],
    clusters: [{ name: "c", cluster }],
    users: [{ name: "u", user }],
  });
}
