/**
 * cni/forward_fast.pl, the launcher's perl forwarding client, against a fake daemon on a unix
 * socket: it sends what cni/forward.ts sends, prints the daemon's answer byte for byte with its
 * exit code, and execs the Deno entry (here a shell that shows what it got) with the same stdin
 * whenever the daemon does not answer.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { ACCEPTED, DECLINED, encodeAnswer, GO, MAGIC } from "./forward.ts";

const SCRIPT = new URL("./forward_fast.pl", import.meta.url).pathname;
const HAVE_PERL = (() => {
  try {
    return Deno.statSync("/usr/bin/perl").isFile;
  } catch {
    return false;
  }
})();
/** The "Deno entry": prints SKEIN_CNI_SOCKET, "|", stdin's size and sha, exits 5. */
const ENTRY = [
  "sh",
  "-c",
  'printf "%s|%s" "${SKEIN_CNI_SOCKET-unset}" "$(wc -c | tr -d " ")"; exit 5',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runClient(env: Record<string, string>, stdin: Uint8Array): Promise<Run> {
  const child = new Deno.Command("/usr/bin/perl", {
    args: [SCRIPT, ...ENTRY],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", ...env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin);
  await w.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) throw new Error(`EOF after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

/** What the fake daemon read: the header's env and the stdin bytes. */
interface Got {
  env: Record<string, string>;
  stdin: Uint8Array;
}

async function readRequest(conn: Deno.Conn): Promise<Got> {
  const head = await readExactly(conn, 8);
  assertEquals(new TextDecoder().decode(head.subarray(0, 4)), MAGIC);
  const hlen = new DataView(head.buffer).getUint32(4);
  const header = JSON.parse(new TextDecoder().decode(await readExactly(conn, hlen)));
  const slen = new DataView((await readExactly(conn, 4)).buffer).getUint32(0);
  return { env: header.env, stdin: await readExactly(conn, slen) };
}

/** A one-connection fake daemon; `serve` gets the connection and the request. */
async function withDaemon(
  serve: (conn: Deno.Conn, got: Got) => Promise<void>,
  fn: (socket: string) => Promise<void>,
): Promise<Got | undefined> {
  const dir = Deno.makeTempDirSync({ prefix: "skein-ffast-" });
  const socket = `${dir}/cni.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  let got: Got | undefined;
  const served = (async () => {
    const conn = await listener.accept();
    try {
      got = await readRequest(conn);
      await serve(conn, got);
    } finally {
      conn.close();
    }
  })();
  try {
    await fn(socket);
    await served;
  } finally {
    listener.close();
    Deno.removeSync(dir, { recursive: true });
  }
  return got;
}

const CONF = '{"cniVersion":"1.0.0","name":"n","type":"skein","ipam":{"type":"skein"}}\n';
const CNI_ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: '/run/netns/p\u00e9d "q"\\',
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=a\tb",
  CNI_PATH: "/opt/cni/bin",
};

Deno.test({
  name: "forward_fast.pl: sends the call, prints the daemon's answer byte for byte",
  ignore: !HAVE_PERL,
  fn: async () => {
    let run: Run | undefined;
    const got = await withDaemon(async (conn) => {
      await conn.write(new Uint8Array([ACCEPTED]));
      assertEquals((await readExactly(conn, 1))[0], GO);
      const stdout = new TextEncoder().encode('{"cniVersion":"1.0.0","ips":[]}\n');
      const stderr = new TextEncoder().encode("warn\n");
      await conn.write(encodeAnswer({ code: 3, stdout, stderr }).subarray(1));
    }, async (socket) => {
      run = await runClient(
        { ...CNI_ENV, SKEIN_CNI_SOCKET: socket, OTHER: "x" },
        new TextEncoder().encode(CONF),
      );
    });
    assertEquals(run, { code: 3, stdout: '{"cniVersion":"1.0.0","ips":[]}\n', stderr: "warn\n" });
    // Exactly the CNI_* variables, as cni/forward.ts's cniEnv() sends them.
    assertEquals(got!.env, CNI_ENV);
    assertEquals(new TextDecoder().decode(got!.stdin), CONF);
  },
});

Deno.test({
  name: "forward_fast.pl: declined, cut short or silent: the Deno entry runs in-process",
  ignore: !HAVE_PERL,
  fn: async () => {
    const stdin = new TextEncoder().encode(CONF);
    const inProcess = { code: 5, stdout: `off|${stdin.length}`, stderr: "" };
    let run: Run | undefined;
    // Declined.
    await withDaemon(async (conn) => {
      await conn.write(new Uint8Array([DECLINED]));
    }, async (socket) => {
      run = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: socket }, stdin);
    });
    assertEquals(run, inProcess);
    // Accepted, then the connection breaks before the whole answer (a daemon that died).
    await withDaemon(async (conn) => {
      await conn.write(new Uint8Array([ACCEPTED]));
      await readExactly(conn, 1);
      await conn.write(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 9, 0x7b]));
    }, async (socket) => {
      run = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: socket }, stdin);
    });
    assertEquals(run, inProcess);
    // No "A" within 2 s.
    await withDaemon(async (conn) => {
      await readExactly(conn, 1).catch(() => {}); // until the client hangs up
    }, async (socket) => {
      const t = performance.now();
      run = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: socket }, stdin);
      assert(performance.now() - t >= 1900);
    });
    assertEquals(run, inProcess);
  },
});

