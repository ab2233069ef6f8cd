// The hooks in Debian's Chromium, through examples/react (built with Vite, served by `vite
// preview`, whose /session plays the app's backend), against a real `billgate serve` on
// another origin. Customer tokens live 3 seconds, so every step below runs across several
// token refreshes. Requests that would leave the machine are aborted.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { freePort, startBillgate } from "@billgate/test-server";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                       "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const EXAMPLE = resolve(import.meta.dirname, "..", "..", "..", "examples", "react");
const USER = { type: "USER", customerId: "react-user" };
// The promise: a server-side change shows on the counter within a second.
const LIVE_WITHIN_MS = 1_000;
const SPEND = `mutation ($customer: CustomerRef!, $amount: BigInt!) {
  tryDecreaseItemQuantity(input: {customer: $customer, itemId: "credits", amount: $amount}) { success } }`;

let server;
let app;
let preview;
let browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  server = await startBillgate({ ALLOWED_ORIGINS: origin, ALLOWED_RETURN_URLS: `${origin}/` });
  // As its README says: npm run build, then npm run preview (Vite from the workspace).
  execFileSync("npm", ["run", "build", "--", "--logLevel", "error"], { cwd: EXAMPLE, stdio: ["ignore", "ignore", "inherit"] });
  preview = spawn("npm", ["run", "preview", "--", "--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
    cwd: EXAMPLE,
    detached: true, // its own process group: npm, sh and vite stop together
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, BILLGATE_URL: server.url, BILLGATE_CUSTOMER_TOKEN_SECRET: server.tokenSecret,
           EXAMPLE_USER_ID: USER.customerId, EXAMPLE_TOKEN_TTL_SECONDS: "3" },
  });
  app = `${origin}/`;
  await waitForHttp(app);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (preview) process.kill(-preview.pid, "SIGTERM");
  await server?.stop();
});

async function waitForHttp(url) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  assert.fail(`${url} did not answer`);
}

/** Waits until the element's text is `text`; returns the milliseconds it took. */
async function textBecomes(locator, text, timeoutMs = 10_000) {
  const started = Date.now();
  let last;
  while (Date.now() - started <= timeoutMs) {
    last = (await locator.textContent({ timeout: timeoutMs }))?.trim();
    if (last === text) return Date.now() - started;
    await new Promise((done) => setTimeout(done, 20));
  }
  assert.fail(`expected "${text}" within ${timeoutMs} ms, still "${last}"`);
}

async function newPage(context, errors) {
  const page = await context.newPage();
  page.on("pageerror", (error) => errors.push(String(error)));
  page.setDefaultTimeout(15_000);
  return page;
}

async function blockNonLocal(context) {
  const blocked = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (["data:", "blob:"].includes(url.protocol) || ["127.0.0.1", "localhost"].includes(url.hostname)) {
      return route.continue();
    }
    blocked.push(url.href);
    return route.abort();
  });
  return blocked;
}

test("the counter follows server-side changes within a second, across token expiry; the plan flips after checkout", async () => {
  const context = await browser.newContext();
  const blocked = await blockNonLocal(context);
  const errors = [];
  try {
    const watching = await newPage(context, errors);
    const sessions = [];
    watching.on("request", (request) => request.url().endsWith("/session") && sessions.push(Date.now()));
    await watching.goto(app);
    const plan = watching.getByLabel("Plan");
    const credits = watching.getByLabel("AI credits");
    await textBecomes(plan, "Free");
    await textBecomes(credits, "100");

    await server.request(SPEND, { customer: USER, amount: 10 });
    const firstMs = await textBecomes(credits, "90", LIVE_WITHIN_MS);

    // The page's first token has expired by now (3 s): billgate closed the socket and the
    // page asked its backend for a new token, reconnected, and reads live again.
    await new Promise((done) => setTimeout(done, 3_500));
    await server.request(SPEND, { customer: USER, amount: 5 });
    const afterExpiryMs = await textBecomes(credits, "85", LIVE_WITHIN_MS);
    assert.ok(sessions.length >= 2, `the page fetched a new token (${sessions.length} /session requests)`);

    const buying = await newPage(context, errors);
    await buying.goto(app);
    await buying.getByRole("button", { name: "Upgrade to Pro" }).click();
    await buying.waitForURL(`${server.base}/checkout/*`);
    assert.equal(await buying.locator("h1").innerText(), "Pro");
    assert.equal(await buying.getByRole("link", { name: "Cancel" }).getAttribute("href"), app);
    await buying.getByRole("button", { name: "Complete test purchase" }).click();
    await buying.waitForURL(`${app}?checkout_status=complete&checkout_id=*`);
    await buying.getByText("Thanks! Your purchase is complete.").waitFor();
    await textBecomes(buying.getByLabel("Plan"), "Pro");
    // Pro's 1,000 credits; Free's monthly credits ended with Free (WHEN_REPEATED).
    await textBecomes(buying.getByLabel("AI credits"), "1,000");
    await buying.getByRole("button", { name: "Upgrade to Pro" }).waitFor({ state: "detached" });

    // The first tab was never reloaded: useProducts and useItem brought the new plan.
    await textBecomes(plan, "Pro");
    await textBecomes(credits, "1,000");

    // "Manage billing": the card on file and the invoice of the purchase (useBilling, useInvoices).
    await watching.getByRole("button", { name: "Manage billing" }).click();
    const invoices = watching.getByRole("table", { name: "Invoices" });
    await invoices.getByRole("cell", { name: "$19.00" }).waitFor();
    await invoices.getByRole("cell", { name: "paid" }).waitFor();
    await watching.getByText("Card: none on file").waitFor();

    assert.equal(await watching.getByRole("alert").count(), 0);
    assert.deepEqual([errors, blocked], [[], []]);
    console.log(`counter updated in ${firstMs} ms, and ${afterExpiryMs} ms after the token expired`);
  } finally {
    await context.close();
  }
});
