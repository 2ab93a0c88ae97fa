/** Waiting for a registry view to reach a revision: how a NATS KV write that is not the next change waits for the watch to bring the changes before it. */
import type { RegistryView } from "./view.js";

/** Resolves once `view` is at `rev` or later (a node change, a session change or a resync took it there), or after `ms`. */
export function reachRevision(view: RegistryView, rev: number, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = (): void => {
      if (view.revision >= rev) done();
    };
    const timer = setTimeout(done, ms);
    const stop = view.subscribe(check);
    const stopSessions = view.sessions.subscribe(check);
    const stopResync = view.onResync(check);
    function done(): void {
      clearTimeout(timer);
      stop();
      stopSessions();
      stopResync();
      resolve();
    }
  });
}
