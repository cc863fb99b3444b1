/**
 * The one error type for kernel failures.
 *
 * @module
 */

/** errno numbers skein names (Linux x86_64/aarch64 values). */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  20: "ENOTDIR",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  34: "ERANGE",
  61: "ENODATA",
  71: "EPROTO",
  90: "EMSGSIZE",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  113: "EHOSTUNREACH",
};

/** Short human explanations for the errnos operators meet most. */
const ERRNO_HINTS: Readonly<Record<string, string>> = {
  EEXIST: "already exists",
  ENODEV: "no such device",
  ENOENT: "no such entry",
  ENETUNREACH: "nexthop not on a connected network",
  EPERM: "operation not permitted",
  EOPNOTSUPP: "not supported by this kernel",
  EADDRNOTAVAIL: "address not available",
  EBUSY: "resource busy",
  EINVAL: "invalid argument",
  ESRCH: "no such entry",
  ENOBUFS: "no buffer space",
  EAFNOSUPPORT: "address family not supported",
};

/** A failed kernel call: the errno, its name, and the kernel's extended-ack text if any. */
export class NetlinkError extends Error {
  /** Positive errno. */
  readonly errno: number;
  /** "EEXIST", "ENODEV", ... or "E<n>" when unnamed. */
  readonly code: string;
  /** NLMSGERR_ATTR_MSG text, when the kernel sent one. */
  readonly extack?: string;

  /**
   * @param operation what was attempted, e.g. "Cannot add route 10.244.2.0/24 via 192.168.1.48"
   */
  constructor(operation: string, errno: number, extack?: string, options?: ErrorOptions) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    const why = extack
      ? `${code} (${extack})`
      : ERRNO_HINTS[code]
      ? `${code} (${ERRNO_HINTS[code]})`
      : code;
    super(`${operation}: kernel returned ${why}`, options);
    this.name = "NetlinkError";
    this.errno = errno;
    this.code = code;
    this.extack = extack;
  }
}

/** True when `e` is a NetlinkError with one of the given codes. */
export function isNetlinkError(e: unknown, ...codes: string[]): e is NetlinkError {
  return e instanceof NetlinkError && (codes.length === 0 || codes.includes(e.code));
}
