/**
 * Structured logs: one logfmt line per event on stderr
 * (`ts=2026-11-22T03:04:05.123Z level=info msg="lease acquired" subnet=10.244.1.0/24`).
 *
 * @module
 */
import { LOG_LEVELS, type LogLevel } from "./config.ts";

/** Fields of one log event. */
export type LogFields = Record<string, unknown>;

/** A leveled structured logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** Formats one event as a logfmt line (no trailing newline). */
export function formatLogfmt(
  level: LogLevel,
  msg: string,
  fields: LogFields = {},
  now = new Date(),
): string {
  const parts = [`ts=${now.toISOString()}`, `level=${level}`, `msg=${quote(msg)}`];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const key = k.replace(/[^A-Za-z0-9_.-]/g, "_");
    const text = v instanceof Error
      ? v.message
      : typeof v === "object" && v !== null
      ? JSON.stringify(v)
      : String(v);
    parts.push(`${key}=${quote(text)}`);
  }
  return parts.join(" ");
}

function quote(s: string): string {
  return /^[^\s"=\\]+$/.test(s) ? s : JSON.stringify(s);
}

/** A logger writing lines at `level` or above to `write` (default: stderr). */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  },
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: LogLevel) => (msg: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(l) >= min) write(formatLogfmt(l, msg, fields));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
