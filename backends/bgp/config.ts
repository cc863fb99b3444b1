/**
 * The bgp backend's configuration fields (issue 10's exact names), as the backend table
 * declares them: `backend.asNumber`, `backend.peers[...]`, ... in the daemon's YAML. Every
 * problem names the field (`config.backend.peers: [1].address must be an IP address, got "x"`).
 *
 * @module
 */

import {
  boolField,
  type DefaultedField,
  enumField,
  type Field,
  FieldProblem,
  intField,
  show,
} from "../../component/fields.ts";
import { tryParseCidr, tryParseIp } from "../../net/cidr.ts";
import { validHoldTime } from "./fsm.ts";
import type { PrefixRule } from "./rib.ts";
import type { PeerSpec } from "./speaker.ts";

/** A peer's `import` or `export` rule: every prefix, none, or those inside one of the CIDRs. */
export type PeerRule = "all" | "none" | string[];

/** One `peers` entry. */
export interface PeerConfig {
  address: string;
  asNumber: number;
  password?: string;
  holdTime?: number;
  /**
   * Which routes are taken from the peer (RFC 8212: an eBGP peer without one gets nothing
   * imported; an iBGP peer defaults to "all": every prefix outside this node's subnets).
   */
  import?: PeerRule;
  /** Which of this node's routes the peer is sent (eBGP without one: nothing; iBGP: "all"). */
  export?: PeerRule;
  /**
   * Take a default route (0.0.0.0/0, ::/0) from the peer when `import` allows it. Off: a
   * peer's default is refused (it would replace the node's own default route).
   */
  acceptDefault?: boolean;
}

const MAX_AS = 4294967295;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(v: Record<string, unknown>, allowed: string[], at: string): void {
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new FieldProblem(`${at}${k}: unknown field (known: ${allowed.join(", ")})`);
    }
  }
}

function asNumberOf(raw: unknown, at: string): number {
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 1 || raw > MAX_AS) {
    throw new FieldProblem(`${at}must be an AS number from 1 to ${MAX_AS}, got ${show(raw)}`);
  }
  return raw;
}

function holdTimeOf(raw: unknown, at: string): number {
  if (typeof raw !== "number" || !validHoldTime(raw)) {
    throw new FieldProblem(`${at}must be 0 or from 3 to 65535 seconds, got ${show(raw)}`);
  }
  return raw;
}

function ruleOf(raw: unknown, at: string): PeerRule {
  if (raw === "all" || raw === "none") return raw;
  const bad = () =>
    new FieldProblem(
      `${at}must be all, none or a list of CIDRs like [10.0.0.0/8, 0.0.0.0/0], got ${show(raw)}`,
    );
  if (!Array.isArray(raw) || raw.length === 0) throw bad();
  for (const c of raw) {
    if (typeof c !== "string" || !c.includes("/") || !tryParseCidr(c)) throw bad();
  }
  return raw as string[];
}

function parsePeer(raw: unknown, i: number): PeerConfig {
  const at = `[${i}].`;
  if (!isRecord(raw)) {
    throw new FieldProblem(
      `[${i}] must be a map like {address: 192.168.77.254, asNumber: 65000}, got ${show(raw)}`,
    );
  }
  checkKeys(
    raw,
    ["address", "asNumber", "password", "holdTime", "import", "export", "acceptDefault"],
    at,
  );
  const ip = typeof raw.address === "string" ? tryParseIp(raw.address) : undefined;
  if (!ip) throw new FieldProblem(`${at}address must be an IP address, got ${show(raw.address)}`);
  if (raw.asNumber === undefined) throw new FieldProblem(`${at}asNumber is required`);
  const p: PeerConfig = {
    address: raw.address as string,
    asNumber: asNumberOf(raw.asNumber, `${at}asNumber `),
  };
  if (raw.password !== undefined) {
    const len = typeof raw.password === "string"
      ? new TextEncoder().encode(raw.password).length
      : 0;
    if (len < 1 || len > 80) {
      throw new FieldProblem(`${at}password must be a string of 1 to 80 bytes (TCP MD5 key)`);
    }
    p.password = raw.password as string;
  }
  if (raw.holdTime !== undefined) p.holdTime = holdTimeOf(raw.holdTime, `${at}holdTime `);
  if (raw.import !== undefined) p.import = ruleOf(raw.import, `${at}import `);
  if (raw.export !== undefined) p.export = ruleOf(raw.export, `${at}export `);
  if (raw.acceptDefault !== undefined) {
    if (typeof raw.acceptDefault !== "boolean") {
      throw new FieldProblem(
        `${at}acceptDefault must be true or false, got ${show(raw.acceptDefault)}`,
      );
    }
    p.acceptDefault = raw.acceptDefault;
  }
  return p;
}

