/** `islb serve`: the configuration (file, environment, flags) handed to the composition root. */
import { startIslb, type Islb, type StartOptions } from "../app/islb.js";
import type { Logger } from "../log.js";
import type { Config } from "./config.js";
import { connectNats } from "./connect.js";

export { openStore } from "../app/islb.js";

/** A running `islb serve` (the composition root's handle). */
export type Running = Islb;

/** Starts islb as `islb serve` does: with `startLocalNats`, a local nats-server when none answers at a loopback URL. */
export function serve(
  cfg: Config,
  log: Logger,
  options: { startLocalNats?: boolean; tracing?: boolean; gateway?: StartOptions["gateway"] } = {},
): Promise<Running> {
  return startIslb(cfg, {
    logger: log,
    tracing: options.tracing,
    gateway: options.gateway,
    connect: async (nats, name) => {
      const { nc, local } = await connectNats(nats, name, log, options.startLocalNats === true);
      if (local === undefined) return { nc };
      // The local nats-server is stopped, and waited for (up to 2 s), after the drain.
      const release = (): Promise<void> =>
        new Promise((resolve) => {
          if (local.child.exitCode !== null || local.child.signalCode !== null) return resolve();
          local.child.once("exit", () => resolve());
          setTimeout(resolve, 2000).unref();
          local.stop();
        });
      return { nc, release, localServer: true };
    },
  });
}
