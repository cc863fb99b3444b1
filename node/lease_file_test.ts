import { assertEquals, assertThrows } from "../testing/assert.ts";
import {
  gatewayForm,
  LeaseFileError,
  leaseFileText,
  parseLeaseJson,
  parseSubnetEnv,
  readLeaseFile,
  subnetEnvText,
  tryReadLeaseFile,
  writeLeaseFiles,
} from "./lease_file.ts";

const v4 = {
  node: "n1",
  network: "10.244.0.0/16",
  subnet: "10.244.1.0/24",
  mtu: 1450,
  ipMasq: true,
  backend: "vxlan",
};

Deno.test("subnet.env is flannel's format (FLANNEL_SUBNET in gateway form)", () => {
  assertEquals(
    subnetEnvText(v4),
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  assertEquals(
    subnetEnvText({
      ...v4,
      network6: "fd00:10:244::/56",
      subnet6: "fd00:10:244:1::/64",
      ipMasq: false,
    }),
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\n" +
      "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
  );
  assertEquals(gatewayForm("10.244.7.0/24"), "10.244.7.1/24");
});

Deno.test("the JSON lease file has the fields the CNI plugin reads", () => {
  assertEquals(JSON.parse(leaseFileText(v4)), v4);
  const ds = JSON.parse(
    leaseFileText({ ...v4, network6: "fd00::/56", subnet6: "fd00:0:0:1::/64" }),
  );
  assertEquals(Object.keys(ds), [
    "node",
    "network",
    "subnet",
    "network6",
    "subnet6",
    "mtu",
    "ipMasq",
    "backend",
  ]);
});

Deno.test("writeLeaseFiles() creates the directory, replaces atomically, leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths = {
      leaseFile: `${dir}/run/skein/subnet.json`,
      subnetEnv: `${dir}/run/skein/subnet.env`,
    };
    writeLeaseFiles(v4, paths);
    writeLeaseFiles({ ...v4, subnet: "10.244.2.0/24" }, paths);
    assertEquals(tryReadLeaseFile(paths.leaseFile)?.subnet, "10.244.2.0/24");
    assertEquals([...Deno.readDirSync(`${dir}/run/skein`)].map((e) => e.name).sort(), [
      "subnet.env",
      "subnet.json",
    ]);
    assertEquals(tryReadLeaseFile(`${dir}/nope.json`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("what the writer writes, the reader reads back, in both forms", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const ds = { ...v4, network6: "fd00:10:244::/56", subnet6: "fd00:10:244:1::/64" };
    const paths = { leaseFile: `${dir}/subnet.json`, subnetEnv: `${dir}/subnet.env` };
    writeLeaseFiles(ds, paths);
    assertEquals(readLeaseFile(paths.leaseFile), ds);
    const { node: _n, backend: _b, ...envFields } = ds;
    assertEquals(readLeaseFile(paths.subnetEnv), envFields);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseLeaseJson() gives typed, canonical values and ignores keys it does not know", () => {
  assertEquals(
    parseLeaseJson(
      '{"subnet":"10.244.1.7/24","mtu":1400,"cniSocket":"/run/x.sock","future":1}',
      "f",
    ),
    { subnet: "10.244.1.0/24", mtu: 1400, cniSocket: "/run/x.sock" },
  );
  assertEquals(parseLeaseJson('{"subnet6":"fd00:0:0:1::/64"}', "f"), {
    subnet6: "fd00:0:0:1::/64",
  });
});

Deno.test("parseLeaseJson() and parseSubnetEnv() name the bad field", () => {
  const bad: [string, string][] = [
    ["[]", "expected a JSON object"],
    ["{", "not valid JSON"],
    ["{}", 'field "subnet" is missing'],
    ['{"subnet":"10.244.1.0"}', 'field "subnet" must be an IPv4 CIDR string, got "10.244.1.0"'],
    ['{"subnet":"fd00::/64"}', 'field "subnet" must be an IPv4 CIDR string'],
    ['{"subnet":"10.244.1.0/24","mtu":67}', 'field "mtu" must be an integer 68-65535, got 67'],
    ['{"subnet":"10.244.1.0/24","mtu":"1450"}', 'field "mtu" must be an integer 68-65535'],
    ['{"subnet":"10.244.1.0/24","ipMasq":"yes"}', 'field "ipMasq" must be a boolean'],
    ['{"subnet":"10.244.1.0/24","node":7}', 'field "node" must be a string'],
    ['{"subnet":"10.244.1.0/24","cniSocket":"x.sock"}', 'field "cniSocket" must be an absolute'],
  ];
  for (const [text, why] of bad) {
    const e = assertThrows(() => parseLeaseJson(text, "/run/skein/subnet.json"), LeaseFileError);
    assertEquals([
      e.problem,
      e.message.startsWith("Cannot use node lease file /run/skein/subnet.json: "),
    ], [
      "corrupt",
      true,
    ]);
    assertEquals(e.reason.startsWith(why), true, `${text}: ${e.reason}`);
  }
  const env: [string, string][] = [
    ["FLANNEL_NETWORK=10.244.0.0/16\n", "FLANNEL_SUBNET is missing"],
    ["junk\n", 'line "junk" is not KEY=VALUE'],
    [
      "FLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=9x\n",
      'FLANNEL_MTU must be an integer 68-65535, got "9x"',
    ],
    [
      "FLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPMASQ=1\n",
      'FLANNEL_IPMASQ must be true or false, got "1"',
    ],
    ["FLANNEL_SUBNET=fd00::1/64\n", 'field "FLANNEL_SUBNET" must be an IPv4 CIDR string'],
  ];
  for (const [text, why] of env) {
    const e = assertThrows(() => parseSubnetEnv(text, "s.env"), LeaseFileError);
    assertEquals(e.reason.startsWith(why), true, `${text}: ${e.reason}`);
  }
  assertEquals(
    parseSubnetEnv(
      '# flannel\nFLANNEL_SUBNET="10.244.1.1/24"\nFLANNEL_MTU=\nFLANNEL_IPMASQ=false\n',
      "s",
    ),
    { subnet: "10.244.1.0/24", ipMasq: false },
  );
});

Deno.test("readLeaseFile(): missing, not a regular file, too large", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(
      assertThrows(() => readLeaseFile(`${dir}/subnet.json`), LeaseFileError).problem,
      "missing",
    );
    Deno.mkdirSync(`${dir}/d.json`);
    const e = assertThrows(() => readLeaseFile(`${dir}/d.json`), LeaseFileError);
    assertEquals([e.problem, e.reason], ["corrupt", "it is a directory, not a regular file"]);
    Deno.writeTextFileSync(`${dir}/big.json`, " ".repeat(64 * 1024 + 1));
    assertEquals(
      assertThrows(() => readLeaseFile(`${dir}/big.json`), LeaseFileError).problem,
      "corrupt",
    );
    assertEquals(tryReadLeaseFile(`${dir}/big.json`), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
