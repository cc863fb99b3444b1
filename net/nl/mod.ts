/**
 * Netlink bytes: attributes, messages, and rtnetlink builders/decoders. No FFI, no I/O.
 *
 * @module
 */
export * from "./attr.ts";
export * from "./writer.ts";
export * from "./message.ts";
export * from "./ifname.ts";
export * from "./link.ts";
export * from "./addr.ts";
export * from "./route.ts";
export * from "./neigh.ts";
export * from "./neightbl.ts";
export * from "./rule.ts";
export * from "./netconf.ts";
export * as consts from "./consts.ts";
export * as schemas from "./schemas.ts";
