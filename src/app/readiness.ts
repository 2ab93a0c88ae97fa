/**
 * Whether this islb instance is ready to serve: its NATS connection is up, its store answers,
 * and its view of the registry is loaded. The one source of /readyz and of grpc.health.v1, so
 * the two never disagree.
 */
import type { ReadinessCheck } from "../http/probes.js";

export class Readiness {
  private natsUp = true;
  private natsDownSince = 0;
  private storeUp: boolean | undefined;
  private viewLoaded = false;

  /**
   * @param store how the store is named in reasons ("the memory store", "the Redis store at …")
   * @param onChange called with the new answer each time it changes
   */
  constructor(
    private readonly store: string,
    private readonly onChange: (ready: boolean) => void,
  ) {}

  get ready(): boolean {
    return this.natsUp && this.storeUp === true && this.viewLoaded;
  }

  setNats(up: boolean): void {
    if (up === this.natsUp) return;
    this.natsDownSince = up ? 0 : Date.now();
    this.update(() => (this.natsUp = up));
  }

  setStore(up: boolean): void {
    this.update(() => (this.storeUp = up));
  }

  setViewLoaded(): void {
    this.update(() => (this.viewLoaded = true));
  }

  /** The checks as /readyz lists them. */
  checks(): ReadinessCheck[] {
    return [
      {
        name: "nats",
        ok: this.natsUp,
        detail: this.natsUp
          ? "connected"
          : `disconnected for ${Math.round((Date.now() - this.natsDownSince) / 1000)} s, reconnecting`,
      },
      {
        name: "store",
        ok: this.storeUp === true,
        detail:
          this.storeUp === true
            ? `${this.store} answers`
            : this.storeUp === false
              ? `${this.store} does not answer`
              : `${this.store}: no answer yet`,
      },
      {
        name: "view",
        ok: this.viewLoaded,
        detail: this.viewLoaded ? "the registry's nodes are loaded and followed" : "loading the registry's nodes",
      },
    ];
  }

  private update(change: () => void): void {
    const before = this.ready;
    change();
    if (this.ready !== before) this.onChange(this.ready);
  }
}
