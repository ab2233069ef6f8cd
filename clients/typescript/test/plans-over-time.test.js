// Plans over time through the client against a real `billgate serve`: a switch at the period
// end and its cancel, seats (checkout quantity, updateSubscriptionQuantity), promo codes at
// checkout. Customer tokens throughout, as in a browser; the secret key only where the API
// requires it (creating a promo code, a test card).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Billgate, BillgateError } from "@billgate/client";
import { mintCustomerToken } from "@billgate/client/server";
import { startBillgate } from "@billgate/test-server";
import { completeCheckout, USER } from "./helpers.js";

const RETURN_URL = "http://app.test/billing";
let server;
let backend;

before(async () => {
  server = await startBillgate({ ALLOWED_RETURN_URLS: "http://app.test/" });
  backend = new Billgate({ url: server.url, secretKey: server.secretKey });
});
after(async () => {
  await server?.stop();
});

function asUser(userId, teams) {
  return new Billgate({
    url: server.url,
    getToken: () => mintCustomerToken({ secret: server.tokenSecret, customer: USER(userId), teams }),
  });
}

async function rejects(promise, code, message) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof BillgateError, `a BillgateError, got ${error}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

async function saveTestCard(ref, cardNumber = "4242424242424242") {
  const data = await backend.request(`mutation ($customer: CustomerRef!, $cardNumber: String!) {
    setTestPaymentMethod(input: {customer: $customer, cardNumber: $cardNumber}) { userErrors { code } } }`,
  { customer: ref, cardNumber });
  assert.deepEqual(data.setTestPaymentMethod.userErrors, []);
}

async function buy(user, options) {
  await completeCheckout(await user.createCheckoutUrl({ returnUrl: RETURN_URL, ...options }));
}

describe("a switch at the period end", () => {
  test("nothing charged now; scheduledChange on every read; cancelScheduledChange drops it (a second time: INVALID_INPUT)", async () => {
    const ref = USER("u-later");
    const user = asUser("u-later").customer(ref);
    await buy(user, { productId: "pro", priceId: "pro-monthly" });

    const scheduled = await user.switchSubscription({ fromProductId: "pro", toProductId: "enterprise", when: "PERIOD_END" });
    assert.deepEqual([scheduled.productId, scheduled.priceId, scheduled.status], ["pro", "pro-monthly", "ACTIVE"]);
    assert.equal(scheduled.scheduledChange.toProductId, "enterprise");
    assert.equal(Date.parse(scheduled.scheduledChange.at), Date.parse(scheduled.currentPeriodEnd));
    assert.equal(scheduled.migratedAt, null);
    assert.deepEqual((await user.listInvoices()).items.map((i) => i.amountTotal), [1900], "only the checkout was charged");
    // The other reads show it too: the customer's state, the current subscription, the owned product.
    const state = await user.getCustomer();
    assert.equal(state.subscriptions[0].scheduledChange.toProductId, "enterprise");
    assert.equal(state.products[0].subscription.scheduledChange.toProductId, "enterprise");
    assert.equal((await user.getCurrentSubscription()).scheduledChange.toProductId, "enterprise");

    const kept = await user.cancelScheduledChange({ subscriptionId: scheduled.id });
    assert.deepEqual([kept.id, kept.productId, kept.scheduledChange], [scheduled.id, "pro", null]);
    assert.equal((await user.getCurrentSubscription()).scheduledChange, null);
    await rejects(user.cancelScheduledChange({ subscriptionId: scheduled.id }), "INVALID_INPUT");
    assert.equal((await user.listInvoices()).items.length, 1);
  });

  test("another customer's subscription is refused to a token; an unknown plan is refused and nothing is scheduled", async () => {
    const ref = USER("u-later-2");
    const user = asUser("u-later-2").customer(ref);
    await buy(user, { productId: "pro", priceId: "pro-monthly" });
    const subscription = await user.getCurrentSubscription();
    await rejects(user.switchSubscription({ fromProductId: "pro", toProductId: "nope", when: "PERIOD_END" }), "PRODUCT_NOT_FOUND");
    assert.equal((await user.getCurrentSubscription()).scheduledChange, null);
    await rejects(asUser("u-other").customer(ref).cancelScheduledChange({ subscriptionId: subscription.id }), "FORBIDDEN");
  });
});

describe("seats", () => {
  test("checkout with quantity 3; up to 5 charged now (a declined up first changes nothing); down to 2; included seats follow", async () => {
    const team = { type: "TEAM", customerId: "seats-co" };
    const admin = asUser("u-seats-admin", { "seats-co": "admin" }).customer(team);
    await buy(admin, { productId: "team", quantity: 3 });
    const bought = await admin.getCurrentSubscription();
    assert.deepEqual([bought.productId, bought.quantity], ["team", 3]);
    assert.equal((await admin.getItem("seats")).quantity, 15);
    const invoicesBefore = (await admin.listInvoices()).items;
    assert.deepEqual(invoicesBefore.map((i) => i.amountTotal), [3 * 4900]);

    // A declined card: more seats are refused and nothing changes.
    await saveTestCard(team, "4000000000000002");
    await rejects(admin.updateSubscriptionQuantity({ subscriptionId: bought.id, quantity: 5 }), "PAYMENT_FAILED");
    assert.equal((await admin.getCurrentSubscription()).quantity, 3);
    assert.equal((await admin.getItem("seats")).quantity, 15);

    await saveTestCard(team);
    const up = await admin.updateSubscriptionQuantity({ subscriptionId: bought.id, quantity: 5 });
    assert.equal(up.quantity, 5);
    assert.equal((await admin.getItem("seats")).quantity, 25);
    const invoices = (await admin.listInvoices()).items;
    assert.equal(invoices.length, 2);
    assert.equal(invoices[0].status, "PAID");
    // Two more seats for (almost) the whole period: prorated, so a little under 2 x 49.00.
    assert.ok(invoices[0].amountTotal > 0 && invoices[0].amountTotal <= 2 * 4900, `${invoices[0].amountTotal}`);
    const charged = invoices.reduce((sum, i) => sum + i.amountTotal, 0);

    const down = await admin.updateSubscriptionQuantity({ subscriptionId: bought.id, quantity: 2 });
    assert.equal(down.quantity, 2);
    assert.equal((await admin.getItem("seats")).quantity, 10);
    const afterDown = (await admin.listInvoices()).items;
    assert.equal(afterDown[0].amountTotal, 0);
    assert.equal(afterDown.reduce((sum, i) => sum + i.amountTotal, 0), charged, "fewer seats charge nothing now (a credit)");
  });

  test("refused: 0 seats, a price without seats (quantityMax 1), a member's token; nothing changes", async () => {
    const team = { type: "TEAM", customerId: "seats-refused" };
    const admin = asUser("u-sr-admin", { "seats-refused": "admin" }).customer(team);
    await buy(admin, { productId: "team", quantity: 2 });
    const subscription = await admin.getCurrentSubscription();
    await rejects(admin.updateSubscriptionQuantity({ subscriptionId: subscription.id, quantity: 0 }), "INVALID_INPUT");
    const member = asUser("u-sr-member", { "seats-refused": "member" }).customer(team);
    await rejects(member.updateSubscriptionQuantity({ subscriptionId: subscription.id, quantity: 1 }), "FORBIDDEN");
    assert.equal((await admin.getCurrentSubscription()).quantity, 2);

    const user = asUser("u-solo").customer(USER("u-solo"));
    await rejects(user.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", quantity: 2, returnUrl: RETURN_URL }),
                  "INVALID_INPUT");
    await buy(user, { productId: "pro", priceId: "pro-monthly" });
    const pro = await user.getCurrentSubscription();
    await rejects(user.updateSubscriptionQuantity({ subscriptionId: pro.id, quantity: 2 }), "INVALID_INPUT");
    assert.equal((await user.getCurrentSubscription()).quantity, 1);
  });
});

describe("promo codes at checkout", () => {
  test("a code (any case) discounts the checkout; an unknown or used-up one is PROMO_CODE_INVALID with the reason", async () => {
    const created = await backend.request(`mutation {
      createPromoCode(input: {code: "CLIENT20", percentOff: "20", duration: ONCE, maxRedemptions: 1}) {
        promoCode { code } userErrors { code message } } }`);
    assert.deepEqual(created.createPromoCode.userErrors, []);

    const user = asUser("u-promo").customer(USER("u-promo"));
    await rejects(user.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", returnUrl: RETURN_URL, promoCode: "NOPE" }),
                  "PROMO_CODE_INVALID", /unknown/);
    await buy(user, { productId: "pro", priceId: "pro-monthly", promoCode: "client20" });
    assert.deepEqual((await user.listInvoices()).items.map((i) => i.amountTotal), [1520]); // 19.00 - 20%

    const other = asUser("u-promo-2").customer(USER("u-promo-2"));
    await rejects(other.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", returnUrl: RETURN_URL, promoCode: "CLIENT20" }),
                  "PROMO_CODE_INVALID", /used up/);
  });
});
