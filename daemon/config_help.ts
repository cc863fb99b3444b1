/**
 * The config part of `skein daemon --help`, generated from the field tables (daemon/config.ts,
 * backends/registry.ts, store/registry.ts): the flags, then every config file field.
 *
 * @module
 */
import { defaultHelp } from "../component/fields.ts";
import { backendDefinition } from "../backends/registry.ts";
import { datastoreDefinition } from "../store/registry.ts";
import { type ConfigFieldInfo, configFields } from "./config.ts";

const COL = 27;

function pad(left: string, width = COL): string {
  return left.length < width ? left.padEnd(width) : `${left} `;
}

/** "help: values", or whichever of the two there is. */
function describe(field: ConfigFieldInfo["field"], sep: string): string {
  return [field.help, field.values].filter((x) => x).join(sep);
}

function flagLine({ path, field }: ConfigFieldInfo): string {
  const dflt = defaultHelp(field).replace(/^ \(default:? (.*)\)$/, "; default $1");
  return pad(`      --${field.flag}${field.arg ? ` ${field.arg}` : ""}`) +
    `${describe(field, ": ")} (config ${path}${dflt})`;
}

function fieldLine({ path, field, only }: ConfigFieldInfo): string {
  const flag = field.flag ? ` [--${field.flag}]` : "";
  return pad(`  ${path}`, 24) + `${only ? `${only}: ` : ""}${describe(field, ", ")}` +
    `${defaultHelp(field)}${flag}`;
}

/** The kinds of a `type` field with their one-line summaries. */
function kindLines(path: string): string[] {
  const names = path === "backend.type" ? "backend" : path === "datastore.type" ? "datastore" : "";
  if (!names) return [];
  const field = configFields().find((c) => c.path === path)!.field;
  return (field.values ?? "").split(" | ").map((n) => {
    const d = names === "backend" ? backendDefinition(n) : datastoreDefinition(n);
    return pad(`      ${n}`, 24) + (d?.summary ?? "");
  });
}

/** The flags and config-file sections of `skein daemon --help`. */
export function configHelp(): string {
  const fields = configFields();
  const flags = fields.filter((c) => c.field.flag).map(flagLine);
  const lines = fields.flatMap((c) => [fieldLine(c), ...kindLines(c.path)]);
  return [
    "Flags (each overrides the same field of the config file):",
    pad("  -c, --config FILE") + "YAML config file",
    ...flags,
    pad("      --dry-run") + "print what the daemon would change on this node and exit: no lease " +
    "taken, nothing changed",
    pad("      --json") + "with --dry-run: the plan as JSON",
    pad("  -h, --help") + "this help",
    "",
    "Config file fields (YAML; [--flag] sets the same field):",
    ...lines,
  ].join("\n");
}
