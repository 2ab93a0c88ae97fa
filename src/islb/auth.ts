/**
 * Who may do what to the registry, in one place: the registration secret a node of a service
 * must present (native Register/Heartbeat and ion's nats-discovery save/update alike), and the
 * operator's admin credential (ReleaseSession of any session; cordon/drain later). Every way in
 * asks this module; a refusal names what was missing. Comparisons take constant time.
 */
import { timingSafeEqual } from "node:crypto";
import type { Metadata } from "nice-grpc-common";

/** What the registry is configured to require. */
export interface AuthConfig {
  /**
   * Registration secrets by service: a node of such a service must present it. "*": the secret
   * of every service without its own (so no service is open to anyone who may register).
   */
  secrets?: Readonly<Record<string, string>>;
  /** The operator's credential ([islb] admin_token); empty or undefined: none configured. */
  adminToken?: string;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The authorization checks of one registry. Immutable once built. */
export class Authorization {
  private readonly secrets: ReadonlyMap<string, string>;
  private readonly admin: string | undefined;

  constructor(config: AuthConfig = {}) {
    this.secrets = new Map(Object.entries(config.secrets ?? {}));
    this.admin = config.adminToken === undefined || config.adminToken === "" ? undefined : config.adminToken;
  }

  /** True when nodes of `service` must present a secret. */
  needsSecret(service: string): boolean {
    return this.secretOf(service) !== undefined;
  }

  /** The secret of `service`: its own, else the one for every other service ("*"), if any. */
  private secretOf(service: string): string | undefined {
    return this.secrets.get(service) ?? this.secrets.get("*");
  }

  /**
   * Why a node of `service` presenting `secret` may not register (or re-register), or
   * undefined when it may. The one check every registration path uses.
   */
  registrationProblem(service: string, secret: string): string | undefined {
    const want = this.secretOf(service);
    if (want === undefined || same(want, secret)) return undefined;
    return secret === ""
      ? `registering a node of service ${service} needs its secret`
      : `the secret for service ${service} is wrong`;
  }

  /** True when an admin credential is configured. */
  get hasAdmin(): boolean {
    return this.admin !== undefined;
  }

  /** True when an admin credential is configured and `presented` is it. */
  isAdmin(presented: string | undefined): boolean {
    return this.admin !== undefined && presented !== undefined && presented !== "" && same(this.admin, presented);
  }
}

/**
 * The admin credential a call presents: the request's own field when it has one, else the
 * metadata `authorization: Bearer <token>` (for methods without such a field).
 */
export function presentedAdmin(field: string, metadata: Metadata | undefined): string {
  if (field !== "") return field;
  const h = metadata?.get("authorization");
  const v = typeof h === "string" ? h : "";
  return v.startsWith("Bearer ") ? v.slice(7) : "";
}
