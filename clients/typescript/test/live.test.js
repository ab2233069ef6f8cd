// Live balances and customer state against a real `billgate serve`: a 3-second customer
// token expires while subscriptions are open, and the server restarts under them; every
// change made meanwhile still arrives, in version order.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Billgate } from "@billgate/client";
import { mintCustomerToken } from "@billgate/client/server";
import { startBillgate } from "@billgate/test-server";
import { completeCheckout, recorder, SPEND, USER, waitFor } from "./helpers.js";

let server;
before(async () => {
  server = await startBillgate({ ALLOWED_RETURN_URLS: "http://app.test/" });
});
after(async () => {
  await server?.stop();
});

function browserClient(userId, ttlSeconds) {
  const minted = [];
  const app = new Billgate({
    url: server.url,
    getToken: async () => {
      minted.push(Date.now());
      return mintCustomerToken({ secret: server.tokenSecret, customer: USER(userId), ttlSeconds });
    },
  });
  const statuses = [];
  app.onConnectionStatus((status) => statuses.push(status));
  return { app, minted, statuses, user: app.customer(USER(userId)) };
}

function assertVersionsIncrease(values) {
  for (let i = 1; i < values.length; i++) {
    assert.ok(values[i].version > values[i - 1].version, `versions ${values.map((v) => v.version)} must increase`);
  }
}

test("a live balance survives a 3-second token: a change made while it reconnects still arrives", async () => {
  const { app, minted, statuses, user } = browserClient("u-expiry", 3);
  // A first read creates the customer with its Free plan (a subscription alone does not:
  // itemQuantityChanged reads 0 for a customer billgate has never seen).
  assert.equal((await user.getItem("credits")).quantity, 100);
  const credits = recorder();
  const stop = user.onItem("credits", credits.next, credits.error);
  try {
    await waitFor(() => credits.last?.quantity === 100, "the Free plan's 100 credits");
    await server.request(SPEND, { customer: USER("u-expiry"), amount: 10 });
    await waitFor(() => credits.last?.quantity === 90, "90 after a spend");

    // The server closes the socket (4403 "customer token expired") about 3 s after the token
    // was minted. Spend at the moment the client notices, before it has reconnected.
    const reconnecting = statuses.length;
    await waitFor(() => statuses.slice(reconnecting).includes("reconnecting"), "the token to expire", 8_000);
    await server.request(SPEND, { customer: USER("u-expiry"), amount: 7 });
    await waitFor(() => credits.last?.quantity === 83, "83: the spend made during the reconnect");
    assert.ok(minted.length >= 2, "getToken was called again for the reconnect");
    assert.equal(app.connectionStatus, "connected");

    await server.request(SPEND, { customer: USER("u-expiry"), amount: 3 });
    await waitFor(() => credits.last?.quantity === 80, "80 on the new connection");
    assert.deepEqual(credits.values.map((v) => v.quantity), [100, 90, 83, 80]);
    assertVersionsIncrease(credits.values);
    assert.deepEqual(credits.errors, []);
  } finally {
    stop();
    await app.close();
  }
});

test("a server restart mid-subscription: changes made while it was down arrive after the reconnect", async () => {
  const { app, statuses, user } = browserClient("u-restart", 3600);
  const credits = recorder();
  const customer = recorder();
  const stops = [user.onItem("credits", credits.next, credits.error), user.onCustomer(customer.next, customer.error)];
  try {
    await waitFor(() => credits.last?.quantity === 100 && customer.last, "the first state");
    assert.deepEqual(customer.last.products.map((p) => p.productId), ["free"]);

    const before = statuses.length;
    await server.restart({
      whileDown: async (request) => {
        // Through a second server on the same database: no client can be listening.
        await request(SPEND, { customer: USER("u-restart"), amount: 25 });
        await request(`mutation { grantProduct(input: {customer: {type: USER, customerId: "u-restart"},
          productId: "credit-pack"}) { userErrors { code } } }`);
      },
    });
    await waitFor(() => credits.last?.quantity === 575, "575 (100 - 25 + 500) after the reconnect", 20_000);
    await waitFor(() => customer.last.products.some((p) => p.productId === "credit-pack"), "the granted pack");
    assert.ok(statuses.slice(before).includes("reconnecting"));

    await server.request(SPEND, { customer: USER("u-restart"), amount: 5 });
    await waitFor(() => credits.last?.quantity === 570, "570 live on the new connection");
    assertVersionsIncrease(credits.values);
    assert.deepEqual([credits.errors, customer.errors], [[], []]);
  } finally {
    stops.forEach((stop) => stop());
    await app.close();
  }
});

test("onCustomer: the plan flips after a checkout, in every listener, on one shared subscription", async () => {
  const { app, user } = browserClient("u-checkout", 3600);
  const first = recorder();
  const second = recorder();
  const stops = [user.onCustomer(first.next), user.onCustomer(second.next)];
  try {
    await waitFor(() => first.last && second.last, "both listeners' first state");
    const url = await user.createCheckoutUrl({ productId: "pro", priceId: "pro-monthly", returnUrl: "http://app.test/billing" });
    const location = await completeCheckout(url);
    assert.match(location, /^http:\/\/app\.test\/billing\?checkout_status=complete&checkout_id=/);
    for (const listener of [first, second]) {
      await waitFor(() => listener.last.products.some((p) => p.productId === "pro"), "Pro in the live state");
    }
    const pro = first.last.products.find((p) => p.productId === "pro");
    assert.equal(pro.subscription.status, "ACTIVE");
    assert.equal(first.last.subscriptions[0].productId, "pro");
    assert.ok(!first.last.products.some((p) => p.productId === "free"), "Free steps aside");
  } finally {
    stops.forEach((stop) => stop());
    await app.close();
  }
});

test("a live subscription the token may not read ends with FORBIDDEN", async () => {
  const { app, user } = browserClient("u-own", 3600);
  const other = app.customer(USER("someone-else"));
  const errors = [];
  other.onItem("credits", () => assert.fail("no data for another user"), (error) => errors.push(error));
  try {
    await waitFor(() => errors.length, "the error");
    assert.equal(errors[0].name, "BillgateError");
    assert.equal(errors[0].code, "FORBIDDEN");
    // The client still works for the token's own user.
    assert.equal((await user.getItem("credits")).quantity, 100);
  } finally {
    await app.close();
  }
});
