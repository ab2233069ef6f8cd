// The client: one per app (browser) or per backend process.
import * as G from "./generated/graphql.js";
import { Credentials, type TokenSource } from "./credentials.js";
import { BillgateCustomer, type SubscriptionTarget, type Transport } from "./customer.js";
import { throwUserErrors, type BillgateError } from "./errors.js";
import { postGraphQL, type Document } from "./http.js";
import { LiveConnection, type ConnectionStatus, type Unsubscribe } from "./live.js";
import {
  page, pageVariables, type CustomerRef, type CustomerType, type GrantResult, type Page, type PageOptions,
  type Product, type Subscription,
} from "./types.js";

export interface BillgateOptions {
  /** The GraphQL endpoint, e.g. `https://billing.example.com/graphql`. */
  url: string;
  /** Backends: a secret key (full access). Never in a browser. */
  secretKey?: string;
  /**
   * Browsers: returns a customer token your backend signed for the signed-in user. Called
   * when the client first needs one and again whenever the token expired or was refused.
   */
  getToken?: TokenSource;
  /** The WebSocket URL; default: `url` with http(s) turned into ws(s). */
  wsUrl?: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Default: the platform's WebSocket, or the npm `ws` package on Node 20. */
  webSocketImpl?: unknown;
  /** Extra headers on every HTTP request. */
  headers?: Record<string, string>;
  /** Longest wait between two reconnection attempts of live data (default 10 000 ms). */
  maxReconnectDelayMs?: number;
}

export class Billgate implements Transport {
  readonly url: string;
  #http: Parameters<typeof postGraphQL>[0];
  #live: LiveConnection;

  constructor(options: BillgateOptions) {
    if (!options?.url) throw new TypeError("Billgate: `url` (the GraphQL endpoint, .../graphql) is required");
    this.url = options.url;
    const credentials = new Credentials(options);
    const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (!fetchImpl) throw new TypeError("Billgate: no fetch here; pass `fetch`");
    this.#http = { url: options.url, credentials, fetch: fetchImpl, headers: options.headers ?? {} };
    this.#live = new LiveConnection({
      wsUrl: options.wsUrl ?? options.url.replace(/^http/i, "ws"),
      credentials,
      webSocketImpl: options.webSocketImpl,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 10_000,
    });
  }

  /** A customer's handle: `app.customer({ type: "USER", customerId: "u-1" })`. */
  customer(ref: CustomerRef): BillgateCustomer {
    return new BillgateCustomer(this, { type: ref.type, customerId: ref.customerId });
  }

  /** The catalog's products (public ones for customer tokens and anonymous callers). */
  async listProducts(options: PageOptions & { customerType?: CustomerType } = {}): Promise<Page<Product>> {
    const data = await this.request(G.ListProductsDocument, {
      ...pageVariables(options), ...(options.customerType ? { customerType: options.customerType } : {}),
    });
    return page(data.products);
  }

  /** One catalog product, or null. */
  async getProduct(productId: string): Promise<Product | null> {
    return (await this.request(G.GetProductDocument, { productId })).product;
  }

  /** Give a product without checkout (secret key only). */
  grantProduct(options: { customer: CustomerRef; productId: string; priceId?: string; quantity?: number;
                          currency?: G.Currency }): Promise<GrantResult> {
    const { customer, ...rest } = options;
    return this.customer(customer).grantProduct(rest);
  }

  /** Cancel a customer's subscription (the seed's `app.cancelSubscription`). */
  cancelSubscription(options: { customer: CustomerRef; immediately?: boolean } & SubscriptionTarget): Promise<Subscription> {
    const { customer, ...rest } = options;
    return this.customer(customer).cancelSubscription(rest as SubscriptionTarget & { immediately?: boolean });
  }

  /** Any operation, e.g. one of your own typed documents; throws BillgateError on errors. */
  request<TResult, TVariables>(document: Document<TResult, TVariables>, variables?: TVariables): Promise<TResult> {
    return postGraphQL(this.#http, document, variables);
  }

  /** Any subscription, shared and kept alive like onItem; `select` picks the value to pass on. */
  listen<TData, TValue, TVariables>(document: Document<TData, TVariables>, variables: TVariables,
                                    select: (data: TData) => TValue, onChange: (value: TValue) => void,
                                    onError?: (error: BillgateError) => void): Unsubscribe {
    return this.#live.listen(document, variables, select, onChange, onError);
  }

  /** The live connection: "idle" (nothing listening), "connecting", "connected", "reconnecting". */
  get connectionStatus(): ConnectionStatus {
    return this.#live.status;
  }

  onConnectionStatus(listener: (status: ConnectionStatus) => void): Unsubscribe {
    return this.#live.onStatus(listener);
  }

  /** Close the live connection (listeners stop). HTTP calls keep working. */
  close(): Promise<void> {
    return this.#live.close();
  }

  // Server-side operations that later billgate releases add (reservations, auto top-up,
  // customer portal links) go on BillgateCustomer / BillgateItem, next to their siblings.
}

export { throwUserErrors };
