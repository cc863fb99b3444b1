/**
 * Config fields declared once as values: how to parse a raw YAML or flag value, the default,
 * the flag that also sets it and one line of help. The daemon's config (daemon/config.ts), the
 * backend registry (backends/registry.ts) and the datastore registry (store/registry.ts) declare
 * their fields with these, so parsing, validation messages and `--help` come from one table.
 *
 * A field's `parse()` throws FieldProblem with the problem only ("must be an integer from 1 to
 * 65535, got 0"); whoever parses a whole section adds the field's name (see parseSection()).
 *
 * @example
 * ```ts
 * import { intField } from "./fields.ts";
 * const port = intField({ min: 1, max: 65535, default: 8472, help: "UDP port" });
 * port.parse("4789"); // 4789 (flags arrive as strings)
 * ```
 *
 * @module
 */
import { canonicalCidr, tryParseCidr, tryParseIp } from "../net/cidr.ts";

/** What is wrong with one value; the message names the problem, not the field. */
export class FieldProblem extends TypeError {
  /** @param problem e.g. `must be true or false, got "yes"` */
  constructor(problem: string) {
    super(problem);
    this.name = "FieldProblem";
  }
}

/** One config field. */
export interface Field<T = unknown> {
  /** One line for `--help`. */
  readonly help: string;
  /** Placeholder for the value in `--help` ("CIDR", "N"); "" for a boolean flag. */
  readonly arg: string;
  /** The accepted values in `--help` ("1..65535", "debug | info | warn | error"), if few. */
  readonly values?: string;
  /** The value when the field is absent; without one the field stays absent. */
  readonly default?: T;
  /** How the default reads in `--help` when it is not a plain value ("the host name"). */
  readonly defaultText?: string;
  /** The flag (without "--") that sets the same field. */
  readonly flag?: string;
  /** When set, a missing field is an error with this problem text. */
  readonly required?: string;
  /** Parses a present (non-null) raw value; throws FieldProblem. */
  parse(raw: unknown): T;
}

/** A field that always has a value (it has a default). */
export type DefaultedField<T> = Field<T> & { readonly default: T };

/** Fields by name, in the order `--help` lists them. */
export type FieldTable = Readonly<Record<string, Field>>;

type ValueOf<F> = F extends Field<infer V> ? V : never;
type DefaultedKeys<T> = {
  [K in keyof T]: T[K] extends { readonly default: unknown } ? K : never;
}[keyof T];

/** The parsed values of a table: defaulted fields always present, the others optional. */
export type Settings<T extends FieldTable> =
  & { -readonly [K in DefaultedKeys<T>]: ValueOf<T[K]> }
  & { -readonly [K in Exclude<keyof T, DefaultedKeys<T>>]?: ValueOf<T[K]> };

/** Common options of the field constructors below. */
export interface FieldOptions<T> {
  help: string;
  default?: T;
  defaultText?: string;
  flag?: string;
  required?: string;
  /** Placeholder in `--help` (each constructor has its own default). */
  arg?: string;
  /** The accepted values in `--help` (integers and enums fill it in). */
  values?: string;
  /** A further check of the parsed value; returns the problem, or undefined when fine. */
  check?: (value: T) => string | undefined;
}

type Opts<T> = FieldOptions<T> & { default: T };

/** How a value reads in a message: strings quoted, absent as "nothing". */
export function show(v: unknown): string {
  return typeof v === "string"
    ? JSON.stringify(v)
    : v === undefined
    ? "nothing"
    : JSON.stringify(v) ?? String(v);
}

function make<T>(o: FieldOptions<T>, arg: string, parse: (raw: unknown) => T): Field<T> {
  const { check, ...rest } = o;
  return {
    ...rest,
    arg: o.arg ?? arg,
    parse(raw) {
      const v = parse(raw);
      const problem = check?.(v);
      if (problem !== undefined) throw new FieldProblem(problem);
      return v;
    },
  };
}

function parseString(raw: unknown): string {
  if (typeof raw !== "string" || raw === "") {
    throw new FieldProblem(`must be a non-empty string, got ${show(raw)}`);
  }
  return raw;
}

/** A non-empty string. */
export function stringField(o: Opts<string>): DefaultedField<string>;
export function stringField(o: FieldOptions<string>): Field<string>;
export function stringField(o: FieldOptions<string>): Field<string> {
  return make(o, "TEXT", parseString);
}

