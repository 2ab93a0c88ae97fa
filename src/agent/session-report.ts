/**
 * What an agent tells the registry about the sessions its node hosts, heartbeat by heartbeat:
 * the ids added and removed since the last acknowledged heartbeat, the digest of them all, and
 * (when the registry asked, HeartbeatReply.want_sessions) every id, at most MAX_REPORTED per
 * heartbeat: a longer list goes over several heartbeats, the last one marked full.
 */
import { MAX_REPORTED, formatDigest, sessionHash } from "../islb/session-digest.js";

/** The session fields of one heartbeat. */
export interface SessionReport {
  sessionsAdded: string[];
  sessionsRemoved: string[];
  sessionsFull: boolean;
  sessionsDigest: string;
}

export class SessionReporter {
  /** What the registry acknowledged (as of the last heartbeat it answered). */
  private readonly acked = new Set<string>();
  /**
   * The ids of the full list acknowledged so far, while the registry's ask for it is not yet
   * answered (undefined: it did not ask). The list goes next to the changes, not in their
   * place: a session removed meanwhile is still reported removed, so the registry releases it.
   */
  private full: Set<string> | undefined;
  /**
   * Ids sent as added in a heartbeat that was not acknowledged (it failed or timed out): the
   * registry may have recorded them all the same. One that ends before it is acknowledged is
   * reported removed, so the registry releases it if it did record it (a release names the
   * reporter: a room placed on another node is not touched).
   */
  private readonly inDoubt = new Set<string>();
  private readonly hashes = new Map<string, bigint>();

  /** The report for a heartbeat, given the sessions hosted now. */
  report(hosted: Iterable<string>): SessionReport {
    const now = new Set(hosted);
    let xor = 0n;
    for (const sid of now) {
      let h = this.hashes.get(sid);
      if (h === undefined) this.hashes.set(sid, (h = sessionHash(sid)));
      xor ^= h;
    }
    if (this.hashes.size > now.size) for (const sid of this.hashes.keys()) if (!now.has(sid)) this.hashes.delete(sid);
    const removed: string[] = [];
    for (const sid of this.acked) if (!now.has(sid) && removed.length < MAX_REPORTED) removed.push(sid);
    for (const sid of this.inDoubt)
      if (!now.has(sid) && !this.acked.has(sid) && removed.length < MAX_REPORTED) removed.push(sid);
    const added: string[] = [];
    let unsent = 0;
    const sent = this.full ?? this.acked;
    for (const sid of now)
      if (!sent.has(sid)) {
        if (added.length + removed.length < MAX_REPORTED) added.push(sid);
        else unsent++;
      }
    // In doubt until acknowledged (at most MAX_REPORTED: the oldest doubts go first).
    for (const sid of added) if (!this.acked.has(sid)) this.inDoubt.add(sid);
    for (const sid of this.inDoubt) {
      if (this.inDoubt.size <= MAX_REPORTED) break;
      this.inDoubt.delete(sid);
    }
    return {
      sessionsAdded: added,
      sessionsRemoved: removed,
      sessionsFull: this.full !== undefined && unsent === 0,
      sessionsDigest: formatDigest(now.size, xor),
    };
  }

  /** The registry answered `sent`; `want`: it asks for the full list (it lost or never had it). */
  acknowledged(sent: SessionReport, want: boolean): void {
    for (const sid of sent.sessionsRemoved) {
      this.acked.delete(sid);
      this.inDoubt.delete(sid);
    }
    for (const sid of sent.sessionsAdded) {
      this.acked.add(sid);
      this.inDoubt.delete(sid);
      this.full?.add(sid);
    }
    if (sent.sessionsFull) this.full = undefined;
    // Asked again while a long full list is on its way: keep going, do not start over.
    if (want && this.full === undefined) this.full = new Set();
  }
}
