export { Billgate, type BillgateOptions } from "./client.js";
export { BillgateCustomer, BillgateItem, type SubscriptionTarget, type Transport } from "./customer.js";
export { BillgateError, type BillgateErrorCode, type UserError } from "./errors.js";
export type { TokenSource } from "./credentials.js";
export type { Document } from "./http.js";
export { backoffMs, type ConnectionStatus, type Unsubscribe } from "./live.js";
export type {
  AutoTopUp, AutoTopUpSettings, Billing, Currency, CustomerRef, CustomerState, CustomerType, ErrorCode, GrantResult, Invoice, InvoiceStatus,
  Item, ItemExpiry, Money, OwnedProduct, Page, PageOptions, PaymentMethod, Price, Product, ProductType,
  QuantityOptions, Reservation, ScheduledChange, Subscription, SubscriptionStatus, SwitchPreview, SwitchTiming,
} from "./types.js";
/** Every generated type and typed document, for your own operations with `request`. */
export * as generated from "./generated/graphql.js";
/** The package's version: it follows billgate's (pyproject.toml). */
export const VERSION = "0.1.0";
