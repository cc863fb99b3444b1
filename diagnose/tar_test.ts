import { assertEquals, assertStringIncludes } from "../testing/assert.ts";
import { gzip, tar } from "./tar.ts";
import { redact, REDACTED } from "./redact.ts";

Deno.test("tar() + gzip() make an archive GNU tar reads back byte for byte", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-tar-" });
  try {
    const long = `nodes/${"n".repeat(60)}/${"deep/".repeat(12)}routes.json`;
    const bin = new Uint8Array(1500).map((_, i) => i % 251);
    const files = [
      { name: "report.json", data: '{"schemaVersion":1}\n' },
      { name: "nodes/n1/empty.txt", data: "" },
      { name: "nodes/n1/bin.dat", data: bin },
      { name: long, data: "x".repeat(512) },
    ];
    Deno.writeFileSync(`${dir}/b.tar.gz`, await gzip(tar(files)));
    const o = new Deno.Command("tar", { args: ["-xzf", `${dir}/b.tar.gz`, "-C", dir] })
      .outputSync();
    assertEquals(o.success, true, new TextDecoder().decode(o.stderr));
    assertEquals(Deno.readTextFileSync(`${dir}/report.json`), '{"schemaVersion":1}\n');
    assertEquals(Deno.readTextFileSync(`${dir}/nodes/n1/empty.txt`), "");
    assertEquals(Deno.readFileSync(`${dir}/nodes/n1/bin.dat`), bin);
    assertEquals(Deno.readTextFileSync(`${dir}/${long}`), "x".repeat(512));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("redact() hides passwords in URLs, secret fields in YAML/JSON/env, bearer tokens", () => {
  const yaml = `datastore:
  type: etcd
  endpoints: ["https://root:hunter2@10.0.0.1:2379"]
  password: hunter2
  certFile: /etc/ssl/etcd.pem
name: node1
`;
  const r = redact(yaml);
  assertEquals(r.includes("hunter2"), false);
  assertEquals(r.includes("etcd.pem"), false);
  assertStringIncludes(r, "https://root:" + REDACTED + "@10.0.0.1:2379");
  assertStringIncludes(r, "name: node1");
  assertStringIncludes(r, "type: etcd");
  const json = redact('{"token":"abc.def","subnet":"10.244.1.0/24","ETCD_PASSWORD":"x"}');
  assertEquals(
    json,
    `{"token":"${REDACTED}","subnet":"10.244.1.0/24","ETCD_PASSWORD":"${REDACTED}"}`,
  );
  assertEquals(
    redact("ETCD_PASSWORD=s3cr3t\nFLANNEL_MTU=1450"),
    `ETCD_PASSWORD=${REDACTED}\nFLANNEL_MTU=1450`,
  );
  assertEquals(redact("Authorization: Bearer eyJhbGci.x.y"), `Authorization: ${REDACTED}`);
  assertEquals(redact("curl -H 'X: Bearer eyJhbGci.x.y'"), `curl -H 'X: Bearer ${REDACTED}'`);
});
