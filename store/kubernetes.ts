/**
 * The Kubernetes lease store, flannel's kube subnet manager model on a real apiserver:
 *
 * - a node's lease is its Node object: the subnet is `spec.podCIDR` (`podCIDRs` for dual-stack),
 *   the backend data are flannel's annotations (kube_node.ts);
 * - a node without a podCIDR (no `--allocate-node-cidrs`, the lab) gets one race-free: a
 *   `coordination.k8s.io/v1` Lease named after the subnet is created in skein's namespace (create
 *   fails with 409 when another node holds it), then the Node's `spec.podCIDR` is set with the
 *   Node's resourceVersion as precondition, so only while it is still empty. Claims whose node is
 *   gone are deleted when a node looks for a free subnet;
 * - the cluster network config is the `net-conf.json` key of a ConfigMap (flannel's layout);
 * - list() is one paginated list of Nodes; watch() a Node watch from its resourceVersion with
 *   bookmarks, resumed after a broken stream and turned into a resync on 410 Gone.
 *
 * The daemon reads it through LeaseInformer (store/informer.ts) like every store.
 *
 * @module
 */
import { chooseLease, inRange, subnetRange } from "./allocate.ts";
import { KubeClient, type KubeWatchEvent, MERGE_PATCH } from "./_kube_client.ts";
import type { KubeCredentials } from "./kube_config.ts";
import {
  KubeConflictError,
  KubeForbiddenError,
  KubeGoneError,
  KubeNotFoundError,
  KubeUnauthorizedError,
  parseStatus,
} from "./kube_errors.ts";
import {
  annotationPatch,
  annotationRemovalPatch,
  annotationsMatch,
  type KubeNode,
  nodeLease,
  nodeLeases,
  nodePodCidrs,
  sameLeaseInputs,
} from "./kube_node.ts";
import { leaseOutsideNetwork } from "./lease_scope.ts";
import { BadNetworkConfigError, LeaseLostError, StoreError } from "./errors.ts";
import { decodeNetworkConfig, encodeNetworkConfig, subnetKey } from "./flannel.ts";
import { sleep } from "./sleeper.ts";
import type { WarnFn } from "./_util.ts";
import {
  type AcquireRequest,
  asRevision,
  type Lease,
  type LeaseEvent,
  type LeaseList,
  type LeaseStore,
  type NetworkConfig,
  type Revision,
  type WatchItem,
} from "./types.ts";

/** Options of {@linkcode KubeStore}. */
export interface KubeStoreOptions {
  credentials: KubeCredentials;
  /** Namespace of the subnet claims and the config map (default: the credentials', else "skein"). */
  namespace?: string;
  /** ConfigMap holding `net-conf.json` (default "skein-config"). */
  configMap?: string;
  /** Per-request deadline (ms, default 10000). */
  timeoutMs?: number;
  /** Expiration reported for leases (read time + this, s; Nodes do not expire). Default 86400. */
  assumedTtlSeconds?: number;
  /** Refuse every write (skein diagnose). */
  readOnly?: boolean;
  /**
   * How long a network config read stays fresh (ms, default 30000): the daemon asks for it every
   * few seconds to know the datastore answers; this keeps that to ~2 requests a minute per node.
   */
  configMaxAgeMs?: number;
  /** Server-side watch length before it is resumed (s, default 300). */
  watchTimeoutSeconds?: number;
  onWarning?: WarnFn;
  onError?: (e: Error) => void;
}

/** Label on skein's subnet claims. */
export const CLAIM_LABEL = "skein.io/subnet-claim";
/** The key of the network config in the ConfigMap (flannel's name). */
export const NET_CONF_KEY = "net-conf.json";

interface KubeList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

interface KubeLease {
  metadata: { name: string; uid: string; resourceVersion: string };
  spec?: { holderIdentity?: string };
}

const LEASES = "leases.coordination.k8s.io";

