/**
 * The one table of datastores: name → lazy factory, config fields, capabilities. The daemon's
 * config parsing, `--help` and `openStore` read it. A factory imports its store module only when
 * called, so loading this table (the daemon's config does) never loads the etcd client.
 *
 * @example
 * ```ts ignore
 * import { datastoreDefinition } from "./registry.ts";
 * const store = await datastoreDefinition("file")!.open({ dir: "/tmp/leases" }, { ttl: 60 });
 * ```
 *
 * @module
 */
import {
  type DefaultedField,
  type FieldTable,
  intField,
  stringField,
  urlListField,
} from "../component/fields.ts";
import { DEFAULT_ETCD_PREFIX } from "./etcd_defaults.ts";
import type { LeaseStore } from "./types.ts";

/** What the opener of a datastore hands its factory besides the store's own fields. */
export interface DatastoreEnv {
  /** Lease time to live in seconds (the common `ttl` field; default 86400). */
  ttl?: number;
  /**
   * For tools that only read (`skein diagnose`): create nothing (a file store whose directory is
   * missing fails instead of making it), start no watchers of its own.
   */
  readOnly?: boolean;
  /** Bound on each request to a network store (ms), for tools that must answer in time. */
  timeoutMs?: number;
  /** Non-fatal problems (a bad record skipped, ...). */
  onWarning?: (msg: string, fields?: Record<string, unknown>) => void;
  /** A broken watch that the store resumes by itself (counted by the daemon's metrics). */
  onError?: (e: Error) => void;
}

/** What a datastore offers, for `--help` and the docs. */
export interface DatastoreCapabilities {
  /** How the nodes share it: a directory every node mounts, or a network service. */
  readonly sharing: "directory" | "network";
  /** Keeps leases in flannel's layout, so flannel tooling and nodes can read them. */
  readonly flannelLayout: boolean;
}

/** One entry of the datastore table. */
export interface DatastoreDefinition {
  /** One line for `--help`. */
  readonly summary: string;
  /** The store's own config fields (`datastore.<field>`), beyond `type` and `ttl`. */
  readonly fields: FieldTable;
  readonly capabilities: DatastoreCapabilities;
  /** Opens the store (importing its module now); `settings` are its parsed fields. */
  open(settings: Readonly<Record<string, unknown>>, env: DatastoreEnv): Promise<LeaseStore>;
  /** Where its leases live, for reports ("/var/lib/skein/leases", "http://10.0.0.1:2379"). */
  where(settings: Readonly<Record<string, unknown>>): string;
}

/** Fields every datastore has. */
export const DATASTORE_COMMON_FIELDS: { readonly ttl: DefaultedField<number> } = {
  ttl: intField({
    min: 2,
    max: 10 * 86400,
    default: 86400,
    arg: "S",
    help: "lease time to live in seconds",
  }),
} as const;

/** The file store's own fields. */
export const FILE_FIELDS: { readonly dir: DefaultedField<string> } = {
  dir: stringField({
    default: "/var/lib/skein/leases",
    flag: "store-dir",
    arg: "DIR",
    help: "file datastore directory",
  }),
};

/** The etcd store's own fields. */
export const ETCD_FIELDS: {
  readonly endpoints: DefaultedField<string[]>;
  readonly prefix: DefaultedField<string>;
} = {
  endpoints: urlListField({
    default: [],
    flag: "etcd-endpoints",
    arg: "U,U",
    example: "http://127.0.0.1:2379",
    required: "is required for the etcd datastore (e.g. [http://127.0.0.1:2379])",
    check: (v) =>
      v.length === 0
        ? "is required for the etcd datastore (e.g. [http://127.0.0.1:2379])"
        : undefined,
    help: "etcd client URLs",
  }),
  prefix: stringField({
    default: DEFAULT_ETCD_PREFIX,
    flag: "etcd-prefix",
    arg: "P",
    check: (v) => v.startsWith("/") ? undefined : `must start with "/", got ${JSON.stringify(v)}`,
    help: "etcd key prefix",
  }),
};

