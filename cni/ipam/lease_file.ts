/**
 * The node lease file for `"subnet": "auto"`, read with node/lease_file.ts (the one schema the
 * daemon writes) and its errors turned into the CNI codes a runtime acts on.
 *
 * @module
 */
import {
  DEFAULT_LEASE_FILE,
  LeaseFileError,
  MAX_LEASE_FILE_BYTES,
  type NodeLease,
  readLeaseFile as readNodeLeaseFile,
} from "../../node/lease_file.ts";
import { CniCode, CniError } from "../errors.ts";

export { DEFAULT_LEASE_FILE, MAX_LEASE_FILE_BYTES };

function cniError(e: LeaseFileError): CniError {
  switch (e.problem) {
    case "missing":
      return new CniError(
        CniCode.TryAgainLater,
        `Node subnet not assigned yet: lease file ${e.path} does not exist`,
        "`skein daemon` writes it once it has leased this node's pod subnet; is it running?",
      );
    case "corrupt":
      return new CniError(
        CniCode.DecodeFailure,
        e.message,
        "the file is written by `skein daemon`; rewrite it or restart the daemon",
      );
    case "io":
      return new CniError(CniCode.IoFailure, e.message, undefined, { cause: e.cause });
  }
}

/**
 * Reads the node lease file. A missing file means the daemon has not leased a subnet yet:
 * CniError 11 (try again later) so the runtime retries the pod instead of failing it for good.
 * Anything but a regular file of at most 64 KiB (a directory, FIFO, device, a huge file) or a
 * bad value is refused with CniError 6 (naming the field) without reading it; other read errors
 * are CniError 5.
 */
export function readLeaseFile(path: string): NodeLease {
  try {
    return readNodeLeaseFile(path);
  } catch (e) {
    throw e instanceof LeaseFileError ? cniError(e) : e;
  }
}
