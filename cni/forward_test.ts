import { assertEquals } from "../testing/assert.ts";
import {
  ACCEPTED,
  addMarkerPath,
  decodeAnswer,
  encodeAnswer,
  encodeRequest,
  MAGIC,
  orphanedCall,
  socketFor,
} from "./forward.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("encodeAnswer()/decodeAnswer() round-trip; a cut or padded answer is refused", () => {
  const a = { code: 1, stdout: enc('{"code":4}\n'), stderr: enc("skein: x\n") };
  const bytes = encodeAnswer(a);
  assertEquals(bytes[0], ACCEPTED);
  const back = decodeAnswer(bytes)!;
  assertEquals([back.code, [...back.stdout], [...back.stderr]], [1, [...a.stdout], [...a.stderr]]);
  assertEquals(decodeAnswer(bytes.subarray(0, bytes.length - 1)), undefined);
  assertEquals(decodeAnswer(new Uint8Array([...bytes, 0])), undefined);
  assertEquals(decodeAnswer(new Uint8Array([ACCEPTED])), undefined);
});

Deno.test("encodeRequest() frames the CNI_* variables and stdin", () => {
  const b = encodeRequest({ CNI_COMMAND: "ADD" }, enc("{}"));
  const v = new DataView(b.buffer);
  assertEquals(new TextDecoder().decode(b.subarray(0, 4)), MAGIC);
  const hlen = v.getUint32(4);
  assertEquals(JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + hlen))), {
    env: { CNI_COMMAND: "ADD" },
  });
  assertEquals(v.getUint32(8 + hlen), 2);
  assertEquals(new TextDecoder().decode(b.subarray(12 + hlen)), "{}");
});

Deno.test("socketFor() reads cniSocket from the lease file the config names, or none", () => {
  const dir = Deno.makeTempDirSync();
  const had = Deno.env.get("SKEIN_CNI_SOCKET");
  Deno.env.delete("SKEIN_CNI_SOCKET");
  try {
    const lease = `${dir}/subnet.json`;
    const conf = (o: Record<string, unknown>) =>
      enc(JSON.stringify({ ipam: { leaseFile: lease, ...o } }));
    assertEquals(socketFor(conf({})), undefined, "no lease file: in-process");
    Deno.writeTextFileSync(lease, JSON.stringify({ subnet: "10.244.1.0/24" }));
    assertEquals(socketFor(conf({})), undefined, "a daemon that serves no CNI");
    Deno.writeTextFileSync(
      lease,
      JSON.stringify({ subnet: "10.244.1.0/24", cniSocket: `${dir}/s` }),
    );
    assertEquals(socketFor(conf({})), `${dir}/s`);
    Deno.writeTextFileSync(lease, JSON.stringify({ cniSocket: "relative.sock" }));
    assertEquals(socketFor(conf({})), undefined, "a relative path is not used");
    // Whatever the config names: never a FIFO waited on (nor /dev/zero read to the end, which
    // this test leaves out: an unbounded reader would take the machine's memory).
    new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).outputSync();
    for (const bad of [`${dir}/fifo`, dir]) {
      assertEquals(socketFor(enc(JSON.stringify({ ipam: { leaseFile: bad } }))), undefined, bad);
    }
    Deno.env.set("SKEIN_CNI_SOCKET", "/x.sock");
    assertEquals(socketFor(enc("not json")), "/x.sock");
    Deno.env.set("SKEIN_CNI_SOCKET", "off");
    assertEquals(socketFor(conf({})), undefined);
  } finally {
    if (had === undefined) Deno.env.delete("SKEIN_CNI_SOCKET");
    else Deno.env.set("SKEIN_CNI_SOCKET", had);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("orphanedCall(): wait for a live daemon, undo a dead one's touched ADD, else run it", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const socket = `${dir}/cni.sock`;
    Deno.mkdirSync(`${socket}.adds`);
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" };
    const marker = addMarkerPath(socket, "c1", "eth0");
    assertEquals(marker, `${socket}.adds/c1%2Feth0`);
    assertEquals(orphanedCall(socket, env), "in-process"); // no marker: never started, or answered
    // A dead process: a child that exited and was reaped.
    const child = new Deno.Command("true").spawn();
    await child.status;
    const write = (pid: number, state: string) =>
      Deno.writeTextFileSync(marker, JSON.stringify({ pid, network: "n", state }));
    write(Deno.pid, "touched");
    assertEquals(orphanedCall(socket, env), "try-later"); // the daemon still runs it
    write(child.pid, "touched");
    assertEquals(orphanedCall(socket, env), { recoverAdd: marker });
    assertEquals(orphanedCall(socket, { ...env, CNI_COMMAND: "DEL" }), "in-process");
    write(child.pid, "started");
    assertEquals(orphanedCall(socket, env), "in-process");
    assertEquals(
      [...Deno.readDirSync(`${socket}.adds`)],
      [],
      "a dead, untouched marker is dropped",
    );
    Deno.writeTextFileSync(marker, '{"pid":');
    assertEquals(orphanedCall(socket, env), "in-process"); // unreadable: a plain ADD
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
