// The shapes the client returns, named for people: each is the generated type of a fragment
// in operations/fragments.graphql, so it always matches schema.graphql.
import type * as G from "./generated/graphql.js";

export type {
  Currency, CustomerRef, CustomerType, ErrorCode, InvoiceStatus, ItemExpiry, ProductType,
  SubscriptionStatus, SwitchTiming,
} from "./generated/graphql.js";

/**
 * A balance: `quantity` may be negative (debt); `nonNegativeQuantity` is for display;
 * `reserved` is held by reservations and `available` (= quantity - reserved) is what is left
 * to consume.
 */
export type Item = G.ItemFieldsFragment;
/** A hold made by `item.reserve(...)`: commit or release it by `id`. */
export type Reservation = NonNullable<G.ReserveItemQuantityMutation["reserveItemQuantity"]["reservation"]>;
export type Product = G.ProductFieldsFragment;
export type Price = G.PriceFieldsFragment;
export type Money = G.MoneyFieldsFragment;
export type OwnedProduct = G.OwnedProductFieldsFragment;
/**
 * A subscription: `quantity` is its seats; `scheduledChange` the plan it moves to at the period
 * end (null when none); `migratedAt` when a price migration moved it onto its price.
 */
export type Subscription = G.SubscriptionFieldsFragment;
export type ScheduledChange = NonNullable<G.SubscriptionFieldsFragment["scheduledChange"]>;
export type Invoice = G.InvoiceFieldsFragment;
export type PaymentMethod = G.PaymentMethodFieldsFragment;
/** What switching plans would do now (`previewSwitchSubscription`): nothing is written. */
export type SwitchPreview = NonNullable<G.PreviewSwitchSubscriptionMutation["previewSwitchSubscription"]["preview"]>;
export type Billing = { hasCustomer: boolean; defaultPaymentMethod: PaymentMethod | null };

/** What `onCustomer` and `getCustomer` give: what the customer owns and its live subscriptions. */
export interface CustomerState {
  id: string;
  type: G.CustomerType;
  customerId: string;
  products: OwnedProduct[];
  /** TRIALING, ACTIVE, PAST_DUE and PAUSED ones, newest first. */
  subscriptions: Subscription[];
}

/** One page of a list; pass `nextCursor` as `cursor` for the next one (null: the last page). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageOptions {
  /** At most this many (1-100; the server's default is 20). */
  limit?: number;
  cursor?: string | null;
}

export interface GrantResult {
  ownedProduct: OwnedProduct | null;
  /** Set when the product is a subscription. */
  subscription: Subscription | null;
}

/** A customer's auto top-up of one item (`item.setAutoTopUp`, `item.getAutoTopUp`). */
export type AutoTopUp = G.AutoTopUpFieldsFragment;

/** What `setAutoTopUp` takes: buy `quantity` (1) of `productId` at `priceId` when a change
 * takes `available` from above `threshold` to at or below it, at most `maxPerMonth` (10)
 * times a calendar month; `enabled` (true). */
export interface AutoTopUpSettings {
  threshold: number;
  productId: string;
  priceId?: string | null;
  quantity?: number;
  maxPerMonth?: number;
  enabled?: boolean;
}

export interface QuantityOptions {
  description?: string;
  /** A retry with the same key changes nothing more (and answers as the first call did). */
  idempotencyKey?: string;
}

export function customerState(customer: G.CustomerStateFieldsFragment): CustomerState {
  return {
    id: customer.id,
    type: customer.type,
    customerId: customer.customerId,
    products: customer.products.edges.map((edge) => edge.node),
    subscriptions: customer.subscriptions.edges.map((edge) => edge.node),
  };
}

export function page<T>(connection: { edges: { node: T }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }): Page<T> {
  return {
    items: connection.edges.map((edge) => edge.node),
    nextCursor: connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null,
  };
}

export function pageVariables(options: PageOptions = {}): { first?: number; after?: string } {
  return {
    ...(options.limit === undefined ? {} : { first: options.limit }),
    ...(options.cursor ? { after: options.cursor } : {}),
  };
}
