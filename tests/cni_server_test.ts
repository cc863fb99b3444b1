/**
 * The daemon's CNI service against hostile and odd clients (root): the socket is 0600, a
 * non-root peer (SO_PEERCRED) gets no answer, a silent client is dropped at the read deadline
 * without holding up anyone else, garbage closes only its own connection, a peer in another
 * network namespace is declined (the plugin then runs in-process). Every call used here fails
 * on its CNI_* variables before touching the kernel.
 */
import { assert, assertEquals } from "../testing/assert.ts";
import { serveCni } from "../daemon/cni_server.ts";
import { createLogger } from "../daemon/log.ts";
import { ACCEPTED, DECLINED, decodeAnswer, encodeRequest, GO } from "../cni/forward.ts";
import { withNamespaces } from "./_netns.ts";

const BAD_CALL = { CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_PATH: "/usr/lib/cni" };

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch (e) {
      if (e instanceof Deno.errors.ConnectionReset) break; // closed with our bytes unread
      throw e;
    }
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** One call the way cni/forward.ts makes it: request, "A", "G", answer. */
async function call(socket: string): Promise<Uint8Array> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await conn.write(encodeRequest(BAD_CALL, new TextEncoder().encode("{}")));
    const first = new Uint8Array(1);
    if (await conn.read(first) !== 1) return new Uint8Array();
    if (first[0] === ACCEPTED) await conn.write(new Uint8Array([GO]));
    const rest = await readAll(conn);
    const out = new Uint8Array(1 + rest.length);
    out.set(first);
    out.set(rest, 1);
    return out;
  } finally {
    conn.close();
  }
}

/** Runs a python3 one-liner client as `nobody` (or as root) and returns what it received. */
async function pyClient(
  socket: string,
  opts: { nobody: boolean; netns?: string },
): Promise<string> {
  const py = `import socket,sys
s=socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
data=b''
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
    first=s.recv(1)
    data+=first
    if first==b'A': s.sendall(b'G')
    while first:
        d=s.recv(65536)
        if not d: break
        data+=d
except (BrokenPipeError, ConnectionResetError):
    pass
print(data.hex())`;
  const req = Array.from(encodeRequest(BAD_CALL, new TextEncoder().encode("{}")))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const argv = [
    ...(opts.netns ? ["nsenter", `--net=${opts.netns}`] : []),
    ...(opts.nobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []),
    "/usr/bin/python3",
    "-c",
    py,
    socket,
    req,
  ];
  // Not outputSync(): the server runs on this very event loop.
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("CNI service: 0600 socket, root only, slow and broken clients never block others", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "skein-cni-server-" });
  const socket = `${dir}/cni.sock`;
  const server = serveCni({ socketPath: socket, log: createLogger("error"), readTimeoutMs: 1500 });
  const silent: Deno.UnixConn[] = [];
  try {
    const st = Deno.statSync(socket);
    assert(st.isSocket);
    assertEquals(st.mode! & 0o777, 0o600);
    // A root client gets the exact answer the plugin would print: code 4 naming CNI_IFNAME.
    const answer = decodeAnswer(await call(socket));
    assertEquals(answer?.code, 1);
    const json = JSON.parse(new TextDecoder().decode(answer!.stdout));
    assertEquals([json.code, json.msg], [4, "required env variables [CNI_IFNAME] missing"]);
    // Clients that connect and say nothing: the others are served meanwhile.
    for (let i = 0; i < 5; i++) {
      silent.push(await Deno.connect({ transport: "unix", path: socket }));
    }
    assertEquals(decodeAnswer(await call(socket))?.code, 1);
    // Garbage, and a request cut short: the connection closes without an answer.
    for (
      const bytes of [new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"), new Uint8Array([83])]
    ) {
      const conn = await Deno.connect({ transport: "unix", path: socket });
      await conn.write(bytes);
      await conn.closeWrite();
      assertEquals((await readAll(conn)).length, 0);
      conn.close();
    }
    // A plugin that stops waiting after "A" (never sends "G") gets nothing run for it.
    const quitter = await Deno.connect({ transport: "unix", path: socket });
    await quitter.write(encodeRequest(BAD_CALL, new TextEncoder().encode("{}")));
    const a = new Uint8Array(1);
    assertEquals([await quitter.read(a), a[0]], [1, ACCEPTED]);
    quitter.close();
    // The silent ones are dropped at the read deadline (EOF, no answer).
    for (const c of silent) assertEquals((await readAll(c)).length, 0);
    // Not root: with the socket opened up to everyone, SO_PEERCRED still refuses it.
    Deno.chmodSync(dir, 0o755);
    Deno.chmodSync(socket, 0o666);
    assertEquals(await pyClient(socket, { nobody: true }), "");
    assertEquals((await pyClient(socket, { nobody: false })).slice(0, 2), ACCEPTED.toString(16));
    // A plugin in another network namespace is declined: it runs the call in-process.
    await withNamespaces(["other"], async (ns) => {
      const declined = await pyClient(socket, { nobody: false, netns: ns.other! });
      assertEquals(declined, DECLINED.toString(16));
    });
    assertEquals(decodeAnswer(await call(socket))?.code, 1);
  } finally {
    for (const c of silent) {
      try {
        c.close();
      } catch {
        // closed by the server already
      }
    }
    await server.close();
    Deno.removeSync(dir, { recursive: true });
  }
  assert(!exists(socket), "the socket file outlived the server");
});

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
