/**
 * The recent session changes (moves, releases) a registry view keeps so that watchers of
 * session events can resume from a revision; bounded by count. Session changes share the
 * registry's revisions with node changes, so one revision resumes both.
 */
import type { SessionEvent } from "./model.js";

/** Session changes kept (at most a quarter more until the next trim). */
const MAX = 10_000;

/** A bounded log of session changes, oldest first, with listeners. */
export class SessionLog {
  private log: SessionEvent[] = [];
  /** The highest revision dropped from the log (0: none). */
  private dropped = 0;
  private readonly listeners = new Set<(e: SessionEvent) => void>();

  append(e: SessionEvent): void {
    this.log.push(e);
    // Trimmed by a quarter at a time: a copy per MAX / 4 appends, not one per append.
    if (this.log.length > MAX + MAX / 4) {
      const cut = this.log.length - MAX;
      this.dropped = (this.log[cut - 1] as SessionEvent).revision;
      this.log = this.log.slice(cut);
    }
    for (const l of this.listeners) l(e);
  }

  /** The session changes after `revision`, or undefined when some of them are no longer kept. */
  since(revision: number): SessionEvent[] | undefined {
    if (revision < this.dropped) return undefined;
    let i = this.log.length;
    while (i > 0 && (this.log[i - 1] as SessionEvent).revision > revision) i--;
    return this.log.slice(i);
  }

  /** Forgets everything (the view was replaced by a snapshot): resuming from before now is impossible. */
  clear(revision: number): void {
    this.log = [];
    this.dropped = revision;
  }

  subscribe(listener: (e: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
