/**
 * The daemon's CNI service alone, for tests and the CNI benchmark: `serveCni()` from
 * daemon/cni_server.ts on `--socket`, in the namespace this process runs in (start it with
 * `nsenter --net=<host ns>`), or serving `--netns` from outside it. Exits on SIGTERM/SIGINT and
 * by itself once `--watch` (a test namespace's path) is gone, so a test that forgets it leaks
 * nothing.
 *
 *   deno run -A tests/_cni_daemon.ts --socket /tmp/x/cni.sock [--netns PATH] [--watch PATH]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serveCni } from "../daemon/cni_server.ts";
import { createLogger } from "../daemon/log.ts";

const { values } = parseArgs({
  options: {
    socket: { type: "string" },
    netns: { type: "string" },
    watch: { type: "string" },
  },
});
if (!values.socket) throw new Error("--socket is required");
const server = serveCni({
  socketPath: values.socket,
  hostNetns: values.netns,
  log: createLogger("warn"),
});
const stop = async () => {
  await server.close();
  // The directory tests/_cni.ts made for this service (socket and log) goes with it.
  const dir = values.socket!.slice(0, values.socket!.lastIndexOf("/"));
  if (/\/skein-cni-sock-[^/]+$/.test(dir)) Deno.removeSync(dir, { recursive: true });
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
if (values.watch) {
  const watch = values.watch;
  setInterval(() => {
    try {
      Deno.statSync(watch);
    } catch {
      stop();
    }
  }, 250);
}
