import { assertEquals, assertStringIncludes, assertThrows } from "../testing/assert.ts";
import { backendNames } from "../backends/registry.ts";
import { datastoreNames } from "../store/registry.ts";
import {
  buildConfig,
  ConfigError,
  configFields,
  loadConfig,
  parseDaemonArgs,
  parseListen,
} from "./config.ts";
import { configHelp } from "./config_help.ts";

const H = { hostname: "host1" };

Deno.test("buildConfig() fills defaults from an empty file", () => {
  const c = buildConfig("", {}, H);
  assertEquals(c, {
    name: "host1",
    subnetLen: 24,
    subnetLen6: 64,
    backend: { type: "vxlan" },
    datastore: {
      type: "file",
      dir: "/var/lib/skein/leases",
      endpoints: [],
      prefix: "/coreos.com/network",
      kubeconfig: "",
      namespace: "",
      configMap: "skein-config",
      configCache: 30,
      ttl: 86400,
    },
    listen: "127.0.0.1:9472",
    ipMasq: false,
    leaseFile: "/run/skein/subnet.json",
    subnetEnv: "/run/skein/subnet.env",
    cniSocket: "/run/skein/cni.sock",
    stateDir: "/var/lib/skein",
    logLevel: "info",
    reconcileInterval: 10,
    kernelEvents: true,
    driftGrace: 10,
    leaseGrace: 300,
    releaseOnExit: false,
  });
});

Deno.test("buildConfig() puts the CNI socket beside the lease file unless told", () => {
  const beside = buildConfig("network: 10.244.0.0/16\nleaseFile: /tmp/n1/subnet.json\n", {}, {
    hostname: "n1",
  });
  assertEquals(beside.cniSocket, "/tmp/n1/cni.sock");
  const off = buildConfig("network: 10.244.0.0/16\n", { cniSocket: "none" }, { hostname: "n1" });
  assertEquals(off.cniSocket, "none");
});

Deno.test("buildConfig() reads a full file (the shape the lab writes)", () => {
  const c = buildConfig(
    `
name: lab-n1
network: 10.244.0.0/16
network6: fd00:10:244::/56
subnetLen: 24
subnetMin: 10.244.10.0
subnetMax: 10.244.20.0
backend: { type: host-gw }
datastore:
  type: etcd
  endpoints: [http://127.0.0.1:2379, "http://127.0.0.2:2379"]
  prefix: /skein-lab/x/network
  ttl: 30
iface: eth0
publicIP: 192.168.1.10
netns: lab-n1
listen: 127.0.0.1:19000
leaseFile: /tmp/x/subnet.json
subnetEnv: /tmp/x/subnet.env
stateDir: /tmp/x/state
reconcileInterval: 5
ipMasq: true
logLevel: debug
`,
    {},
    H,
  );
  assertEquals(c.name, "lab-n1");
  assertEquals(c.network6, "fd00:10:244::/56");
  assertEquals(c.backend, { type: "host-gw" });
  assertEquals(c.datastore.endpoints, ["http://127.0.0.1:2379", "http://127.0.0.2:2379"]);
  assertEquals(c.datastore.ttl, 30);
  assertEquals(c.netns, "/run/netns/lab-n1");
  assertEquals([c.subnetMin, c.subnetMax, c.ipMasq, c.logLevel], [
    "10.244.10.0",
    "10.244.20.0",
    true,
    "debug",
  ]);
});

Deno.test("flags override the file and are named in errors", () => {
  const a = parseDaemonArgs([
    "--config",
    "/x.yaml",
    "--backend",
    "host-gw",
    "--node",
    "n9",
    "--etcd-endpoints",
    "http://a:1,http://b:2",
    "--datastore",
    "etcd",
    "--ip-masq",
  ]);
  assertEquals(a.configFile, "/x.yaml");
  const c = buildConfig("backend: {type: vxlan}\nname: n1\n", a.overrides, H);
  assertEquals([c.backend.type, c.name, c.datastore.type, c.ipMasq], [
    "host-gw",
    "n9",
    "etcd",
    true,
  ]);
  assertEquals(c.datastore.endpoints, ["http://a:1", "http://b:2"]);
  const e = assertThrows(
    () => buildConfig("", parseDaemonArgs(["--backend", "vxlam"]).overrides, H),
    ConfigError,
  );
  assertEquals(e.message, `--backend: must be one of ${backendNames().join(", ")}, got "vxlam"`);
  assertThrows(() => parseDaemonArgs(["--bogus"]), ConfigError, "--bogus");
  assertThrows(() => parseDaemonArgs(["--node"]), ConfigError, "flags");
});

