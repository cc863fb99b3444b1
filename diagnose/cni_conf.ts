/**
 * Finds the skein CNI network on a node (`/etc/cni/net.d/*.conflist|*.conf` with a plugin of
 * type "skein"): its IPAM directory (`<ipam.dataDir or /var/lib/cni/networks>/<name>`) and
 * bridge. Read-only; unreadable or foreign files are passed over.
 *
 * @module
 */

/** What diagnose needs from the CNI config. */
export interface CniNetwork {
  file: string;
  name: string;
  ipamDir: string;
  bridge: string;
  mode: string;
  /** `isGateway` or `isDefaultGateway`: the bridge holds the pods' gateway address. */
  gatewayOnBridge: boolean;
}

const DEFAULT_DATA_DIR = "/var/lib/cni/networks";

/** The first skein network in `dir` (sorted like the runtime picks: by file name). */
export function findSkeinNetwork(dir = "/etc/cni/net.d"): CniNetwork | undefined {
  let names: string[];
  try {
    names = [...Deno.readDirSync(dir)].filter((e) =>
      e.isFile && /\.(conflist|conf|json)$/.test(e.name)
    )
      .map((e) => e.name).sort();
  } catch {
    return undefined;
  }
  for (const n of names) {
    try {
      const v = JSON.parse(Deno.readTextFileSync(`${dir}/${n}`)) as Record<string, unknown>;
      const plugins = Array.isArray(v.plugins) ? v.plugins as Record<string, unknown>[] : [v];
      const p = plugins.find((x) => x?.type === "skein");
      if (!p || typeof v.name !== "string") continue;
      const ipam = (p.ipam ?? {}) as Record<string, unknown>;
      const dataDir = typeof ipam.dataDir === "string" ? ipam.dataDir : DEFAULT_DATA_DIR;
      return {
        file: `${dir}/${n}`,
        name: v.name,
        ipamDir: `${dataDir}/${v.name}`,
        bridge: typeof p.bridge === "string" ? p.bridge : "cni0",
        mode: typeof p.mode === "string" ? p.mode : "bridge",
        gatewayOnBridge: p.isGateway === true || p.isDefaultGateway === true,
      };
    } catch { /* not ours */ }
  }
  return undefined;
}
