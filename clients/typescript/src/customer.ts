// A customer's side of the API: its items, what it owns, checkout, plans, invoices, billing.
// Browser code gets one with a customer token (its own user, or a team it belongs to);
// backends get any with the secret key.
import * as G from "./generated/graphql.js";
import { BillgateError, throwUserErrors, type UserError } from "./errors.js";
import type { Document } from "./http.js";
import type { Unsubscribe } from "./live.js";
import {
  customerState, page, pageVariables, type AutoTopUp, type AutoTopUpSettings, type Billing, type CustomerRef, type CustomerState, type GrantResult,
  type Invoice, type Item, type OwnedProduct, type Page, type PageOptions, type PaymentMethod,
  type QuantityOptions, type Reservation, type Subscription, type SwitchPreview,
} from "./types.js";

/** What a customer handle needs from the client (implemented by Billgate). */
export interface Transport {
  request<TResult, TVariables>(document: Document<TResult, TVariables>, variables?: TVariables): Promise<TResult>;
  listen<TData, TValue, TVariables>(document: Document<TData, TVariables>, variables: TVariables,
                                    select: (data: TData) => TValue, onChange: (value: TValue) => void,
                                    onError?: (error: BillgateError) => void): Unsubscribe;
}

/** A subscription is named by its product (the live one of it) or by its id. */
export type SubscriptionTarget = { productId: string; subscriptionId?: never } | { subscriptionId: string; productId?: never };

export class BillgateCustomer {
  constructor(private readonly transport: Transport, readonly ref: CustomerRef) {}

  // --- items ---------------------------------------------------------------------------

  /** A handle on one of the customer's items (balances): read, consume, grant, watch. */
  item(itemId: string): BillgateItem {
    return new BillgateItem(this.transport, this.ref, itemId);
  }

  /** The balance now (0 until something was granted). */
  getItem(itemId: string): Promise<Item> {
    return this.item(itemId).get();
  }

  /** Every item of the customer's type with its balance. */
  async listItems(): Promise<Item[]> {
    const data = await this.transport.request(G.ListItemsDocument, { customer: this.ref });
    return data.customer.items;
  }

  /**
   * Live: `onChange` gets the balance now, then each committed change (versions increasing).
   * Survives token expiry and reconnects; after each one the balance is read again.
   */
  onItem(itemId: string, onChange: (item: Item) => void, onError?: (error: BillgateError) => void): Unsubscribe {
    return this.item(itemId).onChange(onChange, onError);
  }

  // --- the customer's products and plans ----------------------------------------------

  /** What the customer owns and its live subscriptions. */
  async getCustomer(): Promise<CustomerState> {
    const data = await this.transport.request(G.GetCustomerDocument, { customer: this.ref });
    return customerState(data.customer);
  }

  /**
   * Live: the customer's state now, then again after each committed change of its products,
   * subscriptions or invoices (a checkout, a switch, a cancel, a renewal, a failed payment).
   */
  onCustomer(onChange: (customer: CustomerState) => void, onError?: (error: BillgateError) => void): Unsubscribe {
    return this.transport.listen(G.CustomerChangedDocument, { customer: this.ref },
                                 (data) => customerState(data.customerChanged), onChange, onError);
  }

  /** The products the customer owns, one entry per product (stackable ones summed). */
  async listProducts(options: PageOptions = {}): Promise<Page<OwnedProduct>> {
    const data = await this.transport.request(G.ListOwnedProductsDocument, { customer: this.ref, ...pageVariables(options) });
    return page(data.customer.products);
  }

  /** Subscriptions, newest first (past ones too unless `status` says otherwise). */
  async listSubscriptions(options: PageOptions & { status?: G.SubscriptionStatus[] } = {}): Promise<Page<Subscription>> {
    const data = await this.transport.request(G.ListSubscriptionsDocument, {
      customer: this.ref, ...pageVariables(options), ...(options.status ? { status: options.status } : {}),
    });
    return page(data.customer.subscriptions);
  }

  /**
   * Should the customer get what the product gives (owned, or a subscription with access)?
   * Without a product: whether any subscription gives access now (StackBE's checkAccess).
   */
  async hasAccess(productId?: string): Promise<boolean> {
    const data = await this.transport.request(G.HasAccessDocument, { customer: this.ref, productId: productId ?? null });
    return data.customer.hasAccess;
  }

