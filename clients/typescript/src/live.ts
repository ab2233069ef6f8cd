// Live data over graphql-transport-ws (the npm graphql-ws client), kept alive for as long as
// someone listens:
// - one WebSocket per client, opened on the first listener and closed after the last;
// - one server subscription per (document, variables), shared by every listener of it;
// - the connection survives token expiry (the server closes with 4403 "customer token
//   expired": getToken is asked again) and server restarts (reconnects with backoff);
// - after every reconnect the subscription starts again, and billgate's subscriptions send
//   the current state first, so each reconnect re-reads the state and no change is missed;
// - a listener is called only when the state differs from the last one it was given.
import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import WebSocketImpl from "#websocket";
import type { Credentials } from "./credentials.js";
import { BillgateError, fromGraphQLErrors } from "./errors.js";
import type { Document } from "./http.js";

export type Unsubscribe = () => void;
export type ConnectionStatus = "idle" | "connecting" | "connected" | "reconnecting";

export interface LiveOptions {
  wsUrl: string;
  credentials: Credentials;
  webSocketImpl?: unknown;
  /** Longest wait between two reconnection attempts (default 10 s). */
  maxReconnectDelayMs: number;
}

// A server that stops answering pings within this long is treated as gone (a socket can
// stay "open" after a network change without ever closing).
const PING_EVERY_MS = 12_000;
const PONG_WITHIN_MS = 6_000;
const TOKEN_REFUSED = 4403;
// Errors of a subscription that a later attempt may not meet; any other ends the feed.
const RETRYABLE = new Set<string>(["DATABASE_UNAVAILABLE"]);

interface Listener<T> {
  next: (value: T) => void;
  error: ((error: BillgateError) => void) | undefined;
}

export class LiveConnection {
  #options: LiveOptions;
  #client: Client | undefined;
  #feeds = new Map<string, Feed<unknown>>();
  #status: ConnectionStatus = "idle";
  #statusListeners = new Set<(status: ConnectionStatus) => void>();

  constructor(options: LiveOptions) {
    this.#options = options;
  }

  get status(): ConnectionStatus {
    return this.#status;
  }

  onStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** Listen to `select(data)` of a subscription; the first call gets the current state. */
  listen<TData, TValue, TVariables>(document: Document<TData, TVariables>, variables: TVariables,
                                    select: (data: TData) => TValue, next: (value: TValue) => void,
                                    error?: (error: BillgateError) => void): Unsubscribe {
    const key = `${String(document)}\n${JSON.stringify(variables)}`;
    let feed = this.#feeds.get(key) as Feed<TValue> | undefined;
    if (!feed) {
      feed = new Feed<TValue>(this, String(document), variables as Record<string, unknown>,
                              (data) => select(data as TData), () => this.#feeds.delete(key));
      this.#feeds.set(key, feed as Feed<unknown>);
    }
    return feed.add({ next, error });
  }

  /** Close the WebSocket; listeners stop receiving. */
  async close(): Promise<void> {
    for (const feed of [...this.#feeds.values()]) feed.stop();
    const client = this.#client;
    this.#client = undefined;
    await client?.dispose();
    this.#setStatus("idle");
  }

  get client(): Client {
    this.#client ??= this.#createClient();
    return this.#client;
  }

  backoff(attempt: number): number {
    return backoffMs(attempt, this.#options.maxReconnectDelayMs);
  }

  #setStatus(status: ConnectionStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    for (const listener of [...this.#statusListeners]) listener(status);
  }

  #createClient(): Client {
    const { credentials, wsUrl } = this.#options;
    const webSocketImpl = this.#options.webSocketImpl ?? WebSocketImpl;
    if (!webSocketImpl) {
      throw new BillgateError("NETWORK_ERROR", "no WebSocket implementation: pass webSocketImpl (e.g. the npm ws package)");
    }
    let pongTimer: ReturnType<typeof setTimeout> | undefined;
    let client: Client;
    client = createClient({
      url: wsUrl,
      webSocketImpl,
      lazy: true,
      keepAlive: PING_EVERY_MS,
      connectionAckWaitTimeout: 15_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: () => true,
      retryWait: (retries) => sleep(this.backoff(retries)),
      // Called on every (re)connection: a fresh token when the old one was refused.
      connectionParams: async () => {
        const authorization = await credentials.authorization();
        return authorization ? { Authorization: authorization } : {};
      },
      on: {
        connecting: (isRetry) => this.#setStatus(isRetry ? "reconnecting" : "connecting"),
        connected: () => this.#setStatus("connected"),
        closed: (event) => {
          clearTimeout(pongTimer);
          if ((event as { code?: number } | undefined)?.code === TOKEN_REFUSED) credentials.invalidate();
          if (this.#feeds.size) this.#setStatus("reconnecting");
          else this.#setStatus("idle");
        },
        ping: (received) => {
          if (!received) pongTimer = setTimeout(() => client.terminate(), PONG_WITHIN_MS);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
      },
    });
    return client;
  }
}

/** One server subscription and the listeners that share it. */
class Feed<T> {
  #listeners = new Set<Listener<T>>();
  #last: { json: string; value: T } | undefined;
  #stopSubscription: Unsubscribe | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  // Each server subscription gets a number; callbacks of an earlier one are ignored.
  #attempt = 0;
  #failures = 0;
  #stopped = false;

  constructor(private readonly connection: LiveConnection, private readonly query: string,
              private readonly variables: Record<string, unknown>, private readonly select: (data: unknown) => T,
              private readonly onEmpty: () => void) {}

  add(listener: Listener<T>): Unsubscribe {
    this.#listeners.add(listener);
    const last = this.#last;
    if (last) queueMicrotask(() => this.#listeners.has(listener) && listener.next(last.value));
    if (this.#attempt === 0) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (!this.#listeners.size) this.stop();
    };
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe();
    this.#listeners.clear();
    this.onEmpty();
  }

  #start(): void {
    this.#restartTimer = undefined;
    if (this.#stopped) return;
    const attempt = ++this.#attempt;
    let client: Client;
    try {
      client = this.connection.client;
    } catch (error) {
      this.#fail(error instanceof BillgateError ? error : new BillgateError("NETWORK_ERROR", String(error)));
      return;
    }
    const current = () => attempt === this.#attempt && !this.#stopped;
    this.#stopSubscription = client.subscribe<unknown>(
      { query: this.query, variables: this.variables },
      {
        next: (result) => current() && this.#receive(result),
        error: (error) => current() && this.#lost(error),
        // The server ended the subscription (it is shutting down): start it again.
        complete: () => current() && this.#lost(undefined),
      },
    );
  }

  #receive(result: FormattedExecutionResult<unknown, unknown>): void {
    if (result.errors?.length) {
      const error = fromGraphQLErrors(result.errors);
      if (RETRYABLE.has(error.code)) this.#restart();
      else this.#fail(error);
      return;
    }
    if (result.data == null) return;
    this.#failures = 0;
    const value = this.select(result.data);
    const json = JSON.stringify(value);
    if (this.#last?.json === json) return; // a re-read after a reconnect that found no change
    this.#last = { json, value };
    for (const listener of [...this.#listeners]) listener.next(value);
  }

  // graphql-ws reconnects by itself after a dropped connection or a token expiry (and the
  // subscription's first message re-reads the state). What reaches here is what it does not
  // retry (getToken threw, the server answered 4500, ...): subscribe again after a backoff.
  // A GraphQL error (FORBIDDEN, ITEM_NOT_FOUND) is the server's answer and ends the feed.
  #lost(error: unknown): void {
    if (Array.isArray(error)) this.#fail(fromGraphQLErrors(error));
    else this.#restart();
  }

  #restart(): void {
    this.#unsubscribe();
    this.#restartTimer = setTimeout(() => this.#start(), this.connection.backoff(++this.#failures));
  }

  #unsubscribe(): void {
    this.#attempt++; // whatever the old subscription still says is ignored
    clearTimeout(this.#restartTimer);
    const stop = this.#stopSubscription;
    this.#stopSubscription = undefined;
    stop?.();
  }

  #fail(error: BillgateError): void {
    const listeners = [...this.#listeners];
    this.stop();
    for (const listener of listeners) listener.error?.(error);
  }
}

/**
 * Wait before reconnection attempt `attempt` (0 = the first after a drop): at once (with a
 * little jitter) the first time, as after a token expiry, then doubling from 0.5 s up to
 * `maxMs`, each with jitter so that many clients of a restarted server do not return at once.
 */
export function backoffMs(attempt: number, maxMs: number): number {
  if (attempt <= 0) return Math.random() * 100;
  const ceiling = Math.min(maxMs, 500 * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
