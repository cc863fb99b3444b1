import { assertEquals, assertThrows } from "../testing/assert.ts";
import { isOwnNetns, netnsExists } from "./netns.ts";

Deno.test("netnsExists() takes a name or a path; only a file can be a namespace", () => {
  assertEquals(netnsExists("/proc/self/ns/net"), true);
  assertEquals(netnsExists(`/proc/${Deno.pid}/ns/net`), true);
  assertEquals(netnsExists("/proc"), false, "a directory");
  assertEquals(netnsExists("/nonexistent/ns"), false);
  assertEquals(netnsExists("no-such-namespace-here"), false);
  assertThrows(() => netnsExists(".."), TypeError);
});

Deno.test("isOwnNetns() recognises this process's namespace by device and inode", () => {
  assertEquals(isOwnNetns("/proc/self/ns/net"), true);
  assertEquals(isOwnNetns(`/proc/${Deno.pid}/ns/net`), true);
  assertEquals(isOwnNetns("/proc/self/ns/mnt"), false);
  assertEquals(isOwnNetns("/nonexistent"), false);
});
