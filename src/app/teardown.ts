/**
 * What a start built, undone in reverse order: each step that starts something pushes how to
 * stop it, so a start that fails halfway stops exactly what it had started, and a close stops
 * everything, the last started first. A failing step does not keep the others from running.
 */
export class Teardown {
  private readonly steps: Array<{ name: string; stop: () => unknown }> = [];

  /** Adds how to stop what was just started. */
  push(name: string, stop: () => unknown): void {
    this.steps.push({ name, stop });
  }

  /** Runs every step, last first; resolves with the failures (by step name), if any. */
  async run(): Promise<Array<{ name: string; err: unknown }>> {
    const failures: Array<{ name: string; err: unknown }> = [];
    for (let s = this.steps.pop(); s !== undefined; s = this.steps.pop()) {
      try {
        await s.stop();
      } catch (err) {
        failures.push({ name: s.name, err });
      }
    }
    return failures;
  }
}
