// setAutoTopUp / getAutoTopUp against a real `billgate serve` (its scheduler buys the top-up).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Billgate, BillgateError } from "@billgate/client";
import { mintCustomerToken } from "@billgate/client/server";
import { startBillgate } from "@billgate/test-server";
import { USER } from "./helpers.js";

let server;
let backend;

before(async () => {
  server = await startBillgate({ SCHEDULER_INTERVAL: "0.2" });
  backend = new Billgate({ url: server.url, secretKey: server.secretKey });
});
after(async () => {
  await server?.stop();
});

function asUser(userId) {
  return new Billgate({
    url: server.url,
    getToken: () => mintCustomerToken({ secret: server.tokenSecret, customer: USER(userId) }),
  });
}

async function rejects(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof BillgateError, `a BillgateError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

describe("auto top-up", () => {
  test("a customer token sets its own (defaults filled in); getAutoTopUp reads it; others' are FORBIDDEN", async () => {
    const credits = asUser("u-topup").customer(USER("u-topup")).item("credits");
    assert.equal(await credits.getAutoTopUp(), null);
    const set = await credits.setAutoTopUp({ threshold: 20, productId: "credit-pack", priceId: "once" });
    assert.deepEqual(set, {
      threshold: 20, productId: "credit-pack", priceId: "once", quantity: 1, maxPerMonth: 10,
      enabled: true, lastTriggeredAt: null, disabledReason: null,
    });
    assert.deepEqual(await credits.getAutoTopUp(), set);
    await rejects(asUser("u-other").customer(USER("u-topup")).item("credits")
      .setAutoTopUp({ threshold: 1, productId: "credit-pack" }), "FORBIDDEN");
    await rejects(credits.setAutoTopUp({ threshold: -1, productId: "credit-pack" }), "INVALID_INPUT");
    await rejects(credits.setAutoTopUp({ threshold: 5, productId: "no-such-product" }), "PRODUCT_NOT_FOUND");
    assert.equal((await credits.getAutoTopUp()).threshold, 20);
  });

  test("a spend that crosses the threshold buys the product once, after the spend answered", async () => {
    const credits = backend.customer(USER("u-crossing")).item("credits");
    await credits.setAutoTopUp({ threshold: 50, productId: "credit-pack", priceId: "once" });
    assert.equal(await credits.tryDecreaseQuantity(60), true);
    const deadline = Date.now() + 30_000;
    let item = await credits.get();
    while (item.quantity !== 540 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      item = await credits.get();
    }
    assert.equal(item.quantity, 540);
    assert.ok((await credits.getAutoTopUp()).lastTriggeredAt);
  });
});