  /** The newest live subscription (of a product line, if given), or null. */
  async getCurrentSubscription(options: { productLineId?: string } = {}): Promise<Subscription | null> {
    const data = await this.transport.request(G.GetCurrentSubscriptionDocument,
                                              { customer: this.ref, productLineId: options.productLineId ?? null });
    return data.customer.currentSubscription;
  }

  /**
   * A link to billgate's hosted checkout (single use, 24 h). `returnUrl` must be allow-listed.
   * `quantity`: seats of a subscription (up to the price's `quantityMax`); `promoCode` (any case)
   * is checked now (PROMO_CODE_INVALID says why not) and counted when the checkout is paid.
   */
  async createCheckoutUrl(options: {
    productId: string; returnUrl: string; priceId?: string; cancelUrl?: string; quantity?: number;
    currency?: G.Currency; promoCode?: string;
  }): Promise<string> {
    const data = await this.transport.request(G.CreateCheckoutUrlDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.createCheckoutUrl);
    return required(data.createCheckoutUrl.url, "createCheckoutUrl");
  }

  /** Give a product without checkout (secret key only). */
  async grantProduct(options: { productId: string; priceId?: string; quantity?: number; currency?: G.Currency }): Promise<GrantResult> {
    const data = await this.transport.request(G.GrantProductDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.grantProduct);
    return { ownedProduct: data.grantProduct.ownedProduct, subscription: data.grantProduct.subscription };
  }

  /** Move a live subscription to another plan of its line, prorated by time now, or at the period end (`when: "PERIOD_END"`). */
  async switchSubscription(options: { fromProductId: string; toProductId: string; priceId?: string; when?: G.SwitchTiming }): Promise<Subscription> {
    const data = await this.transport.request(G.SwitchSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.switchSubscription, "switchSubscription");
  }

  /**
   * Drop the plan change waiting for the period end (from `switchSubscription` with
   * `when: "PERIOD_END"`, or a price migration); the subscription renews as it is.
   */
  async cancelScheduledChange(options: { subscriptionId: string }): Promise<Subscription> {
    const data = await this.transport.request(G.CancelScheduledChangeDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.cancelScheduledChange, "cancelScheduledChange");
  }

  /**
   * Seats: more is charged now, prorated (a decline throws PAYMENT_FAILED and changes nothing);
   * fewer take effect now with a prorated credit toward future invoices. Included items scale
   * with the quantity.
   */
  async updateSubscriptionQuantity(options: { subscriptionId: string; quantity: number }): Promise<Subscription> {
    const data = await this.transport.request(G.UpdateSubscriptionQuantityDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.updateSubscriptionQuantity, "updateSubscriptionQuantity");
  }

  /** Cancel at the end of the paid period (access until then), or `immediately`. */
  async cancelSubscription(options: SubscriptionTarget & { immediately?: boolean }): Promise<Subscription> {
    const data = await this.transport.request(G.CancelSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.cancelSubscription, "cancelSubscription");
  }

  /** Undo a pending period-end cancel. */
  async uncancelSubscription(options: SubscriptionTarget): Promise<Subscription> {
    const data = await this.transport.request(G.UncancelSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.uncancelSubscription, "uncancelSubscription");
  }

  /** Stop billing and access, until resumed (at `resumesAt`, an ISO date-time, if given). */
  async pauseSubscription(options: SubscriptionTarget & { resumesAt?: string }): Promise<Subscription> {
    const data = await this.transport.request(G.PauseSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.pauseSubscription, "pauseSubscription");
  }

  /** Restart billing with a new period, charged now. */
  async resumeSubscription(options: SubscriptionTarget): Promise<Subscription> {
    const data = await this.transport.request(G.ResumeSubscriptionDocument, { input: { customer: this.ref, ...options } });
    return subscriptionOf(data.resumeSubscription, "resumeSubscription");
  }

  // --- invoices and billing -----------------------------------------------------------

  /** Invoices, newest first: `{ items, nextCursor }`. */
  async listInvoices(options: PageOptions = {}): Promise<Page<Invoice>> {
    const data = await this.transport.request(G.ListInvoicesDocument, { customer: this.ref, ...pageVariables(options) });
    return page(data.customer.invoices);
  }

  /** Whether the customer has a payment customer, and its default card. */
  async getBilling(): Promise<Billing> {
    const data = await this.transport.request(G.GetBillingDocument, { customer: this.ref });
    return data.customer.billing;
  }