/** The Kubernetes-backed LeaseStore. */
export class KubeStore implements LeaseStore {
  readonly type = "kubernetes";
  readonly client: KubeClient;
  readonly namespace: string;
  #o: KubeStoreOptions;
  #warn: WarnFn;
  /** Nodes of the last list() by name, and that list's revision (watch() starts from it). */
  #snapshot?: { revision: string; nodes: Map<string, KubeNode> };
  /** Decoded leases by node name and resourceVersion. */
  #decoded = new Map<string, { rv: string; lease?: Lease; error?: Error }>();
  /** The last network config read and when. */
  #config?: { at: number; value: NetworkConfig | undefined };
  /** The skip reason last logged per node (each reason is logged once). */
  #warned = new Map<string, string>();
  /** The open watch streams (ended when another request finds the apiserver in trouble). */
  #streams = new Set<AbortController>();

  constructor(opts: KubeStoreOptions) {
    this.#o = opts;
    this.client = new KubeClient(opts.credentials, {
      timeoutMs: opts.timeoutMs,
      // A request that got no usable answer: the open watch streams may be dead too (half-open).
      onTrouble: () => {
        for (const s of this.#streams) s.abort();
      },
    });
    this.namespace = opts.namespace || opts.credentials.namespace || "skein";
    this.#warn = opts.onWarning ?? (() => {});
  }

  get #cm(): string {
    return this.#o.configMap ?? "skein-config";
  }

  #writable(what: string): void {
    if (this.#o.readOnly) throw new StoreError(`read-only kubernetes store: will not ${what}`);
  }

  #exp(): string {
    return new Date(Date.now() + (this.#o.assumedTtlSeconds ?? 86400) * 1000).toISOString();
  }

  /**
   * Reads `net-conf.json` of the ConfigMap (undefined when the map or the key is missing); a read
   * younger than `configMaxAgeMs` is answered from memory.
   */
  async getNetworkConfig(): Promise<NetworkConfig | undefined> {
    const c = this.#config;
    if (c && Date.now() - c.at < (this.#o.configMaxAgeMs ?? 30_000)) return c.value;
    const value = await this.#readNetworkConfig(true);
    this.#config = { at: Date.now(), value };
    return value;
  }

  /** `cached`: from the apiserver's watch cache (resourceVersion=0: it answers, no etcd read). */
  async #readNetworkConfig(cached = false): Promise<NetworkConfig | undefined> {
    let cm: { data?: Record<string, string> };
    try {
      cm = await this.client.request({
        verb: "get",
        resource: "configmaps",
        name: this.#cm,
        namespace: this.namespace,
        method: "GET",
        path: `/api/v1/namespaces/${this.namespace}/configmaps/${this.#cm}${
          cached ? "?resourceVersion=0" : ""
        }`,
      });
    } catch (e) {
      if (e instanceof KubeNotFoundError) return undefined;
      throw e;
    }
    const text = cm.data?.[NET_CONF_KEY];
    if (text === undefined) return undefined;
    try {
      return decodeNetworkConfig(JSON.parse(text));
    } catch (e) {
      throw new BadNetworkConfigError(
        `Cannot use ${NET_CONF_KEY} of configmap ${this.namespace}/${this.#cm}: ${
          (e as Error).message
        }`,
        { cause: e },
      );
    }
  }

  /** Creates the ConfigMap with `config` unless it holds one; returns the stored one. */
  async putNetworkConfigIfAbsent(config: NetworkConfig): Promise<NetworkConfig> {
    const cur = await this.#readNetworkConfig();
    if (cur) return cur;
    this.#writable("create the network config");
    try {
      await this.client.request({
        verb: "create",
        resource: "configmaps",
        namespace: this.namespace,
        method: "POST",
        path: `/api/v1/namespaces/${this.namespace}/configmaps`,
        body: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: this.#cm },
          data: { [NET_CONF_KEY]: JSON.stringify(encodeNetworkConfig(config)) },
        },
      });
    } catch (e) {
      if (!(e instanceof KubeConflictError)) throw e;
    }
    const now = await this.#readNetworkConfig();
    if (!now) {
      throw new StoreError(
        `configmap ${this.namespace}/${this.#cm} exists without a ${NET_CONF_KEY} key`,
      );
    }
    return now;
  }

  async #getNode(name: string): Promise<KubeNode> {
    return await this.client.request<KubeNode>({
      verb: "get",
      resource: "nodes",
      name,
      method: "GET",
      path: `/api/v1/nodes/${encodeURIComponent(name)}`,
    });
  }