/** The kubernetes store's own fields. */
export const KUBERNETES_FIELDS: {
  readonly kubeconfig: DefaultedField<string>;
  readonly namespace: DefaultedField<string>;
  readonly configMap: DefaultedField<string>;
  readonly configCache: DefaultedField<number>;
} = {
  kubeconfig: stringField({
    default: "",
    flag: "kubeconfig",
    arg: "PATH",
    help: "kubeconfig file (empty: in-cluster service account)",
  }),
  namespace: stringField({
    default: "",
    flag: "kube-namespace",
    arg: "NS",
    help:
      "namespace of skein's subnet claims and config map (empty: the service account's, else skein)",
  }),
  configMap: stringField({
    default: "skein-config",
    flag: "kube-config-map",
    arg: "NAME",
    help: "ConfigMap holding net-conf.json (the cluster network)",
  }),
  configCache: intField({
    min: 1,
    max: 3600,
    default: 30,
    flag: "kube-config-cache",
    arg: "S",
    help:
      "reuse a read of the network config this long (the daemon's datastore probe asks every 5 s; " +
      "an outage shows in /readyz within this + the request timeout)",
  }),
};

/** Every datastore, in the order `--help` lists them. */
export const DATASTORES = {
  file: {
    summary: "a directory of JSON lease files (embedded; share it between nodes)",
    fields: FILE_FIELDS,
    capabilities: { sharing: "directory", flannelLayout: false },
    open: async (s: Readonly<Record<string, unknown>>, env: DatastoreEnv): Promise<LeaseStore> => {
      const dir = s.dir as string;
      if (env.readOnly && !Deno.statSync(`${dir}/subnets`).isDirectory) {
        throw new Error(`${dir}/subnets is not a directory`);
      }
      const { FileStore } = await import("./file.ts");
      return new FileStore({ dir, onWarning: env.onWarning, fsEvents: !env.readOnly });
    },
    where: (s: Readonly<Record<string, unknown>>): string => s.dir as string,
  },
  etcd: {
    summary: "etcd v3 in flannel's key layout",
    fields: ETCD_FIELDS,
    capabilities: { sharing: "network", flannelLayout: true },
    open: async (s: Readonly<Record<string, unknown>>, env: DatastoreEnv): Promise<LeaseStore> => {
      const { EtcdStore } = await import("./etcd.ts");
      return new EtcdStore({
        endpoints: s.endpoints as string[],
        prefix: s.prefix as string,
        assumedTtlSeconds: env.ttl,
        timeoutMs: env.timeoutMs,
        onWarning: env.onWarning,
        onError: env.onError,
      });
    },
    where: (s: Readonly<Record<string, unknown>>): string => (s.endpoints as string[]).join(","),
  },
  kubernetes: {
    summary: "Node objects of a kube-apiserver (flannel's kube subnet manager model)",
    fields: KUBERNETES_FIELDS,
    capabilities: { sharing: "network", flannelLayout: true },
    open: async (s: Readonly<Record<string, unknown>>, env: DatastoreEnv): Promise<LeaseStore> => {
      const { inClusterCredentials, loadKubeconfig } = await import("./kube_config.ts");
      const { KubeStore } = await import("./kubernetes.ts");
      const path = s.kubeconfig as string;
      return new KubeStore({
        credentials: path ? loadKubeconfig(path) : inClusterCredentials(),
        namespace: s.namespace as string,
        configMap: s.configMap as string,
        configMaxAgeMs: (s.configCache as number) * 1000,
        assumedTtlSeconds: env.ttl,
        timeoutMs: env.timeoutMs,
        readOnly: env.readOnly,
        onWarning: env.onWarning,
        onError: env.onError,
      });
    },
    where: (s: Readonly<Record<string, unknown>>): string =>
      (s.kubeconfig as string) || "in-cluster service account",
  },
} as const satisfies Readonly<Record<string, DatastoreDefinition>>;

/** A datastore name from the table. */
export type DatastoreType = keyof typeof DATASTORES;

/** The datastore names, in table order. */
export function datastoreNames(): DatastoreType[] {
  return Object.keys(DATASTORES) as DatastoreType[];
}

/** The entry for `name`, or undefined for an unknown name. */
export function datastoreDefinition(name: string): DatastoreDefinition | undefined {
  return Object.hasOwn(DATASTORES, name) ? DATASTORES[name as DatastoreType] : undefined;
}