const peersField: DefaultedField<PeerConfig[]> = {
  help:
    "extra BGP peers (ToR routers, external route reflectors): [{address, asNumber, password, holdTime, import, export, acceptDefault}]; an eBGP peer needs import/export (all, none or CIDRs: RFC 8212); never imported: this node's pod subnets and uplink networks, and a default route unless acceptDefault: true",
  arg: "LIST",
  default: [],
  parse(raw) {
    if (!Array.isArray(raw)) throw new FieldProblem(`must be a list of peers, got ${show(raw)}`);
    const peers = raw.map(parsePeer);
    const seen = new Set<string>();
    for (const p of peers) {
      if (seen.has(p.address)) throw new FieldProblem(`peer ${p.address} is listed twice`);
      seen.add(p.address);
    }
    return peers;
  },
};

const routeReflectorField: Field<{ clusterId: string }> = {
  help: "this node reflects routes for its iBGP peers (RFC 4456): {clusterId: 1.0.0.1}",
  arg: "MAP",
  parse(raw) {
    if (!isRecord(raw)) {
      throw new FieldProblem(`must be a map like {clusterId: 1.0.0.1}, got ${show(raw)}`);
    }
    checkKeys(raw, ["clusterId"], "");
    const ip = typeof raw.clusterId === "string" ? tryParseIp(raw.clusterId) : undefined;
    if (!ip || ip.family !== 4) {
      throw new FieldProblem(
        `clusterId must be an IPv4-style id like 1.0.0.1, got ${show(raw.clusterId)}`,
      );
    }
    return { clusterId: raw.clusterId as string };
  },
};

const gracefulRestartField: DefaultedField<{ restartTime: number }> = {
  help: "graceful restart (RFC 4724): peers keep this node's routes for restartTime seconds",
  arg: "MAP",
  default: { restartTime: 120 },
  defaultText: "{restartTime: 120}",
  parse(raw) {
    if (!isRecord(raw)) {
      throw new FieldProblem(`must be a map like {restartTime: 120}, got ${show(raw)}`);
    }
    checkKeys(raw, ["restartTime"], "");
    const t = raw.restartTime;
    if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > 4095) {
      throw new FieldProblem(
        `restartTime must be an integer from 0 to 4095 seconds, got ${show(t)}`,
      );
    }
    return { restartTime: t };
  },
};

function rule(r: PeerRule | undefined, ebgp: boolean): PrefixRule {
  if (r === undefined) return !ebgp;
  return r === "all" ? true : r === "none" ? false : r;
}

/**
 * A `peers` entry as the speaker's PeerSpec, with its explicit rule: `import`/`export` as
 * configured; without them an iBGP peer gets skein's rule (all) and an eBGP peer none (RFC
 * 8212), which `policyNote` says (logged, and shown by diagnose).
 */
export function configPeer(p: PeerConfig, i: number, localAs: number): PeerSpec {
  const ebgp = p.asNumber !== localAs;
  const missing = ebgp ? (["import", "export"] as const).filter((k) => p[k] === undefined) : [];
  const { import: imp, export: exp, acceptDefault, ...rest } = p;
  return {
    ...rest,
    policy: {
      import: rule(imp, ebgp),
      export: rule(exp, ebgp),
      ...(acceptDefault ? { acceptDefault: true } : {}),
    },
    source: "config",
    ...(missing.length
      ? {
        policyNote: `eBGP peer without ${missing.join("/")} rule: nothing ${
          missing.length === 2
            ? "is taken from or sent to it"
            : missing[0] === "import"
            ? "is taken from it"
            : "is sent to it"
        } (RFC 8212); set backend.peers[${i}].${missing.join(" / .")} to all, none or CIDRs`,
      }
      : {}),
  };
}

/** The bgp backend's fields, in the order `--help` lists them. */
export const BGP_FIELDS: {
  readonly asNumber: DefaultedField<number>;
  readonly nodeToNodeMesh: DefaultedField<boolean>;
  readonly peers: DefaultedField<PeerConfig[]>;
  readonly routeReflector: Field<{ clusterId: string }>;
  readonly port: DefaultedField<number>;
  readonly holdTime: DefaultedField<number>;
  readonly gracefulRestart: DefaultedField<{ restartTime: number }>;
  readonly encapsulation: DefaultedField<"none" | "ipip" | "vxlan">;
  readonly crossSubnet: DefaultedField<boolean>;
} = {
  asNumber: intField({
    min: 1,
    max: MAX_AS,
    default: 64512,
    help: "this node's AS number (4-octet allowed; Calico's default)",
  }),
  nodeToNodeMesh: boolField({
    default: true,
    help: "peer with every other node found in the datastore's leases (iBGP)",
  }),
  peers: peersField,
  routeReflector: routeReflectorField,
  port: intField({ min: 1, max: 65535, default: 179, help: "BGP TCP port (listen and connect)" }),
  holdTime: intField({
    min: 0,
    max: 65535,
    default: 90,
    help: "hold time in seconds (keepalive = holdTime/3; 0 = none)",
    check: (v) => validHoldTime(v) ? undefined : `must be 0 or from 3 to 65535 seconds, got ${v}`,
  }),
  gracefulRestart: gracefulRestartField,
  encapsulation: enumField(["none", "ipip", "vxlan"], {
    default: "none",
    help: "tunnel to other nodes over skein-ipip or skein.1 (none: plain routes)",
  }),
  crossSubnet: boolField({
    default: false,
    help: "with encapsulation: tunnel only to nodes off this node's subnet",
  }),
} as const;
