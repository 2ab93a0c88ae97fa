/**
 * `islb cordon|uncordon|drain NID` (an operator's marks) and `islb place SERVICE` (a lookup,
 * explained on request). The admin credential comes from --admin-token or ISLB_ADMIN_TOKEN.
 */
import { hostname, userInfo } from "node:os";
import type { Command } from "commander";
import type { NatsConnection } from "nats";
import { ISLBDefinition, type Explanation, type NodeMarkReply } from "../../generated/islb/islb.js";
import { createClient } from "../transport/client.js";
import { addClientFlags, type ClientFlags } from "./client-flags.js";
import { parseDuration } from "./call.js";
import { markNote, markedState, table } from "./output.js";
import { UsageError } from "./schema.js";

interface MarkFlags extends ClientFlags {
  adminToken?: string;
  reason?: string;
  by?: string;
  json?: boolean;
}

/** Runs a client command (connect, act, close; errors to stderr and the exit code). */
export type RunClient = (f: ClientFlags, act: (nc: NatsConnection) => Promise<void>) => Promise<void>;

/** The default --by: user@host. */
function who(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}

function markFlags(cmd: Command): Command {
  return addClientFlags(cmd)
    .option("--admin-token <token>", "the registry's admin credential (env ISLB_ADMIN_TOKEN)")
    .option("--reason <text>", "why (shown in islb nodes and Watch)", "")
    .option("--by <who>", "who (default user@host)")
    .option("--json", "the node after the change as JSON");
}