const bad: [string, string][] = [
  [
    "backend:\n  type: vxlam\n",
    `config.backend.type: must be one of ${backendNames().join(", ")}, got "vxlam"`,
  ],
  ["netwrok: 10.0.0.0/8\n", `config: unknown field "netwrok"`],
  ["backend: {type: vxlan, vnid: 3}\n", `config.backend: unknown field "vnid"`],
  ["datastore: {type: file, ttl: 1}\n", "config.datastore.ttl: must be an integer from 2"],
  [
    "datastore: {type: zookeeper}\n",
    `config.datastore.type: must be one of ${datastoreNames().join(", ")}, got "zookeeper"`,
  ],
  ["datastore: {type: etcd}\n", "config.datastore.endpoints: is required for the etcd datastore"],
  [
    "datastore: {type: etcd, endpoints: [ftp://x]}\n",
    `config.datastore.endpoints: "ftp://x" is not an http(s) URL`,
  ],
  [
    "datastore: {type: etcd, endpoints: [http://x:1], prefix: nope}\n",
    `config.datastore.prefix: must start with "/"`,
  ],
  ["network: 10.244.0.0\n", "config.network: must be an IPv4 CIDR"],
  ["network: 10.244.1.0/16\n", "config.network: has host bits set: did you mean 10.244.0.0/16?"],
  ["network: fd00::/48\n", "config.network: must be an IPv4 network"],
  ["network6: 10.0.0.0/8\n", "config.network6: must be an IPv6 network"],
  [
    "network: 10.244.0.0/16\nsubnetLen: 16\n",
    "config.subnetLen: /16 must be longer than the network's /16",
  ],
  [
    "network: 10.244.0.0/16\nsubnetLen: 31\n",
    "config.subnetLen: must be an integer from 8 to 30, got 31",
  ],
  ["subnetLen: twenty\n", `config.subnetLen: must be an integer from 8 to 30, got "twenty"`],
  [
    "network: 10.244.0.0/16\nsubnetMin: 10.245.0.0\n",
    "config.subnetMin: 10.245.0.0 is outside network 10.244.0.0/16",
  ],
  [
    "network: 10.244.0.0/16\nsubnetMin: 10.244.0.7\n",
    "config.subnetMin: 10.244.0.7 is not the start of a /24 subnet",
  ],
  [
    "network: 10.244.0.0/16\nsubnetMin: 10.244.9.0\nsubnetMax: 10.244.8.0\n",
    "config.subnetMin: 10.244.9.0 is after subnetMax",
  ],
  ["subnetMin: 10.244.1.0\n", "config.subnetMin: needs network to be set"],
  ["backend: {type: host-gw, vni: 4}\n", "config.backend.vni: only applies to the vxlan backend"],
  [
    "backend: {type: vxlan, port: 70000}\n",
    "config.backend.port: must be an integer from 1 to 65535",
  ],
  ["backend: {type: vxlan, mtu: 100}\n", "config.backend.mtu: must be an integer from 576"],
  ["backend: vxlan\n", `config.backend: must be a mapping, got "vxlan"`],
  [
    "iface: eth0\nifaceRegex: ^en\n",
    "config.ifaceRegex: set only one of iface, ifaceRegex, ifaceCanReach",
  ],
  ["ifaceRegex: '(('\n", "config.ifaceRegex: not a valid regular expression"],
  ["ifaceCanReach: example.com\n", "config.ifaceCanReach: must be an IPv4 address"],
  ["publicIP: 300.1.1.1\n", "config.publicIP: must be an IPv4 address"],
  ["listen: 9472\n", "config.listen: must be a non-empty string, got 9472"],
  ["listen: '127.0.0.1'\n", "config.listen: must be HOST:PORT"],
  [
    "logLevel: verbose\n",
    `config.logLevel: must be one of debug, info, warn, error, got "verbose"`,
  ],
  ["ipMasq: yes please\n", `config.ipMasq: must be true or false, got "yes please"`],
  ["name: 'bad name'\n", `config.name: "bad name" is not a valid node name`],
  ["- a\n- b\n", "config: must be a mapping of fields"],
  ["a: [\n", "config: not valid YAML"],
  ["reconcileInterval: 0\n", "config.reconcileInterval: must be an integer from 1 to 3600, got 0"],
];
for (const [text, msg] of bad) {
  Deno.test(`buildConfig() rejects ${JSON.stringify(text.trim())}`, () => {
    assertThrows(() => buildConfig(text, {}, H), ConfigError, msg);
  });
}

