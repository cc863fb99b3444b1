/**
 * Integration (root): namespaces created by skein behave like `ip netns add` ones; withNetns,
 * sysctl and openHandle({ netns }) act inside them and leave the caller where it was.
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "../testing/assert.ts";
import {
  NetlinkError,
  netnsAdd,
  netnsDel,
  netnsExists,
  netnsList,
  netnsPath,
  openHandle,
  sysctlGet,
  sysctlSet,
  withNetns,
} from "../net/mod.ts";
import { nsName, testPrefix, withNamespaces } from "./_netns.ts";
import { ip, ipj } from "./net_oracle.ts";

function ipNetnsList(): string[] {
  const out = new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.split(" ")[0]!).filter(
    Boolean,
  );
}

function selfNetInode(): number {
  return Deno.statSync("/proc/thread-self/ns/net").ino!;
}

Deno.test("netnsAdd() makes a namespace ip netns knows; netnsDel() removes it", () => {
  const name = nsName("add");
  const path = netnsAdd(name);
  try {
    assertEquals(path, `/run/netns/${name}`);
    assertEquals(netnsPath(name), path);
    assert(ipNetnsList().includes(name), "ip netns list shows it");
    assert(netnsList().includes(name));
    assert(netnsExists(name));
    // A real, separate namespace: only lo, and a different inode than ours.
    assertEquals(ipj(path, "link", "show").map((l: { ifname: string }) => l.ifname), ["lo"]);
    assertNotEquals(Deno.statSync(path).ino, selfNetInode());
    const dup = assertThrows(() => netnsAdd(name), NetlinkError);
    assertEquals(dup.code, "EEXIST");
    assertStringIncludes(
      dup.message,
      `Cannot create network namespace ${name}: kernel returned EEXIST`,
    );
  } finally {
    netnsDel(name);
  }
  assert(!ipNetnsList().includes(name));
  assert(!netnsExists(name));
  assertThrows(() => netnsDel(name), NetlinkError, "ENOENT");
  assertThrows(() => netnsAdd("../etc"), TypeError, 'no "/"');
  assertThrows(() => netnsAdd(""), TypeError);
});

Deno.test("withNetns() runs synchronous code inside and always switches back", async () => {
  await withNamespaces(["w"], (ns) => {
    const mine = selfNetInode();
    const inside = withNetns(ns.w!, () => selfNetInode());
    assertEquals(inside, Deno.statSync(ns.w!).ino);
    assertEquals(selfNetInode(), mine);
    assertThrows(
      () =>
        withNetns(ns.w!, () => {
          throw new RangeError("boom");
        }),
      RangeError,
      "boom",
    );
    assertEquals(selfNetInode(), mine, "back after a throw");
    assertThrows(() => withNetns(ns.w!, () => Promise.resolve(1)), TypeError, "synchronous");
    assertEquals(selfNetInode(), mine);
    assertThrows(() => withNetns("/run/netns/does-not-exist-sk", () => 1), NetlinkError, "ENOENT");
    assertEquals(selfNetInode(), mine);
  });
});

Deno.test("sysctlSet()/sysctlGet() inside a namespace do not touch the host's value", async () => {
  await withNamespaces(["s"], (ns) => {
    const host = sysctlGet("net.ipv4.ip_forward");
    const want = host === "1" ? "0" : "1";
    sysctlSet("net.ipv4.ip_forward", want, { netns: ns.s! });
    assertEquals(sysctlGet("net.ipv4.ip_forward", { netns: ns.s! }), want);
    const out = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        ns.s!.replace("/run/netns/", ""),
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
      ],
      stdout: "piped",
    }).outputSync();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), want);
    assertEquals(sysctlGet("net.ipv4.ip_forward"), host);
    assertEquals(sysctlGet("net/ipv4/conf/lo/forwarding", { netns: ns.s! }), want);
    assertThrows(
      () => sysctlGet("net.ipv4.no_such_knob", { netns: ns.s! }),
      Error,
      "Cannot read sysctl net.ipv4.no_such_knob",
    );
    assertThrows(() => sysctlSet("../../etc/passwd", 1), TypeError);
  });
});

Deno.test("openHandle({ netns }) keeps its socket in that namespace; handles by path, name and pid agree", async () => {
  await withNamespaces(["h"], (ns) => {
    const name = ns.h!.replace("/run/netns/", "");
    using byPath = openHandle({ netns: ns.h! });
    using byName = openHandle({ netns: name });
    byPath.linkAdd({ kind: "bridge", name: "skbr0" });
    assertEquals(byName.linkGet("skbr0").name, "skbr0");
    assert(ipj(ns.h!, "link", "show").some((l: { ifname: string }) => l.ifname === "skbr0"));
    using host = openHandle();
    assertEquals(host.linkFind("skbr0"), undefined, "not in the caller's namespace");
    using self = openHandle({ netns: Deno.pid });
    assertEquals(self.linkFind("skbr0"), undefined);
    byName.close();
    byName.close(); // idempotent
    assertThrows(() => byName.linkList(), Error, "closed");
    ip(ns.h!, "link", "del", "skbr0");
    assertEquals(byPath.linkFind("skbr0"), undefined);
  });
});

Deno.test("withNamespaces() deletes its namespaces even when the body throws", async () => {
  let seen: string[] = [];
  await withNamespaces(["x", "y"], (ns) => {
    seen = Object.values(ns);
    throw new Error("test body failed");
  }).then(
    () => {
      throw new Error("should have rejected");
    },
    (e) => assertEquals((e as Error).message, "test body failed"),
  );
  assertEquals(seen.length, 2);
  for (const p of seen) assert(!netnsExists(p.replace("/run/netns/", "")), `${p} is gone`);
  assertEquals(netnsList().filter((n) => n.startsWith(`${testPrefix()}-`)), []);
});
