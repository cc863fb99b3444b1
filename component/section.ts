/**
 * Parsing a mapping of fields against a FieldTable, and a "typed section" such as the daemon's
 * `backend: { type: vxlan, vni: 1 }` whose fields depend on its `type` (one table per kind, from
 * a registry).
 *
 * @module
 */
import { type Field, FieldProblem, type FieldTable, type Settings } from "./fields.ts";

/** Reports a problem with field `key` of the section being parsed; never returns. */
export type FailFn = (key: string, problem: string) => never;

/** Throws (through `fail`) when `obj` holds a field not in `known`. */
export function rejectUnknown(
  obj: Record<string, unknown>,
  known: readonly string[],
  fail: (problem: string) => never,
): void {
  const bad = Object.keys(obj).filter((k) => !known.includes(k));
  if (bad.length === 0) return;
  fail(
    `unknown field${bad.length > 1 ? "s" : ""} ${bad.map((b) => JSON.stringify(b)).join(", ")} ` +
      `(known: ${known.join(", ")})`,
  );
}

/** Parses one present value of `field`, reporting a FieldProblem through `fail`. */
export function parseValue<T>(field: Field<T>, key: string, raw: unknown, fail: FailFn): T {
  try {
    return field.parse(raw);
  } catch (e) {
    if (e instanceof FieldProblem) fail(key, e.message);
    throw e;
  }
}

/**
 * Parses every field of `table` from `obj` (null counts as absent): present values are
 * parsed, absent ones get their default (or stay absent; all do with `defaults: false`); a
 * missing `required` field fails.
 */
export function parseFields<T extends FieldTable>(
  obj: Record<string, unknown>,
  table: T,
  fail: FailFn,
  opts: { defaults?: boolean } = {},
): Settings<T> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(table)) {
    const raw = obj[key];
    if (raw !== undefined && raw !== null) out[key] = parseValue(field, key, raw, fail);
    else if (field.required !== undefined) fail(key, field.required);
    else if (field.default !== undefined && opts.defaults !== false) {
      out[key] = structuredClone(field.default);
    }
  }
  return out as Settings<T>;
}

/** The kinds a typed section chooses from, e.g. the backends of backends/registry.ts. */
export interface SectionKinds {
  /** "backend" or "datastore", for messages. */
  what: string;
  /** The `type` field (its values are the kind names). */
  type: Field<string>;
  /** Fields every kind has (backend mtu, datastore ttl). */
  common: FieldTable;
  /** Each kind's own fields. */
  kinds: Readonly<Record<string, FieldTable>>;
}

/** Every field name a typed section knows: type, the common fields, then each kind's. */
export function sectionFieldNames(s: SectionKinds): string[] {
  const names = ["type", ...Object.keys(s.common)];
  for (const t of Object.values(s.kinds)) {
    for (const k of Object.keys(t)) if (!names.includes(k)) names.push(k);
  }
  return names;
}

/**
 * Parses a typed section: unknown fields fail, `type` picks the kind, a field of another kind
 * fails ("only applies to the vxlan backend"), then the common fields and the kind's own are
 * parsed. `defaults` says whose defaults are filled in: "all" kinds', the chosen kind's
 * ("own"), or "none" (the kind fills them itself, e.g. a backend from its table entry).
 */
export function parseTypedSection(
  obj: Record<string, unknown>,
  s: SectionKinds,
  fail: FailFn,
  opts: { defaults: "all" | "own" | "none"; failSection: (problem: string) => never },
): Record<string, unknown> & { type: string } {
  rejectUnknown(obj, sectionFieldNames(s), opts.failSection);
  const type = obj.type === undefined || obj.type === null
    ? s.type.default ?? fail("type", "is required")
    : parseValue(s.type, "type", obj.type, fail);
  const own = s.kinds[type] ?? {};
  for (const key of Object.keys(obj)) {
    if (key === "type" || key in s.common || key in own) continue;
    const owners = Object.entries(s.kinds).filter(([, t]) => key in t).map(([n]) => n);
    fail(
      key,
      `only applies to the ${owners.join(", ")} ${s.what}${owners.length > 1 ? "s" : ""} ` +
        `(${s.what}.type is ${type})`,
    );
  }
  const out: Record<string, unknown> & { type: string } = { type };
  if (opts.defaults === "all") {
    for (const [name, table] of Object.entries(s.kinds)) {
      if (name !== type) Object.assign(out, parseFields({}, withoutRequired(table), fail));
    }
  }
  const defaults = opts.defaults !== "none";
  Object.assign(
    out,
    parseFields(obj, s.common, fail, { defaults }),
    parseFields(obj, own, fail, { defaults }),
  );
  return out;
}

function withoutRequired(t: FieldTable): FieldTable {
  return Object.fromEntries(
    Object.entries(t).map(([k, f]) => [k, { ...f, required: undefined }]),
  );
}
