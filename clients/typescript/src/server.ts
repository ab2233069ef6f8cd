// For backends (Node): customer tokens for your signed-in users. Never ship the secret to a
// browser; hand the page a token (and a route to fetch a fresh one) instead.
import { SignJWT } from "jose";
import type { CustomerRef } from "./types.js";

export type TeamRole = "admin" | "member";

export interface MintCustomerTokenOptions {
  /** BILLGATE_CUSTOMER_TOKEN_SECRET. */
  secret: string;
  /** The signed-in user: `{ type: "USER", customerId }` (a token always names a user). */
  customer: CustomerRef;
  /** Teams the user may act for: members read them, admins may also buy and manage billing. */
  teams?: Record<string, TeamRole>;
  /** Default 3600. The server closes live connections when the token expires. */
  ttlSeconds?: number;
}

/** An HS256 customer token: `sub` the user, `teams` `{ "team-id": "admin" | "member" }`, `exp`. */
export async function mintCustomerToken(options: MintCustomerTokenOptions): Promise<string> {
  const { secret, customer, teams = {}, ttlSeconds = 3600 } = options;
  if (!secret) throw new TypeError("mintCustomerToken: `secret` (BILLGATE_CUSTOMER_TOKEN_SECRET) is required");
  if (customer?.type !== "USER" || !customer.customerId) {
    throw new TypeError("mintCustomerToken: a token names a user ({ type: \"USER\", customerId }); give team access with `teams`");
  }
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new TypeError("mintCustomerToken: ttlSeconds must be a whole number >= 1");
  for (const [team, role] of Object.entries(teams)) {
    if (role !== "admin" && role !== "member") {
      throw new TypeError(`mintCustomerToken: team ${team}: the role must be "admin" or "member"`);
    }
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ teams })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(customer.customerId)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