Deno.test("parseListen() accepts v4, v6 and names", () => {
  assertEquals(parseListen("127.0.0.1:9472"), { hostname: "127.0.0.1", port: 9472 });
  assertEquals(parseListen("[::1]:80"), { hostname: "::1", port: 80 });
  assertEquals(parseListen("localhost:80"), { hostname: "localhost", port: 80 });
  assertThrows(() => parseListen("x:99999"), ConfigError);
});

Deno.test("a field of another datastore is refused (it would be ignored)", () => {
  assertThrows(
    () => buildConfig("datastore: {type: file, prefix: /x}\n", {}, H),
    ConfigError,
    "config.datastore.prefix: only applies to the etcd datastore (datastore.type is file)",
  );
  assertThrows(
    () =>
      buildConfig("", parseDaemonArgs(["--store-dir", "/x", "--datastore", "etcd"]).overrides, H),
    ConfigError,
    "--store-dir: only applies to the file datastore",
  );
});

Deno.test("every backend and datastore of the tables is accepted, listed in --help and has a flag", () => {
  const help = configHelp();
  for (const b of backendNames()) {
    assertEquals(buildConfig(`backend: {type: ${b}}\n`, {}, H).backend, { type: b });
    assertStringIncludes(help, `      ${b} `);
  }
  for (const d of datastoreNames()) {
    const extra = d === "etcd" ? ", endpoints: [http://127.0.0.1:2379]" : "";
    assertEquals(buildConfig(`datastore: {type: ${d}${extra}}\n`, {}, H).datastore.type, d);
    assertStringIncludes(help, `      ${d} `);
  }
  assertStringIncludes(
    help,
    `--backend TYPE       ${backendNames().join(" | ")} (config backend.type`,
  );
  assertStringIncludes(help, "backend.vni           vxlan: VXLAN network identifier, 0..16777215");
  for (const c of configFields()) assertStringIncludes(help, `  ${c.path} `);
});

Deno.test("--help shows no empty default (an empty-string default is just left out)", () => {
  const help = configHelp();
  assertEquals(help.includes("default )") || help.includes("default: )"), false);
  assertStringIncludes(help, "(config datastore.kubeconfig)");
});

Deno.test("loadConfig(): a config file that is not there or is a directory is a ConfigError naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [file, why] of [[`${dir}/none.yaml`, "no such file"], [dir, "it is a directory"]]) {
      const e = await loadConfig(parseDaemonArgs(["--config", file!]), H).then(
        () => undefined,
        (e) => e,
      );
      assertEquals(e instanceof ConfigError, true);
      assertEquals((e as Error).message, `--config: cannot read ${file}: ${why}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("buildConfig(): the node name defaults to $NODE_NAME (a DaemonSet's downward API), else the host name", () => {
  const saved = Deno.env.get("NODE_NAME");
  try {
    Deno.env.set("NODE_NAME", "worker-7");
    assertEquals(buildConfig("", {}).name, "worker-7");
    assertEquals(buildConfig("name: other\n", {}).name, "other");
    Deno.env.delete("NODE_NAME");
    assertEquals(buildConfig("", {}, { hostname: "host-3" }).name, "host-3");
  } finally {
    if (saved === undefined) Deno.env.delete("NODE_NAME");
    else Deno.env.set("NODE_NAME", saved);
  }
});