Deno.test({
  name: "forward_fast.pl: no daemon, a config naming leaseFile, a huge stdin: the Deno entry",
  ignore: !HAVE_PERL,
  fn: async () => {
    const dir = Deno.makeTempDirSync({ prefix: "skein-ffast-" });
    try {
      const stdin = new TextEncoder().encode(CONF);
      // No socket there: in-process.
      const none = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: `${dir}/none.sock` }, stdin);
      assertEquals(none, { code: 5, stdout: `off|${stdin.length}`, stderr: "" });
      // "off": in-process.
      const off = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: "off" }, stdin);
      assertEquals(off, { code: 5, stdout: `off|${stdin.length}`, stderr: "" });
      // The config names its lease file: cni/forward.ts decides, with the environment as given.
      const lf = new TextEncoder().encode('{"ipam":{"leaseFile":"/x/subnet.json"}}');
      const named = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: `${dir}/s` }, lf);
      assertEquals(named, { code: 5, stdout: `${dir}/s|${lf.length}`, stderr: "" });
      // More than 1 MiB: every byte reaches the entry (which reports the size error itself).
      const big = new Uint8Array((1 << 20) + 70_000).fill(0x20);
      const huge = await runClient({ ...CNI_ENV, SKEIN_CNI_SOCKET: `${dir}/s` }, big);
      assertEquals(huge, { code: 5, stdout: `${dir}/s|${big.length}`, stderr: "" });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "forward_fast.pl: finds the socket in the node lease file (/run/skein/subnet.json)",
  // A private mount namespace with its own /run, so the host's is neither read nor written.
  ignore: !HAVE_PERL || Deno.uid() !== 0,
  fn: async () => {
    const inNewRun = async (lease: string): Promise<Run> => {
      const child = new Deno.Command("unshare", {
        args: [
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs tmpfs /run && mkdir /run/skein && printf %s "$LEASE" >/run/skein/subnet.json && unset LEASE && exec "$@"',
          "sh",
          "/usr/bin/perl",
          SCRIPT,
          ...ENTRY,
        ],
        clearEnv: true,
        env: { PATH: "/usr/bin:/bin", ...CNI_ENV, LEASE: lease },
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(CONF));
      await w.close();
      const out = await child.output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    };
    let run: Run | undefined;
    await withDaemon(async (conn) => {
      await conn.write(new Uint8Array([ACCEPTED]));
      await readExactly(conn, 1);
      const stdout = new TextEncoder().encode("{}\n");
      await conn.write(encodeAnswer({ code: 0, stdout, stderr: new Uint8Array() }).subarray(1));
    }, async (socket) => {
      run = await inNewRun(JSON.stringify({ subnet: "10.244.1.0/24", cniSocket: socket }));
    });
    assertEquals(run, { code: 0, stdout: "{}\n", stderr: "" });
    // A lease file without cniSocket (a daemon with the service off): in-process.
    const none = await inNewRun(JSON.stringify({ subnet: "10.244.1.0/24" }));
    assertEquals(none, { code: 5, stdout: `off|${CONF.length}`, stderr: "" });
  },
});
