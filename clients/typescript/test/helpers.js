// Shared by the tests: waiting for a condition, and a live value recorder.
import assert from "node:assert/strict";

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Resolves once `check()` is truthy; fails with `what` after `timeoutMs`. */
export async function waitFor(check, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Every value a live listener received, and its errors. */
export function recorder() {
  const values = [];
  const errors = [];
  return {
    values,
    errors,
    next: (value) => values.push(value),
    error: (error) => errors.push(error),
    get last() {
      return values.at(-1);
    },
  };
}

export const USER = (customerId) => ({ type: "USER", customerId });

export const SPEND = `mutation ($customer: CustomerRef!, $amount: BigInt!) {
  tryDecreaseItemQuantity(input: {customer: $customer, itemId: "credits", amount: $amount}) { success item { quantity version } }
}`;

/** Completes a hosted test-mode checkout as the buyer's browser would (the 4242 card). */
export async function completeCheckout(url) {
  const response = await fetch(`${url}/complete`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "test_card=4242424242424242",
    redirect: "manual",
  });
  assert.equal(response.status, 303, await response.text());
  return response.headers.get("location");
}
