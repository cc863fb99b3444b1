import { assertEquals, assertThrows } from "../testing/assert.ts";
import {
  formatKubeconfig,
  inClusterCredentials,
  KubeConfigError,
  parseKubeconfig,
} from "./kube_config.ts";

const b64 = (s: string) => btoa(s);
const kubeconfig = (user: string) => `
apiVersion: v1
kind: Config
current-context: c1
contexts:
- name: c1
  context: {cluster: k1, user: u1, namespace: ns1}
- name: c2
  context: {cluster: k1, user: u2}
clusters:
- name: k1
  cluster: {server: "https://127.0.0.1:6443/", certificate-authority-data: ${b64("CA-PEM")}}
users:
${user}
`;

Deno.test("parseKubeconfig: client certificate, token and tokenFile users", () => {
  const c = parseKubeconfig(
    kubeconfig(
      `- name: u1\n  user: {client-certificate-data: ${b64("CERT")}, client-key-data: ${
        b64("KEY")
      }}\n- name: u2\n  user: {token: abc}`,
    ),
    "/x",
  );
  assertEquals(c, {
    server: "https://127.0.0.1:6443",
    caCert: "CA-PEM",
    namespace: "ns1",
    insecure: undefined,
    clientCert: "CERT",
    clientKey: "KEY",
    token: undefined,
  });
  const t = parseKubeconfig(
    kubeconfig(`- name: u1\n  user: {}\n- name: u2\n  user: {tokenFile: tok}`),
    "/etc/k",
    "c2",
  );
  assertEquals(t.tokenFile, "/etc/k/tok");
  assertEquals(t.namespace, "");
});

Deno.test("parseKubeconfig: bad input is a KubeConfigError naming the part", () => {
  const bad: [string, RegExp][] = [
    ["[1,2", /not YAML/],
    ["a: 1", /no current-context/],
    [kubeconfig(`- name: u1\n  user: {exec: {command: x}}`), /exec and auth-provider/],
    [kubeconfig(`- name: u1\n  user: {client-certificate-data: ${b64("C")}}`), /needs its key/],
    [kubeconfig(`- name: u9\n  user: {}`), /no user named "u1"/],
    [kubeconfig(`- name: u1\n  user: {token: [1]}`), /token must be a string/],
  ];
  for (const [text, re] of bad) {
    const e = assertThrows(() => parseKubeconfig(text, "/x"), KubeConfigError);
    if (!re.test(e.message)) throw new Error(`${e.message} !~ ${re}`);
  }
});

Deno.test("inClusterCredentials: service host/port, CA, token file, namespace", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/ca.crt`, "CA");
    Deno.writeTextFileSync(`${dir}/token`, "t1");
    Deno.writeTextFileSync(`${dir}/namespace`, "skein\n");
    const env = new Map([["KUBERNETES_SERVICE_HOST", "fd00::1"], [
      "KUBERNETES_SERVICE_PORT",
      "443",
    ]]);
    assertEquals(inClusterCredentials(env, dir), {
      server: "https://[fd00::1]:443",
      caCert: "CA",
      tokenFile: `${dir}/token`,
      namespace: "skein",
    });
    assertThrows(() => inClusterCredentials(new Map(), dir), KubeConfigError, "not in a cluster");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("formatKubeconfig: parseKubeconfig reads it back", () => {
  const creds = {
    server: "https://127.0.0.1:1",
    caCert: "CA",
    clientCert: "C",
    clientKey: "K",
    tokenFile: "/t",
    namespace: "skein",
  };
  const back = parseKubeconfig(formatKubeconfig(creds), "/");
  assertEquals(back, { ...creds, insecure: undefined, token: undefined });
});
