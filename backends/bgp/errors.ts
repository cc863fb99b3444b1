/**
 * BGP's one error type: every decoding or protocol error carries the NOTIFICATION code and
 * subcode RFC 4271 (and RFCs 4486, 6793, 7313, 7606, 8538) prescribe, so the session that hit it
 * can send exactly that NOTIFICATION before it resets.
 *
 * @module
 */

/** NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313). */
export const NOTIFY = {
  HEADER: 1,
  OPEN: 2,
  UPDATE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

/** Message Header Error subcodes (RFC 4271 §6.1). */
export const HEADER_ERR = { NOT_SYNCHRONIZED: 1, BAD_LENGTH: 2, BAD_TYPE: 3 } as const;

/** OPEN Message Error subcodes (RFC 4271 §6.2, RFC 5492). */
export const OPEN_ERR = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_ID: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

/** UPDATE Message Error subcodes (RFC 4271 §6.3). */
export const UPDATE_ERR = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN: 2,
  MISSING_WELL_KNOWN: 3,
  ATTRIBUTE_FLAGS: 4,
  ATTRIBUTE_LENGTH: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** Cease subcodes (RFC 4486, RFC 8538). */
export const CEASE = {
  MAX_PREFIXES: 1,
  ADMIN_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMIN_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIG_CHANGE: 6,
  COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
} as const;

const CODE_NAMES: Readonly<Record<number, string>> = {
  1: "Message Header Error",
  2: "OPEN Message Error",
  3: "UPDATE Message Error",
  4: "Hold Timer Expired",
  5: "Finite State Machine Error",
  6: "Cease",
  7: "ROUTE-REFRESH Message Error",
};

const SUBCODE_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  1: { 1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type" },
  2: {
    1: "Unsupported Version Number",
    2: "Bad Peer AS",
    3: "Bad BGP Identifier",
    4: "Unsupported Optional Parameter",
    6: "Unacceptable Hold Time",
    7: "Unsupported Capability",
  },
  3: {
    1: "Malformed Attribute List",
    2: "Unrecognized Well-known Attribute",
    3: "Missing Well-known Attribute",
    4: "Attribute Flags Error",
    5: "Attribute Length Error",
    6: "Invalid ORIGIN Attribute",
    8: "Invalid NEXT_HOP Attribute",
    9: "Optional Attribute Error",
    10: "Invalid Network Field",
    11: "Malformed AS_PATH",
  },
  5: {
    1: "Receive Unexpected Message in OpenSent State",
    2: "Receive Unexpected Message in OpenConfirm State",
    3: "Receive Unexpected Message in Established State",
  },
  6: {
    1: "Maximum Number of Prefixes Reached",
    2: "Administrative Shutdown",
    3: "Peer De-configured",
    4: "Administrative Reset",
    5: "Connection Rejected",
    6: "Other Configuration Change",
    7: "Connection Collision Resolution",
    8: "Out of Resources",
    9: "Hard Reset",
  },
  7: { 1: "Invalid Message Length" },
};

/** "UPDATE Message Error / Malformed AS_PATH (3/11)": a NOTIFICATION's code pair for people. */
export function notificationName(code: number, subcode: number): string {
  const c = CODE_NAMES[code] ?? `code ${code}`;
  const s = SUBCODE_NAMES[code]?.[subcode];
  return s ? `${c} / ${s} (${code}/${subcode})` : `${c} (${code}/${subcode})`;
}

/**
 * A BGP protocol error: the NOTIFICATION (code, subcode, data) a session sends before it
 * resets. `message` says what was wrong for the log.
 */
export class BgpError extends Error {
  /** NOTIFICATION error code (1-7). */
  readonly code: number;
  /** NOTIFICATION error subcode (0 = unspecific). */
  readonly subcode: number;
  /** NOTIFICATION data (the offending field or attribute, as the RFC says). */
  readonly data: Uint8Array;

  constructor(code: number, subcode: number, reason: string, data?: Uint8Array) {
    super(`${notificationName(code, subcode)}: ${reason}`);
    this.name = "BgpError";
    this.code = code;
    this.subcode = subcode;
    this.data = data ?? new Uint8Array(0);
  }
}

/** Thrown by the encoders for a message that cannot be put on the wire (too long, bad address). */
export class BgpEncodeError extends RangeError {
  constructor(reason: string) {
    super(`Cannot encode BGP message: ${reason}`);
    this.name = "BgpEncodeError";
  }
}
