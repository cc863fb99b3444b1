/**
 * CNI error codes and the typed error every CNI/IPAM failure is raised as.
 * Printed on stdout as `{"cniVersion","code","msg","details"}` by the CNI entry point.
 *
 * @module
 */

/** Well-known error codes from the CNI spec (SPEC.md, "Error"). */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** Not in the spec's reserved range: a generic plugin failure (>= 100 are plugin-specific). */
  Internal: 100,
} as const;

/** A CNI error code. */
export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/** A CNI failure with its spec code; `msg` is short, `details` says why. */
export class CniError extends Error {
  readonly code: number;
  readonly details?: string;

  constructor(code: number, msg: string, details?: string, options?: ErrorOptions) {
    super(msg, options);
    this.name = "CniError";
    this.code = code;
    this.details = details;
  }

  /** The spec's JSON error object. */
  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}
