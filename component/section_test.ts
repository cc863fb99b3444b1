import { assertEquals, assertThrows } from "../testing/assert.ts";
import { enumField, intField, stringField } from "./fields.ts";
import { parseFields, parseTypedSection, type SectionKinds } from "./section.ts";

const fail = (k: string, p: string): never => {
  throw new Error(`${k}: ${p}`);
};

Deno.test("parseFields() parses, fills defaults, reads digit strings and names the field", () => {
  const table = {
    port: intField({ min: 1, max: 65535, default: 8472, help: "port" }),
    name: stringField({ help: "name" }),
  };
  assertEquals(parseFields({}, table, fail), { port: 8472 });
  assertEquals(parseFields({ port: "4789", name: "a" }, table, fail), { port: 4789, name: "a" });
  assertEquals<unknown>(parseFields({}, table, fail, { defaults: false }), {});
  assertThrows(
    () => parseFields({ port: 0 }, table, fail),
    Error,
    "port: must be an integer from 1 to 65535, got 0",
  );
});

const kinds: SectionKinds = {
  what: "backend",
  type: enumField(["a", "b", "c"], { default: "a", help: "" }),
  common: { mtu: intField({ min: 576, max: 9000, help: "mtu" }) },
  kinds: {
    a: {},
    b: { vni: intField({ min: 0, max: 9, default: 1, help: "vni" }) },
    c: {
      vni: intField({ min: 0, max: 9, default: 2, help: "vni" }),
      asn: intField({ min: 1, max: 9, help: "asn", required: "is required for c" }),
    },
  },
};
const failSection = (p: string): never => {
  throw new Error(`section: ${p}`);
};

Deno.test("parseTypedSection() takes the kind's fields and refuses another kind's", () => {
  assertEquals(parseTypedSection({}, kinds, fail, { defaults: "own", failSection }), { type: "a" });
  assertEquals(
    parseTypedSection({ type: "b", mtu: 1400 }, kinds, fail, { defaults: "own", failSection }),
    { type: "b", mtu: 1400, vni: 1 },
  );
  assertEquals(
    parseTypedSection({ type: "b" }, kinds, fail, { defaults: "none", failSection }),
    { type: "b" },
  );
  assertThrows(
    () => parseTypedSection({ vni: 3 }, kinds, fail, { defaults: "own", failSection }),
    Error,
    "vni: only applies to the b, c backends (backend.type is a)",
  );
  assertThrows(
    () => parseTypedSection({ type: "c" }, kinds, fail, { defaults: "own", failSection }),
    Error,
    "asn: is required for c",
  );
  assertThrows(
    () => parseTypedSection({ vnid: 1 }, kinds, fail, { defaults: "own", failSection }),
    Error,
    `section: unknown field "vnid" (known: type, mtu, vni, asn)`,
  );
});

Deno.test("parseTypedSection() with defaults 'all' fills every kind's defaults, never requires", () => {
  assertEquals(
    parseTypedSection({ type: "a" }, kinds, fail, { defaults: "all", failSection }),
    { type: "a", vni: 2 },
  );
});
