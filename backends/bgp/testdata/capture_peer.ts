/**
 * The capture peer for capture_bird.sh (not product code, not a test): run inside the capture
 * namespace, it accepts BIRD's sessions on 127.0.0.2:1790 (eBGP), 127.0.0.3:1791 (iBGP) and
 * 127.0.0.4:1792 (eBGP, BIRD without the 4-octet AS capability: `enable as4 off`),
 * answers with a hand-written OPEN and KEEPALIVE, records every message BIRD sends, and pokes
 * BIRD for NOTIFICATIONs: the eBGP session gets a message of type 9 (BIRD answers 1/3), the iBGP
 * and 2-octet sessions are shut down by `birdc disable` (6/2). Writes the messages, as hex, to the JSON file
 * named by argv[0]. Hand-written bytes on purpose: the codec under test must not make them.
 *
 * @module
 */

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h: string) => new Uint8Array(h.match(/../g)!.map((x) => parseInt(x, 16)));
const MARKER = "ff".repeat(16);

function message(type: number, bodyHex: string): Uint8Array {
  const len = 19 + bodyHex.length / 2;
  return fromHex(
    MARKER + len.toString(16).padStart(4, "0") + type.toString(16).padStart(2, "0") +
      bodyHex,
  );
}

function u16(n: number) {
  return n.toString(16).padStart(4, "0");
}
function u32(n: number) {
  return n.toString(16).padStart(8, "0");
}

/** OPEN: version 4, 2-octet AS field, hold 90, id, one optional parameter of capabilities. */
function open(as: number, id: string): Uint8Array {
  const caps = [
    "0104" + "0001" + "00" + "01", // multiprotocol IPv4 unicast
    "0104" + "0002" + "00" + "01", // multiprotocol IPv6 unicast
    "0200", // route refresh
    "4104" + u32(as), // 4-octet AS
    "400a" + u16(120) + "0001" + "01" + "00" + "0002" + "01" + "00", // graceful restart, 120 s
  ].join("");
  const params = "02" + (caps.length / 2).toString(16).padStart(2, "0") + caps;
  const idHex = id.split(".").map((x) => Number(x).toString(16).padStart(2, "0")).join("");
  const as2 = as > 0xffff ? 23456 : as;
  return message(
    1,
    "04" + u16(as2) + u16(90) + idHex + (params.length / 2).toString(16).padStart(2, "0") + params,
  );
}

async function readMessage(conn: Deno.Conn, buf: { b: Uint8Array }): Promise<Uint8Array | null> {
  for (;;) {
    if (buf.b.length >= 19) {
      const len = (buf.b[16]! << 8) | buf.b[17]!;
      if (buf.b.length >= len) {
        const m = buf.b.slice(0, len);
        buf.b = buf.b.slice(len);
        return m;
      }
    }
    const chunk = new Uint8Array(65536);
    const n = await conn.read(chunk);
    if (n === null) return null;
    const next = new Uint8Array(buf.b.length + n);
    next.set(buf.b);
    next.set(chunk.subarray(0, n), buf.b.length);
    buf.b = next;
  }
}

interface Captured {
  session: string;
  messages: string[];
}

async function session(
  opts: { name: string; addr: string; port: number; as: number; id: string; poke: string },
): Promise<Captured> {
  const l = Deno.listen({ hostname: opts.addr, port: opts.port });
  const conn = await l.accept();
  l.close();
  const buf = { b: new Uint8Array(0) };
  const out: Captured = { session: opts.name, messages: [] };
  const first = await readMessage(conn, buf);
  if (!first) throw new Error(`${opts.name}: closed before OPEN`);
  out.messages.push(hex(first));
  await conn.write(open(opts.as, opts.id));
  await conn.write(message(4, ""));
  let eors = 0;
  let poked = false;
  for (;;) {
    const m = await readMessage(conn, buf).catch(() => null);
    if (!m) break;
    out.messages.push(hex(m));
    const type = m[18];
    if (Deno.env.get("CAPTURE_DEBUG")) console.error(opts.name, type, m.length);
    if (type === 2 && m.length <= 30) eors++; // End-of-RIB: IPv4 (23 bytes) or MP_UNREACH-only
    if (eors === 2 && !poked) {
      poked = true;
      if (opts.poke === "bad-type") await conn.write(message(9, ""));
      else {
        const p = new Deno.Command("birdc", { args: ["-s", opts.poke, "disable", opts.name] });
        await p.output();
      }
    }
    if (type === 3) break;
  }
  conn.close();
  return out;
}

const [outFile, ctl] = Deno.args;
if (!outFile || !ctl) throw new Error("usage: capture_peer.ts <out.json> <bird control socket>");
const got = await Promise.all([
  session({
    name: "peer_ebgp",
    addr: "127.0.0.2",
    port: 1790,
    as: 4200000002,
    id: "10.0.0.2",
    poke: "bad-type",
  }),
  session({
    name: "peer_ibgp",
    addr: "127.0.0.3",
    port: 1791,
    as: 65001,
    id: "10.0.0.3",
    poke: ctl,
  }),
  session({
    name: "peer_as2",
    addr: "127.0.0.4",
    port: 1792,
    as: 65002,
    id: "10.0.0.4",
    poke: ctl,
  }),
]);
await Deno.writeTextFile(outFile, JSON.stringify(got, null, 2) + "\n");