  /**
   * Live mode: a Stripe SetupIntent; give `clientSecret` (and `stripeAccountId`, for a
   * connected account) to Stripe Elements. Test mode: LIVE_MODE_ONLY.
   */
  async createPaymentMethodSetupIntent(): Promise<{ setupIntentId: string; clientSecret: string; stripeAccountId: string | null }> {
    const data = await this.transport.request(G.CreatePaymentMethodSetupIntentDocument, { input: { customer: this.ref } });
    const payload = data.createPaymentMethodSetupIntent;
    throwUserErrors(payload);
    return { setupIntentId: required(payload.setupIntentId, "createPaymentMethodSetupIntent"),
             clientSecret: required(payload.clientSecret, "createPaymentMethodSetupIntent"),
             stripeAccountId: payload.stripeAccountId };
  }

  /** After Stripe Elements confirmed the SetupIntent: make its card the default one. */
  async setDefaultPaymentMethodFromSetupIntent(setupIntentId: string): Promise<PaymentMethod> {
    const data = await this.transport.request(G.SetDefaultPaymentMethodFromSetupIntentDocument,
                                              { input: { customer: this.ref, setupIntentId } });
    throwUserErrors(data.setDefaultPaymentMethodFromSetupIntent);
    return required(data.setDefaultPaymentMethodFromSetupIntent.paymentMethod, "setDefaultPaymentMethodFromSetupIntent");
  }

  /** Where receipts and payment-failed emails go ("" removes it). */
  async setEmail(email: string): Promise<void> {
    const data = await this.transport.request(G.UpdateCustomerDocument, { input: { customer: this.ref, email } });
    throwUserErrors(data.updateCustomer);
  }

  /**
   * A link to billgate's customer portal for this customer (valid one hour; then a session
   * cookie bound to it). `returnUrl` (the portal's link back) must be allow-listed.
   */
  async createCustomerPortalUrl(options: { returnUrl: string }): Promise<{ url: string; expiresAt: string }> {
    const data = await this.transport.request(G.CreateCustomerPortalUrlDocument, { input: { customer: this.ref, ...options } });
    const payload = data.createCustomerPortalUrl;
    throwUserErrors(payload);
    return { url: required(payload.url, "createCustomerPortalUrl"),
             expiresAt: required(payload.expiresAt, "createCustomerPortalUrl") };
  }

  /** What `switchSubscription` would charge, credit and write now; writes nothing. */
  async previewSwitchSubscription(options: { fromProductId: string; toProductId: string; priceId?: string }): Promise<SwitchPreview> {
    const data = await this.transport.request(G.PreviewSwitchSubscriptionDocument, { input: { customer: this.ref, ...options } });
    throwUserErrors(data.previewSwitchSubscription);
    return required(data.previewSwitchSubscription.preview, "previewSwitchSubscription");
  }

  /** Pay an OPEN invoice with the default card (a decline throws PAYMENT_FAILED; it stays OPEN). */
  async payInvoice(invoiceId: string): Promise<Invoice> {
    const data = await this.transport.request(G.PayInvoiceDocument, { input: { customer: this.ref, invoiceId } });
    throwUserErrors(data.payInvoice);
    return required(data.payInvoice.invoice, "payInvoice");
  }

  // Later billgate releases add, here, once schema.graphql has their mutations:
  // setAutoTopUp({ itemId, threshold, ... }).
}

export class BillgateItem {
  constructor(private readonly transport: Transport, readonly customer: CustomerRef, readonly itemId: string) {}

  async get(): Promise<Item> {
    const data = await this.transport.request(G.GetItemDocument, { customer: this.customer, itemId: this.itemId });
    return data.customer.item;
  }

