/**
 * How `islb serve` learns it must stop: SIGTERM or SIGINT (a second one exits at once), and,
 * when started through npm (`npx islb serve`, `npm start`), the end of npm itself: npm runs
 * the bin under `sh -c`, and a signal to npm reaches that shell, which dies without passing
 * it on, leaving node an orphan serving on. So under npm the parent process is watched too.
 */

/** How often the parent process is checked under npm. */
const PARENT_POLL_MS = 500;

/**
 * The parent this process started with, read when the CLI loads: `onStopRequest` runs once the
 * server is up, and an npm stopped between the server's "serving" line and then had already
 * left this process to init, whose pid it would have taken for its parent (a fresh-clone test
 * run caught such an orphan).
 */
const startParent = process.ppid;

/**
 * Calls `stop(reason)` once, on the first SIGTERM/SIGINT, or when the npm that started this
 * process goes away; a second signal exits at once with 128 + its number.
 */
export function onStopRequest(stop: (reason: string) => void, env: NodeJS.ProcessEnv = process.env): void {
  let requested = false;
  const request = (reason: string): void => {
    if (requested) return;
    requested = true;
    stop(reason);
  };
  for (const [sig, n] of [
    ["SIGTERM", 15],
    ["SIGINT", 2],
  ] as const) {
    process.on(sig, () => {
      if (requested) process.exit(128 + n);
      request(sig);
    });
  }
  if (env.npm_command === undefined) return;
  if (process.ppid !== startParent) {
    request("parent exited");
    return;
  }
  const timer = setInterval(() => {
    if (process.ppid !== startParent) {
      clearInterval(timer);
      request("parent exited");
    }
  }, PARENT_POLL_MS);
  timer.unref();
}
