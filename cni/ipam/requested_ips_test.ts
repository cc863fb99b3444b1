import { assertEquals, assertThrows } from "../../testing/assert.ts";
import { CniError } from "../errors.ts";
import { requestedIpsFrom } from "./requested_ips.ts";

Deno.test("requestedIpsFrom() collects CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips", () => {
  assertEquals(
    requestedIpsFrom({
      cniArgs: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.0.0.5,FD00::0005",
      netconf: {
        args: { cni: { ips: ["10.0.0.6", "10.0.0.5"] } },
        runtimeConfig: { ips: ["10.0.0.7/24"] },
      },
    }),
    ["10.0.0.5", "fd00::5", "10.0.0.6", "10.0.0.7"],
  );
  assertEquals(requestedIpsFrom({ netconf: {} }), []);
});

Deno.test("requestedIpsFrom() gives code 4 for a bad IP= and 7 for bad config entries", () => {
  assertEquals(
    assertThrows(() => requestedIpsFrom({ cniArgs: "IP=10.0.0", netconf: {} }), CniError).code,
    4,
  );
  assertEquals(
    assertThrows(
      () => requestedIpsFrom({ netconf: { runtimeConfig: { ips: [5] } } }),
      CniError,
      "runtimeConfig.ips[0]",
    )
      .code,
    7,
  );
  assertEquals(
    assertThrows(
      () => requestedIpsFrom({ netconf: { args: { cni: { ips: "10.0.0.1" } } } }),
      CniError,
    ).code,
    7,
  );
});