function printMarked(r: NodeMarkReply, what: string, asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${JSON.stringify(ISLBDefinition.methods.cordon.responseType.toJSON(r))}\n`);
    return;
  }
  const n = r.node;
  const nid = n?.registration?.node?.nid ?? "?";
  const note = n === undefined ? "" : markNote(n.mark);
  process.stdout.write(
    `${nid} ${what}: ${n === undefined ? "?" : markedState(n)}${note ? ` (${note})` : ""} at revision ${r.revision}\n`,
  );
}

const reqOf = (nid: string, f: MarkFlags) => ({
  nid,
  reason: f.reason ?? "",
  by: f.by ?? who(),
  adminToken: f.adminToken ?? process.env.ISLB_ADMIN_TOKEN ?? "",
  token: "",
});

function printExplanation(e: Explanation): void {
  const head = [
    `outcome ${e.outcome}${e.chosen ? `: ${e.chosen}` : ""}`,
    `measure ${e.measure}${e.twoChoices ? ", two choices" : ""}`,
  ];
  if (e.homeZone) head.push(`home zone ${e.homeZone}${e.tier ? ` (picked from ${e.tier})` : ""}`);
  if (e.drawn.length > 0) head.push(`drawn ${e.drawn.join(" and ")}`);
  process.stdout.write(`${head.join("; ")}\n`);
  const rows = e.candidates.map((c) => [
    c.chosen ? "*" : "",
    c.nid,
    c.zone,
    c.tier,
    c.standing,
    c.score.toFixed(3),
    String(c.pending),
    `${(Number(c.leaseLeftMs) / 1000).toFixed(1)}s`,
    c.reason,
  ]);
  process.stdout.write(
    `${table(["", "NID", "ZONE", "TIER", "STANDING", "SCORE", "PENDING", "LEASE LEFT", "WHY"], rows)}\n`,
  );
}

/** Adds cordon, uncordon, drain and place to the program. */
export function addPlacementCommands(program: Command, run: RunClient): void {
  markFlags(
    program.command("cordon <nid>").description("no new sessions on a node; it keeps its sessions and its lease"),
  ).action(async (nid: string, f: MarkFlags) =>
    run(f, async (nc) =>
      printMarked(
        await createClient(ISLBDefinition, nc, { prefix: f.prefix, nid: f.nid }).cordon(reqOf(nid, f)),
        "cordoned",
        f.json === true,
      ),
    ),
  );
  markFlags(
    program.command("uncordon <nid>").description("lift a cordon or cancel a drain: the node takes new sessions again"),
  ).action(async (nid: string, f: MarkFlags) =>
    run(f, async (nc) =>
      printMarked(
        await createClient(ISLBDefinition, nc, { prefix: f.prefix, nid: f.nid }).uncordon(reqOf(nid, f)),
        "uncordoned",
        f.json === true,
      ),
    ),
  );
  markFlags(
    program
      .command("drain <nid>")
      .description("no new sessions; its sessions move on their next lookup; drained at 0 sessions or the deadline"),
  )
    .option("--deadline <duration>", "drained after this long whatever it hosts, e.g. 10m (default: none)")
    .option("--cancel", "cancel a drain (as uncordon)")
    .action(async (nid: string, f: MarkFlags & { deadline?: string; cancel?: boolean }) => {
      // A cancelled drain has no deadline: refused rather than silently dropped.
      if (f.cancel === true && f.deadline !== undefined)
        throw new UsageError("--cancel and --deadline do not go together");
      let deadlineMs = 0;
      if (f.deadline !== undefined) {
        try {
          deadlineMs = parseDuration(f.deadline);
        } catch {
          throw new UsageError(`--deadline ${JSON.stringify(f.deadline)} is not a duration like 90s, 10m or 1h`);
        }
        if (deadlineMs > 0xffffffff) throw new UsageError("--deadline is longer than 49 days");
      }
      await run(f, async (nc) => {
        const c = createClient(ISLBDefinition, nc, { prefix: f.prefix, nid: f.nid });
        if (f.cancel === true) printMarked(await c.uncordon(reqOf(nid, f)), "drain cancelled", f.json === true);
        else
          printMarked(
            await c.drain({ ...reqOf(nid, f), deadlineMs: Math.round(deadlineMs) }),
            "draining",
            f.json === true,
          );
      });
    });
  addClientFlags(
    program
      .command("place <service>")
      .description("which node serves a session (placing it if new: --sid); --explain says why"),
  )
    .option("--sid <sid>", "the session (placed now when new); without it, the nodes best first")
    .option("--region <region>", "the caller's region")
    .option("--dc <dc>", "the caller's data center")
    .option("--explain", "every candidate and why it was or was not taken")
    .option("--overflow", "with --sid: the session may span nodes; prints its nodes, the one to join first")
    .option("--full <nid>", "with --overflow: this node can take no more of the session (its set grows)")
    .option("--max-nodes <n>", "with --overflow: at most this many nodes in the set (default 8)")
    .option("--json", "the reply as JSON")
    .action(
      async (
        service: string,
        f: ClientFlags & {
          sid?: string;
          region?: string;
          dc?: string;
          explain?: boolean;
          overflow?: boolean;
          full?: string;
          maxNodes?: string;
          json?: boolean;
        },
      ) => {
        const maxNodes = f.maxNodes === undefined ? 0 : Number(f.maxNodes);
        if (!Number.isInteger(maxNodes) || maxNodes < 0 || maxNodes > 64)
          throw new UsageError(`--max-nodes ${JSON.stringify(f.maxNodes)} is not a whole number from 0 to 64`);
        if ((f.full !== undefined || f.maxNodes !== undefined) && f.overflow !== true)
          throw new UsageError("--full and --max-nodes go with --overflow");
        return run(f, async (nc) => {
          const r = await createClient(ISLBDefinition, nc, { prefix: f.prefix, nid: f.nid }).findNode({
            service,
            sid: f.sid ?? "",
            region: f.region ?? "",
            dc: f.dc ?? "",
            explain: f.explain === true,
            overflow: f.overflow === true,
            fullNid: f.full ?? "",
            maxNodes,
          });
          if (f.json === true) {
            process.stdout.write(`${JSON.stringify(ISLBDefinition.methods.findNode.responseType.toJSON(r))}\n`);
            return;
          }
          if (f.overflow === true) {
            for (const n of r.nodes) process.stdout.write(`${n.nid}\n`);
            process.stderr.write(`set: ${r.sessionNodes.join(" ")} (revision ${r.sessionRevision})\n`);
          } else if (f.sid !== undefined) process.stdout.write(`${r.nodes[0]?.nid ?? "(none)"}\n`);
          else for (const n of r.nodes) process.stdout.write(`${n.nid}\n`);
          if (r.explanation !== undefined) printExplanation(r.explanation);
        });
      },
    );
}
