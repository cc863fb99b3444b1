/**
 * A strict-enough parser of the Prometheus text format, for tests of `/metrics`: every line must
 * be a HELP/TYPE comment or a sample of a declared metric.
 *
 * @module
 */

/** Parses exposition text into "name{labels}" → value; throws SyntaxError on a bad line. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(
      line,
    );
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/
        .exec(line);
    if (!m) throw new SyntaxError(`Bad metrics line: ${line}`);
    const base = m[1]!.replace(/_(bucket|sum|count)$/, "");
    if (!types.has(m[1]!) && !types.has(base)) throw new SyntaxError(`No TYPE for ${m[1]}`);
    out.set(m[1]! + (m[2] ?? ""), Number(m[3]!.replace("+Inf", "Infinity")));
  }
  return out;
}
