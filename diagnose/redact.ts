/**
 * Credential redaction for the bundle: passwords in URLs (`http://user:secret@host`), the values
 * of fields whose names say they hold secrets (password, token, secret, key, cert, credential,
 * in YAML, JSON or KEY=VALUE form) and bearer tokens. Applied to every text file of the bundle.
 *
 * @module
 */

/** What replaces a secret. */
export const REDACTED = "***REDACTED***";

const SECRET_KEY = String
  .raw`[A-Za-z0-9_.-]*(?:password|passwd|token|secret|credential|apikey|api_key|private[_-]?key|cert[_-]?file|key[_-]?file|ca[_-]?file|auth)[A-Za-z0-9_.-]*`;

/** `text` with every credential replaced by REDACTED. */
export function redact(text: string): string {
  return text
    // scheme://user:password@host
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^/\s:@"']+:)[^@\s"'/]+@/gi, `$1${REDACTED}@`)
    // "key": "value" (JSON)
    .replace(
      new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*)"(?:[^"\\]|\\.)*"`, "gi"),
      `$1"${REDACTED}"`,
    )
    // key: value (YAML) and KEY=VALUE (env)
    .replace(
      new RegExp(String.raw`^(\s*-?\s*${SECRET_KEY}\s*[:=]\s*)(?!\s*$)(.+)$`, "gim"),
      `$1${REDACTED}`,
    )
    // Authorization: Bearer xyz
    .replace(/(bearer\s+)[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`);
}