  async #patchNode(name: string, patch: unknown): Promise<KubeNode> {
    return await this.client.request<KubeNode>({
      verb: "patch",
      resource: "nodes",
      name,
      method: "PATCH",
      path: `/api/v1/nodes/${encodeURIComponent(name)}`,
      body: patch,
      contentType: MERGE_PATCH,
    });
  }

  /**
   * The node's lease: its podCIDR when set (and inside the network), else a subnet claimed
   * race-free (a Lease per subnet, then spec.podCIDR set while empty). Puts the backend
   * annotations on the Node.
   */
  async acquire(req: AcquireRequest): Promise<Lease> {
    this.#writable("acquire a subnet");
    const config = await this.getNetworkConfig();
    if (!config) {
      throw new StoreError(`No network config in configmap ${this.namespace}/${this.#cm}`);
    }
    let node: KubeNode;
    try {
      node = await this.#getNode(req.node);
    } catch (e) {
      if (e instanceof KubeNotFoundError) {
        throw new StoreError(
          `Node "${req.node}" does not exist: skein's node name must be the Node object's`,
        );
      }
      throw e;
    }
    for (let attempt = 0; attempt < 20; attempt++) {
      const cidrs = nodePodCidrs(node);
      if (cidrs) return await this.#announce(node, cidrs, req, config);
      // A podCIDR of another family only (an IPv6-only Node): the apiserver lets no one add an
      // IPv4 one ("may not change podCIDR except from \"\""), so a claim would only leak.
      const set = (node.spec?.podCIDRs ?? [node.spec?.podCIDR ?? ""]).filter((c) => c);
      if (set.length > 0) {
        throw new StoreError(
          `Node "${req.node}" has podCIDRs ${
            set.join(", ")
          } and no IPv4 one in ${config.network}: ` +
            "the apiserver does not let a podCIDR be added; give the Node an IPv4 podCIDR " +
            "(kube-controller-manager --cluster-cidr) or use another datastore",
        );
      }
      const got = await this.#claimAndSet(node, req, config);
      if ("lease" in got) return got.lease;
      node = got.node; // the Node changed meanwhile: look again
    }
    throw new StoreError(`Cannot set a podCIDR on Node "${req.node}": it kept changing`);
  }

  /**
   * Uses the Node's podCIDR as is (when it is a subnet of the network) and writes the
   * annotations.
   */
  async #announce(
    node: KubeNode,
    cidrs: { subnet: string; subnet6?: string },
    req: AcquireRequest,
    config: NetworkConfig,
  ): Promise<Lease> {
    // Any /len subnet of the network: subnetMin/subnetMax (by default the network's first
    // subnet is skipped, as flannel does) govern only skein's own allocation; a cluster's
    // controller-manager (--allocate-node-cidrs) hands the first Node the first subnet.
    const range = { ...subnetRange(config, 4), min: 0n };
    range.max = (1n << BigInt(range.len - range.network.prefix)) - 1n;
    if (!inRange(range, cidrs.subnet)) {
      throw new StoreError(
        `Node "${req.node}" has podCIDR ${cidrs.subnet}, which is not a /${range.len} subnet of ${config.network}`,
      );
    }
    const lease = leaseOf(
      req,
      cidrs.subnet,
      config.network6 ? cidrs.subnet6 : undefined,
      this.#exp(),
    );
    if (!annotationsMatch(node, lease)) await this.#patchNode(req.node, annotationPatch(lease));
    return lease;
  }

  /**
   * Claims a free subnet (Lease create, 409 = taken) and sets it as the Node's podCIDR with the
   * Node's resourceVersion as precondition. Returns the new Node when it changed meanwhile.
   */
  async #claimAndSet(
    node: KubeNode,
    req: AcquireRequest,
    config: NetworkConfig,
  ): Promise<{ lease: Lease } | { node: KubeNode }> {
    const lost = new Set<string>();
    for (let attempt = 0; attempt < 20; attempt++) {
      const taken = await this.#takenSubnets(req.node);
      const mine = taken.find((t) => t.node === req.node);
      const choice = chooseLease(
        { ...req, publicIP: "" },
        mine ? [leaseOf(req, mine.subnet, undefined, "")] : [],
        config,
        { pick: "random", exclude: new Set([...lost, ...taken.map((t) => t.subnet)]) },
      );
      const subnet = "reuse" in choice ? choice.reuse.subnet : choice.subnet;
      if (!mine || mine.subnet !== subnet) {
        if (!(await this.#claim(subnet, node))) {
          lost.add(subnet);
          continue;
        }
      }
      const lease = leaseOf(req, subnet, undefined, this.#exp());
      try {
        await this.#patchNode(req.node, {
          metadata: {
            resourceVersion: node.metadata.resourceVersion,
            ...annotationPatch(lease).metadata,
          },
          spec: { podCIDR: subnet, podCIDRs: [subnet] },
        });
        return { lease };
      } catch (e) {
        if (!(e instanceof KubeConflictError)) throw e;
        await this.#unclaim(subnet, req.node).catch(() => {});
        return { node: await this.#getNode(req.node) };
      }
    }
    throw new StoreError(`Cannot claim a subnet for Node "${req.node}": lost the race 20 times`);
  }

  /**
   * The subnets in use: every Node's podCIDR and every claim of an existing Node. Claims of
   * Nodes that are gone are deleted (reclaimed) on the way.
   */
  async #takenSubnets(self: string): Promise<{ subnet: string; node: string }[]> {
    const nodes = await this.#listNodes();
    const out: { subnet: string; node: string }[] = [];
    for (const n of nodes.items) {
      try {
        const c = nodePodCidrs(n);
        if (c) out.push({ subnet: c.subnet, node: n.metadata.name });
      } catch { /* an unreadable podCIDR takes nothing skein could hand out */ }
    }
    const names = new Set(nodes.items.map((n) => n.metadata.name));
    const claims = await this.client.request<KubeList<KubeLease>>({
      verb: "list",
      resource: LEASES,
      namespace: this.namespace,
      method: "GET",
      path: `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases?labelSelector=${
        encodeURIComponent(CLAIM_LABEL)
      }`,
    });
    for (const c of claims.items) {
      const holder = c.spec?.holderIdentity ?? "";
      const subnet = claimSubnet(c.metadata.name);
      if (!subnet) continue;
      if (holder !== self && !names.has(holder)) {
        await this.#deleteClaim(c).catch(() => {});
        continue;
      }
      if (!out.some((o) => o.subnet === subnet && o.node === holder)) {
        out.push({ subnet, node: holder });
      }
    }
    return out;
  }

  /** Creates the claim of `subnet` for `node`; false when another node holds it (409). */
  async #claim(subnet: string, node: KubeNode): Promise<boolean> {
    try {
      await this.client.request({
        verb: "create",
        resource: LEASES,
        namespace: this.namespace,
        method: "POST",
        path: `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`,
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: {
            name: claimName(subnet),
            labels: { [CLAIM_LABEL]: "true" },
            ownerReferences: node.metadata.uid
              ? [{
                apiVersion: "v1",
                kind: "Node",
                name: node.metadata.name,
                uid: node.metadata.uid,
              }]
              : undefined,
          },
          spec: { holderIdentity: node.metadata.name },
        },
      });
      return true;
    } catch (e) {
      if (e instanceof KubeConflictError) return false;
      throw e;
    }
  }

  async #deleteClaim(c: KubeLease): Promise<void> {
    await this.client.request({
      verb: "delete",
      resource: LEASES,
      name: c.metadata.name,
      namespace: this.namespace,
      method: "DELETE",
      path: `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${c.metadata.name}`,
      body: { kind: "DeleteOptions", apiVersion: "v1", preconditions: { uid: c.metadata.uid } },
    });
  }

  /** Deletes the claim of `subnet` when `node` holds it. */
  async #unclaim(subnet: string, node: string): Promise<void> {
    let c: KubeLease;
    try {
      c = await this.client.request<KubeLease>({
        verb: "get",
        resource: LEASES,
        name: claimName(subnet),
        namespace: this.namespace,
        method: "GET",
        path: `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${
          claimName(subnet)
        }`,
      });
    } catch (e) {
      if (e instanceof KubeNotFoundError) return;
      throw e;
    }
    if (c.spec?.holderIdentity === node) await this.#deleteClaim(c);
  }

  /**
   * Checks the Node still carries this lease (its podCIDR) and rewrites the annotations when
   * they differ. One GET per renewal when nothing changed.
   */
  async renew(lease: Lease, ttlSeconds: number): Promise<Lease> {
    let node: KubeNode;
    try {
      node = await this.#getNode(lease.node);
    } catch (e) {
      if (e instanceof KubeNotFoundError) {
        throw new LeaseLostError(lease.subnet, `Node "${lease.node}" was deleted`);
      }
      throw e;
    }
    let cidrs;
    try {
      cidrs = nodePodCidrs(node);
    } catch (e) {
      throw new LeaseLostError(lease.subnet, (e as Error).message);
    }
    if (cidrs?.subnet !== lease.subnet) {
      throw new LeaseLostError(
        lease.subnet,
        `Node "${lease.node}" has podCIDR ${cidrs?.subnet ?? "(none)"}`,
      );
    }
    if (!annotationsMatch(node, lease)) {
      this.#writable("write annotations");
      await this.#patchNode(lease.node, annotationPatch(lease));
    }
    return { ...lease, expiration: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
  }

  /**
   * Every Node. `cached`: one list from the apiserver's watch cache (`resourceVersion=0`, as
   * client-go's reflector does; no etcd read, the watch goes on from its revision); otherwise a
   * consistent read from etcd page by page (choosing a subnet needs the latest state).
   */
  async #listNodes(cached = false): Promise<KubeList<KubeNode>> {
    if (cached) {
      return checkNodeList(
        await this.client.request<KubeList<KubeNode>>({
          verb: "list",
          resource: "nodes",
          method: "GET",
          path: "/api/v1/nodes?resourceVersion=0",
        }),
      );
    }
    const items: KubeNode[] = [];
    let cont = "";
    let rv = "";
    do {
      const page = await this.client.request<KubeList<KubeNode>>({
        verb: "list",
        resource: "nodes",
        method: "GET",
        path: `/api/v1/nodes?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      });
      checkNodeList(page);
      rv ||= page.metadata.resourceVersion;
      items.push(...page.items);
      cont = page.metadata.continue ?? "";
    } while (cont);
    return { metadata: { resourceVersion: rv }, items };
  }

  /** The valid leases of all Nodes, with the list's resourceVersion. */
  async list(): Promise<LeaseList> {
    const l = await this.#listNodes(true);
    const nodes = new Map(l.items.map((n) => [n.metadata.name, n]));
    this.#snapshot = { revision: l.metadata.resourceVersion, nodes };
    const { leases } = this.#derive(nodes);
    return { leases: [...leases.values()], revision: asRevision(l.metadata.resourceVersion) };
  }

  #decode(n: KubeNode): Lease | undefined {
    const rv = n.metadata.resourceVersion ?? "";
    let d = this.#decoded.get(n.metadata.name);
    if (!d || d.rv !== rv) {
      try {
        d = { rv, lease: nodeLease(n, "") };
      } catch (e) {
        d = { rv, error: e as Error };
      }
      this.#decoded.set(n.metadata.name, d);
    }
    if (d.error) throw d.error;
    return d.lease;
  }

  /** Leases of `nodes`; logs each skipped Node once per reason. */
  #derive(nodes: Map<string, KubeNode>): { leases: Map<string, Lease> } {
    const exp = this.#exp();
    // A podCIDR that can never be routed (outside the network, a wider block) takes no part in
    // the overlap vote: an old Node with the whole /16 would otherwise outvote every other.
    const net = this.#config?.value;
    const { leases, skipped } = nodeLeases(
      nodes.values(),
      (n) => {
        const l = this.#decode(n);
        return l && { ...l, expiration: exp };
      },
      net ? (l) => leaseOutsideNetwork(l, net) : undefined,
    );
    const now = new Map<string, string>();
    for (const s of skipped) {
      now.set(s.node, s.reason);
      if (this.#warned.get(s.node) !== s.reason) {
        this.#warn("skipping bad lease record", { node: s.node, error: s.reason });
      }
    }
    this.#warned = now;
    for (const name of this.#decoded.keys()) if (!nodes.has(name)) this.#decoded.delete(name);
    return { leases };
  }

  /**
   * Node changes after a list()'s resourceVersion, as lease events: each watch event updates
   * the Node set, and the difference of its valid leases is yielded. Bookmarks move the
   * revision; a broken stream resumes from the last resourceVersion (backoff 0.2 … 10 s), and so
   * does one the server has not ended 10% (at least 5 s) after its timeoutSeconds; 410 Gone
   * (compaction) yields a resync with a fresh list. A watch the apiserver refuses (403, 401), or
   * five failures in a row, throws: the informer lists again and counts it.
   */
  async *watch(fromRevision: Revision, signal: AbortSignal): AsyncIterable<WatchItem> {
    let rv: string | undefined = fromRevision;
    let nodes = this.#snapshot?.revision === fromRevision
      ? new Map(this.#snapshot.nodes)
      : undefined;
    let leases = nodes ? this.#derive(nodes).leases : new Map<string, Lease>();
    let backoff = 200, failures = 0;
    while (!signal.aborted) {
      try {
        if (!nodes || rv === undefined) {
          const snap = await this.list();
          nodes = new Map(this.#snapshot!.nodes);
          leases = this.#derive(nodes).leases;
          rv = snap.revision;
          yield { resync: snap };
        }
        const ctl = new AbortController();
        this.#streams.add(ctl);
        const started = Date.now();
        let got = false;
        try {
          for await (
            const ev of this.client.watch<KubeNode>(
              this.#watchRequest(rv),
              this.#stream(signal, ctl.signal),
            )
          ) {
            backoff = 200;
            failures = 0;
            got = true;
            checkWatchEvent(ev);
            rv = ev.object.metadata.resourceVersion ?? rv;
            if (ev.type === "BOOKMARK") {
              yield { events: [], revision: asRevision(rv) };
              continue;
            }
            const prev = nodes.get(ev.object.metadata.name);
            if (ev.type === "DELETED") nodes.delete(ev.object.metadata.name);
            else nodes.set(ev.object.metadata.name, ev.object);
            if (ev.type === "MODIFIED" && prev && sameLeaseInputs(prev, ev.object)) {
              // A status-only update (most Node events): no lease changed, skip the O(n) derive.
              this.#snapshot = { revision: rv, nodes };
              continue;
            }
            const next = this.#derive(nodes).leases;
            const events = diffLeases(leases, next, this.#exp());
            leases = next;
            this.#snapshot = { revision: rv, nodes };
            if (events.length > 0) yield { events, revision: asRevision(rv) };
          }
        } finally {
          this.#streams.delete(ctl);
        }
        // A stream that ended at once and empty, or that another request found in trouble: no
        // hot loop.
        if ((!got && Date.now() - started < 1000) || (ctl.signal.aborted && !signal.aborted)) {
          await sleep(backoff, signal);
          backoff = Math.min(backoff * 2, 10_000);
        }
      } catch (e) {
        if (signal.aborted) return;
        this.#o.onError?.(e as Error);
        if (e instanceof KubeGoneError) {
          nodes = undefined; // list again
          continue;
        }
        // Refused (RBAC, credentials) or failing on and on: the caller's informer lists again
        // (with its own backoff) and counts the error, so routes follow the Nodes even while no
        // watch can be held, instead of a silent retry of the same watch for ever.
        if (
          e instanceof KubeForbiddenError || e instanceof KubeUnauthorizedError || ++failures >= 5
        ) {
          throw e;
        }
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /**
   * One watch stream's signal: `signal`, `trouble` (another request got no usable answer), and a
   * deadline a little after the server's timeout (10%, at least 5 s): a half-open connection (the apiserver's host died or was cut off without a
   * FIN or RST) is silent, not broken, and would hide every later change for good.
   */
  #stream(signal: AbortSignal, trouble: AbortSignal): AbortSignal {
    const t = this.#o.watchTimeoutSeconds ?? 300;
    const deadline = AbortSignal.timeout(t * 1000 + Math.max(5000, t * 100));
    return AbortSignal.any([signal, trouble, deadline]);
  }

  #watchRequest(rv: string) {
    const t = this.#o.watchTimeoutSeconds ?? 300;
    return {
      verb: "watch",
      resource: "nodes",
      method: "GET" as const,
      path: `/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=${
        encodeURIComponent(rv)
      }&timeoutSeconds=${t}`,
    };
  }

  /** Takes skein's annotations off the Node and drops its subnet claim (podCIDR stays: immutable). */
  async release(lease: Lease): Promise<void> {
    this.#writable("release a lease");
    try {
      const node = await this.#getNode(lease.node);
      if (nodePodCidrs(node)?.subnet === lease.subnet) {
        await this.#patchNode(lease.node, annotationRemovalPatch());
      }
    } catch (e) {
      if (!(e instanceof KubeNotFoundError)) throw e;
    }
    await this.#unclaim(lease.subnet, lease.node);
  }

  /** Closes the HTTP client. */
  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

/** `l` when it is a list of Nodes (items with names, a resourceVersion), else a StoreError. */
function checkNodeList(l: KubeList<KubeNode>): KubeList<KubeNode> {
  const ok = typeof l?.metadata?.resourceVersion === "string" && Array.isArray(l.items) &&
    l.items.every((n) => typeof n?.metadata?.name === "string");
  if (!ok) {
    throw new StoreError(
      `kubernetes list nodes: not a list of Nodes: ${JSON.stringify(l).slice(0, 200)}`,
    );
  }
  return l;
}

/** Throws for an ERROR event (410 Gone: KubeGoneError) and for one without object metadata. */
function checkWatchEvent(ev: KubeWatchEvent<KubeNode>): void {
  if (ev?.type === "ERROR") {
    const st = parseStatus(500, ev.object);
    if (st.code === 410) throw new KubeGoneError(st, { verb: "watch", resource: "nodes" });
    throw new StoreError(`kubernetes watch nodes: ${st.code} ${st.message ?? ""}`);
  }
  if (typeof ev?.object?.metadata !== "object" || ev.object.metadata === null) {
    throw new StoreError(
      `kubernetes watch nodes: a malformed event: ${JSON.stringify(ev).slice(0, 200)}`,
    );
  }
}

/** Lease events turning `prev` into `next` (removals carry a future expiration: deleted, not expired). */
function diffLeases(prev: Map<string, Lease>, next: Map<string, Lease>, exp: string): LeaseEvent[] {
  const out: LeaseEvent[] = [];
  for (const [k, l] of prev) {
    const n = next.get(k);
    if (!n || n.node !== l.node) out.push({ type: "removed", lease: { ...l, expiration: exp } });
  }
  for (const [k, l] of next) {
    const p = prev.get(k);
    if (
      !p || p.node !== l.node ||
      JSON.stringify({ ...p, expiration: "" }) !== JSON.stringify({ ...l, expiration: "" })
    ) {
      out.push({ type: "added", lease: l });
    }
  }
  return out;
}

/** The claim's object name for a subnet: "subnet-10.244.1.0-24". */
export function claimName(subnet: string): string {
  return `subnet-${subnetKey(subnet)}`;
}

/** The subnet a claim's name stands for; undefined for other Lease names. */
export function claimSubnet(name: string): string | undefined {
  const m = /^subnet-(\d+\.\d+\.\d+\.\d+)-(\d+)$/.exec(name);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

function leaseOf(
  req: AcquireRequest,
  subnet: string,
  subnet6: string | undefined,
  expiration: string,
): Lease {
  const l: Lease = {
    subnet,
    publicIP: req.publicIP,
    node: req.node,
    backendType: req.backendType,
    expiration,
  };
  if (subnet6) l.subnet6 = subnet6;
  if (req.publicIP6) l.publicIP6 = req.publicIP6;
  if (req.backendData && Object.keys(req.backendData).length > 0) l.backendData = req.backendData;
  return l;
}
