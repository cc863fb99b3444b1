/**
 * The content of a reservation file, as host-local writes it: `<containerID>\r\n<ifname>`.
 * Older host-local versions wrote only the container ID; a proposed JSON form
 * (`{"kind":"host-local-v1","value":{"id","if"}}`) is read too. Pure: no I/O. The CNI IPAM
 * writes and reads these files, `skein diagnose` audits them.
 *
 * @module
 */
import { isIfname } from "../net/nl/ifname.ts";

/** Whose reservation a file is: the attachment's container ID and interface name. */
export interface ReservationKey {
  containerId: string;
  ifName: string;
}

/** host-local's separator between container ID and interface name. */
export const LINE_BREAK = "\r\n";

/** What a reservation file says. */
export type ReservationRecord =
  /** `<id>\r\n<ifname>`: the current host-local format, which skein writes. */
  | { kind: "current"; id: string; ifName: string }
  /** `<id>` only: written by host-local before CNI 0.7; matches any interface of that container. */
  | { kind: "legacy"; id: string }
  /** Zero bytes: a writer died between creating and filling the file (host-local can do this). */
  | { kind: "empty" }
  /** Anything else; `reason` says what is wrong. */
  | { kind: "corrupt"; reason: string };

const DECODER = new TextDecoder("utf-8", { fatal: true });
// deno-lint-ignore no-control-regex
const BAD_CHARS = /[\x00-\x20\x7f]/;

/** Formats the record skein writes (byte-for-byte what host-local writes). */
export function formatReservation(a: ReservationKey): string {
  return a.containerId.trim() + LINE_BREAK + a.ifName;
}

/** Parses a reservation file's bytes. Never throws: bad content is `{ kind: "corrupt" }`. */
export function parseReservation(data: Uint8Array): ReservationRecord {
  if (data.length === 0) return { kind: "empty" };
  let text: string;
  try {
    text = DECODER.decode(data);
  } catch {
    return { kind: "corrupt", reason: "not UTF-8 text" };
  }
  if (text.startsWith("{")) {
    const json = parseJsonRecord(text);
    if (json) return json;
  }
  const trimmed = text.trim();
  if (trimmed === "") return { kind: "corrupt", reason: "only whitespace" };
  // host-local writes "\r\n"; a file edited or written by another tool may use "\n" or "\r".
  // Reading those as records keeps DEL and GC from treating a live attachment as garbage.
  const lines = trimmed.split(/\r\n|\n|\r/);
  if (lines.length > 2) return { kind: "corrupt", reason: `${lines.length} lines, expected 2` };
  const [id, ifName] = lines as [string, string | undefined];
  if (BAD_CHARS.test(id)) {
    return { kind: "corrupt", reason: "container ID contains whitespace or control characters" };
  }
  if (ifName === undefined) return { kind: "legacy", id };
  if (!isIfname(ifName) || BAD_CHARS.test(ifName)) {
    return { kind: "corrupt", reason: `invalid interface name ${JSON.stringify(ifName)}` };
  }
  return { kind: "current", id, ifName };
}

function parseJsonRecord(text: string): ReservationRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = v as { kind?: unknown; value?: { id?: unknown; if?: unknown } };
  if (o && o.kind === "host-local-v1") {
    const id = o.value?.id, ifName = o.value?.if;
    if (typeof id === "string" && id !== "" && typeof ifName === "string" && ifName !== "") {
      return { kind: "current", id, ifName };
    }
    return { kind: "corrupt", reason: "host-local-v1 record without string id and if" };
  }
  return { kind: "corrupt", reason: "JSON that is not a host-local-v1 record" };
}

/** True when the record belongs to the attachment (a legacy record matches any interface). */
export function recordMatches(rec: ReservationRecord, a: ReservationKey): boolean {
  const id = a.containerId.trim();
  if (rec.kind === "current") return rec.id === id && rec.ifName === a.ifName;
  if (rec.kind === "legacy") return rec.id === id;
  return false;
}

/**
 * What keeps `a` out of a reservation file: "containerId" when the container ID is empty or has
 * whitespace or control characters, "ifName" when the interface name is not a kernel interface
 * name or has them; undefined when the file format can hold it.
 */
export function reservationKeyProblem(a: ReservationKey): "containerId" | "ifName" | undefined {
  if (typeof a.containerId !== "string" || a.containerId === "" || BAD_CHARS.test(a.containerId)) {
    return "containerId";
  }
  if (!isIfname(a.ifName) || BAD_CHARS.test(a.ifName)) return "ifName";
  return undefined;
}
