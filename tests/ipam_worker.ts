/**
 * Test helper process for the IPAM integration tests: runs one IPAM verb through the public
 * API of cni/ipam/mod.ts, like one CNI plugin invocation would.
 *
 * Usage: `deno run -A tests/ipam_worker.ts add|del|check|gc <containerId> <ifName>` with the
 * netconf JSON on stdin (for gc: `{"netconf": ..., "valid": [{containerID, ifname}]}`).
 * Requested IPs come from the netconf (`runtimeConfig.ips`, `args.cni.ips`) and CNI_ARGS.
 * Prints the result JSON (or `{"code","msg","details"}`) on stdout; exit 0 on success, 1 on a
 * CniError, 2 on anything else. `SKEIN_TEST_CRASH_AT` makes it SIGKILL itself at that point.
 *
 * @module
 */
import { parseCniArgs } from "../cni/cni_args.ts";
import { CniError } from "../cni/errors.ts";
import { ipamAdd, ipamCheck, ipamDel, ipamGc, parseIpamConfig } from "../cni/ipam/mod.ts";
import { parseNetConf } from "../cni/netconf.ts";

/** Runs the verb named in `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [op, containerId = "", ifName = "eth0"] = args;
  const input = JSON.parse(await new Response(Deno.stdin.readable).text());
  try {
    let out: unknown = {};
    if (op === "gc") {
      const config = await parseIpamConfig(input.netconf);
      out = await ipamGc({ config, validAttachments: input.valid });
    } else {
      const config = await parseIpamConfig(input);
      if (op === "add") {
        // As cni/ipam_driver.ts: CNI_ARGS IP= first, then the netconf's.
        const requestedIps = [
          ...parseCniArgs(Deno.env.get("CNI_ARGS")).ips,
          ...parseNetConf(new TextEncoder().encode(JSON.stringify(input))).requestedIps,
        ];
        out = await ipamAdd({ config, containerId, ifName, requestedIps });
      } else if (op === "del") await ipamDel({ config, containerId, ifName });
      else if (op === "check") await ipamCheck({ config, containerId, ifName });
      else throw new Error(`unknown op ${op}`);
    }
    console.log(JSON.stringify(out));
    return 0;
  } catch (e) {
    if (e instanceof CniError) {
      console.log(JSON.stringify(e.toJSON("1.1.0")));
      return 1;
    }
    console.error(e);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
