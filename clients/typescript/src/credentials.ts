// Who the client is: a secret key (backends) or customer tokens from `getToken` (browsers).
// Tokens are cached until shortly before their `exp` and asked for again after the server
// refused one (HTTP 401, WebSocket close 4403 "customer token expired").

/** Returns a customer token your backend signed for the signed-in user. */
export type TokenSource = () => string | Promise<string>;

// Ask for a new token this long before the cached one expires, so that a request or a
// WebSocket handshake never leaves with a token about to lapse on the way.
const REFRESH_BEFORE_EXPIRY_MS = 5_000;

export class Credentials {
  #secretKey: string | undefined;
  #getToken: TokenSource | undefined;
  #token: { value: string; expiresAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(options: { secretKey?: string | undefined; getToken?: TokenSource | undefined }) {
    if (options.secretKey && options.getToken) {
      throw new TypeError("Billgate: pass either secretKey (a backend) or getToken (a browser), not both");
    }
    this.#secretKey = options.secretKey;
    this.#getToken = options.getToken;
  }

  /** Whether a refused credential may be replaced by asking `getToken` again. */
  get refreshable(): boolean {
    return this.#getToken !== undefined;
  }

  /** The `Authorization` value to send, or undefined for an anonymous caller. */
  async authorization(): Promise<string | undefined> {
    if (this.#secretKey) return `Bearer ${this.#secretKey}`;
    if (!this.#getToken) return undefined;
    return `Bearer ${await this.#currentToken(this.#getToken)}`;
  }

  /** The server refused the token (expired or otherwise): the next call asks `getToken`. */
  invalidate(): void {
    this.#token = undefined;
  }

  async #currentToken(getToken: TokenSource): Promise<string> {
    const cached = this.#token;
    if (cached && cached.expiresAt - Date.now() > REFRESH_BEFORE_EXPIRY_MS) return cached.value;
    // Concurrent callers share one getToken call.
    this.#pending ??= (async () => {
      try {
        const value = await getToken();
        if (typeof value !== "string" || !value) throw new TypeError("Billgate: getToken returned no token");
        this.#token = { value, expiresAt: tokenExpiry(value) };
        return value;
      } finally {
        this.#pending = undefined;
      }
    })();
    return this.#pending;
  }
}

/** A JWT's `exp` in milliseconds; +Infinity when it cannot be read (the server decides). */
export function tokenExpiry(token: string): number {
  const payload = token.split(".")[1];
  if (!payload) return Number.POSITIVE_INFINITY;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