  /**
   * Consume `amount` only if the balance stays at or above 0 (atomic, never oversells):
   * true when consumed, false when the balance was too low (nothing changed).
   * Secret key only. With `idempotencyKey`, a retry changes nothing more.
   */
  async tryDecreaseQuantity(amount: number, options: QuantityOptions = {}): Promise<boolean> {
    const data = await this.transport.request(G.TryDecreaseItemQuantityDocument, { input: this.#input(amount, options) });
    const payload = data.tryDecreaseItemQuantity;
    if (payload.success) return true;
    if (payload.userErrors.every((error) => error.code === "INSUFFICIENT_QUANTITY")) return false;
    throw BillgateError.fromUserErrors(payload.userErrors);
  }

  /** Grant `amount` (optionally expiring at `expiresAt`, an ISO date-time). Secret key only. */
  async increaseQuantity(amount: number, options: QuantityOptions & { expiresAt?: string } = {}): Promise<Item> {
    const data = await this.transport.request(G.IncreaseItemQuantityDocument, { input: this.#input(amount, options) });
    throwUserErrors(data.increaseItemQuantity);
    return required(data.increaseItemQuantity.item, "increaseItemQuantity");
  }

  /** Remove `amount`; the balance may go negative (debt). Secret key only. */
  async decreaseQuantity(amount: number, options: QuantityOptions = {}): Promise<Item> {
    const data = await this.transport.request(G.DecreaseItemQuantityDocument, { input: this.#input(amount, options) });
    throwUserErrors(data.decreaseItemQuantity);
    return required(data.decreaseItemQuantity.item, "decreaseItemQuantity");
  }

  /** Live: the balance now, then each committed change; survives token expiry and reconnects. */
  onChange(onChange: (item: Item) => void, onError?: (error: BillgateError) => void): Unsubscribe {
    return this.transport.listen(G.ItemQuantityChangedDocument, { customer: this.customer, itemId: this.itemId },
                                 (data) => data.itemQuantityChanged, onChange, onError);
  }

  /**
   * Hold `amount` against `available` (quantity - reserved) until committed, released or
   * expired (after `ttlSeconds`, 300 by default): the reservation, or null when `available`
   * was too low (nothing changed). Atomic like tryDecreaseQuantity. Secret key only.
   */
  async reserve(amount: number, options: { ttlSeconds?: number; idempotencyKey?: string } = {}): Promise<Reservation | null> {
    const data = await this.transport.request(G.ReserveItemQuantityDocument, {
      input: { customer: this.customer, itemId: this.itemId, amount, ...options },
    });
    const payload = data.reserveItemQuantity;
    if (payload.success) return required(payload.reservation, "reserveItemQuantity");
    if (payload.userErrors.every((error) => error.code === "INSUFFICIENT_QUANTITY")) return null;
    throw BillgateError.fromUserErrors(payload.userErrors);
  }

  /** Use `amount` of a held reservation (all by default; one ledger change), releasing the rest. */
  async commit(reservationId: string, amount?: number): Promise<Item> {
    const data = await this.transport.request(G.CommitReservationDocument, { input: { reservationId, amount } });
    throwUserErrors(data.commitReservation);
    return required(data.commitReservation.item, "commitReservation");
  }

  /** Let go of a held reservation. */
  async release(reservationId: string): Promise<Item> {
    const data = await this.transport.request(G.ReleaseReservationDocument, { input: { reservationId } });
    throwUserErrors(data.releaseReservation);
    return required(data.releaseReservation.item, "releaseReservation");
  }

  /**
   * Set (or replace) the auto top-up of this item: the product is bought, charged
   * off-session to the default card, when a change takes `available` to `threshold` or
   * below. A customer token sets its own; a secret key anyone's.
   */
  async setAutoTopUp(settings: AutoTopUpSettings): Promise<AutoTopUp> {
    const data = await this.transport.request(G.SetAutoTopUpDocument, {
      input: { customer: this.customer, itemId: this.itemId, ...settings },
    });
    throwUserErrors(data.setAutoTopUp);
    return required(data.setAutoTopUp.autoTopUp, "setAutoTopUp");
  }

  /** The auto top-up of this item, or null when none was set. */
  async getAutoTopUp(): Promise<AutoTopUp | null> {
    const data = await this.transport.request(G.GetAutoTopUpDocument, { customer: this.customer, itemId: this.itemId });
    return data.customer.item.autoTopUp;
  }

  #input(amount: number, options: QuantityOptions & { expiresAt?: string }): G.ChangeItemQuantityInput {
    return { customer: this.customer, itemId: this.itemId, amount, ...options };
  }
}

/** The subscription of a subscription mutation's payload; its first user error is thrown. */
function subscriptionOf(payload: { subscription: Subscription | null; userErrors: UserError[] }, operation: string): Subscription {
  throwUserErrors(payload);
  return required(payload.subscription, operation);
}

function required<T>(value: T | null | undefined, operation: string): T {
  if (value == null) throw new BillgateError("GRAPHQL_ERROR", `${operation} answered without a result`);
  return value;
}