/** An integer in `min..max`; a string of digits (a flag) is read as a number. */
export function intField(o: Opts<number> & { min: number; max: number }): DefaultedField<number>;
export function intField(o: FieldOptions<number> & { min: number; max: number }): Field<number>;
export function intField(o: FieldOptions<number> & { min: number; max: number }): Field<number> {
  const { min, max, ...rest } = o;
  return make({ values: `${min}..${max}`, ...rest }, "N", (raw) => {
    const x = typeof raw === "string" && /^[0-9]+$/.test(raw) ? Number(raw) : raw;
    if (typeof x !== "number" || !Number.isInteger(x) || x < min || x > max) {
      throw new FieldProblem(`must be an integer from ${min} to ${max}, got ${show(raw)}`);
    }
    return x;
  });
}

/** true or false (a flag without a value). */
export function boolField(o: Opts<boolean>): DefaultedField<boolean>;
export function boolField(o: FieldOptions<boolean>): Field<boolean>;
export function boolField(o: FieldOptions<boolean>): Field<boolean> {
  return make(o, "", (raw) => {
    if (typeof raw !== "boolean") throw new FieldProblem(`must be true or false, got ${show(raw)}`);
    return raw;
  });
}

/** One of a fixed list of strings. */
export function enumField<const T extends string>(
  values: readonly T[],
  o: Opts<T>,
): DefaultedField<T>;
export function enumField<const T extends string>(
  values: readonly T[],
  o: FieldOptions<T>,
): Field<T>;
export function enumField<const T extends string>(
  values: readonly T[],
  o: FieldOptions<T>,
): Field<T> {
  return make({ values: values.join(" | "), ...o }, "X", (raw) => {
    const s = parseString(raw);
    if (!(values as readonly string[]).includes(s)) {
      throw new FieldProblem(`must be one of ${values.join(", ")}, got ${show(s)}`);
    }
    return s as T;
  });
}

/** A canonical CIDR of one family ("10.244.0.0/16"). */
export function cidrField(family: 4 | 6, o: FieldOptions<string>): Field<string> {
  const example = family === 4 ? "10.244.0.0/16" : "fd00:10:244::/56";
  return make(o, "CIDR", (raw) => {
    const s = parseString(raw);
    const c = tryParseCidr(s);
    if (!c || !s.includes("/")) {
      throw new FieldProblem(`must be an IPv${family} CIDR like ${example}, got ${show(s)}`);
    }
    if (c.family !== family) {
      throw new FieldProblem(`must be an IPv${family} network, got ${show(s)}`);
    }
    if (canonicalCidr(s) !== s) {
      throw new FieldProblem(`has host bits set: did you mean ${canonicalCidr(s)}?`);
    }
    return s;
  });
}

/** An address of one family. */
export function ipField(family: 4 | 6, o: FieldOptions<string>): Field<string> {
  return make(o, "IP", (raw) => {
    const s = parseString(raw);
    const a = tryParseIp(s);
    if (!a || a.family !== family) {
      throw new FieldProblem(`must be an IPv${family} address, got ${show(s)}`);
    }
    return s;
  });
}

/** A list of http(s) URLs: a YAML list, or one string split at commas (a flag). */
export function urlListField(o: Opts<string[]> & { example: string }): DefaultedField<string[]> {
  const { example, ...rest } = o;
  const f = make(rest, "URL,...", (raw) => {
    const list = typeof raw === "string"
      ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "")
      : raw;
    if (!Array.isArray(list) || list.some((e) => typeof e !== "string")) {
      throw new FieldProblem(`must be a list of URLs, got ${show(raw)}`);
    }
    for (const e of list as string[]) {
      let u: URL | undefined;
      try {
        u = new URL(e);
      } catch { /* below */ }
      if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
        throw new FieldProblem(`${show(e)} is not an http(s) URL like ${example}`);
      }
    }
    return list as string[];
  });
  return { ...f, default: o.default };
}

/** The problem of an invalid regular expression, or undefined. */
export function regexProblem(s: string): string | undefined {
  try {
    new RegExp(s);
    return undefined;
  } catch (e) {
    return `not a valid regular expression: ${(e as Error).message}`;
  }
}

/** The value's text in `--help`: "(default X)" or "". */
export function defaultHelp(f: Field): string {
  if (f.defaultText !== undefined) return ` (default: ${f.defaultText})`;
  const d = f.default;
  if (d === undefined || d === false || d === "" || (Array.isArray(d) && d.length === 0)) {
    return "";
  }
  return ` (default ${Array.isArray(d) ? d.join(",") : String(d)})`;
}
