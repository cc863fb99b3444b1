/**
 * Reads a host-local style IPAM directory (`<dataDir>/<network>/<ip>` files holding
 * `<containerID>\r\n<ifname>`) without taking its lock or changing anything: the reservations
 * and the files that are not reservations.
 *
 * @module
 */
import { parseReservation, type ReservationRecord } from "../node/reservation_file.ts";
import { ipv4Number } from "./context.ts";

/** One reservation file. */
export interface Reservation {
  ip: string;
  record: ReservationRecord;
}

/** The directory's reservations (IPv4 and IPv6 file names), or why it cannot be read. */
export function readReservations(
  dir: string,
): { ok: true; list: Reservation[] } | { ok: false; error: string } {
  const list: Reservation[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile) continue;
      if (ipv4Number(e.name) === undefined && !e.name.includes(":")) continue;
      let data: Uint8Array;
      try {
        data = Deno.readFileSync(`${dir}/${e.name}`);
      } catch {
        continue; // released while we read
      }
      list.push({ ip: e.name, record: parseReservation(data) });
    }
  } catch (e) {
    return {
      ok: false,
      error: e instanceof Deno.errors.NotFound ? `${dir} does not exist` : (e as Error).message,
    };
  }
  list.sort((a, b) => (ipv4Number(a.ip) ?? 0) - (ipv4Number(b.ip) ?? 0));
  return { ok: true, list };
}

/** The container id of a reservation, if it has one. */
export function containerOf(r: ReservationRecord): string | undefined {
  return r.kind === "current" || r.kind === "legacy" ? r.id : undefined;
}
