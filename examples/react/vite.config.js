// The example's dev server and preview server also play your backend: GET /session answers
// with billgate's URL and a customer token for the signed-in user (here always one user),
// minted with @billgate/client/server. In your app that is a route of your own backend,
// behind your sign-in. Settings (environment):
//   BILLGATE_URL                     billgate's GraphQL endpoint (default http://127.0.0.1:8000/graphql)
//   BILLGATE_CUSTOMER_TOKEN_SECRET   the secret billgate checks tokens with (default: `make run`'s)
//   EXAMPLE_USER_ID                  the signed-in user (default demo-user)
//   EXAMPLE_TOKEN_TTL_SECONDS        token lifetime (default 600; the page asks for a new one itself)
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { mintCustomerToken } from "@billgate/client/server";

function billgateSession() {
  const settings = {
    billgateUrl: process.env.BILLGATE_URL ?? "http://127.0.0.1:8000/graphql",
    secret: process.env.BILLGATE_CUSTOMER_TOKEN_SECRET ?? "dev-only-customer-token-secret-change-me",
    userId: process.env.EXAMPLE_USER_ID ?? "demo-user",
    ttlSeconds: Number(process.env.EXAMPLE_TOKEN_TTL_SECONDS ?? 600),
  };
  async function session(request, response, next) {
    if (request.url?.split("?")[0] !== "/session") return next();
    // A real backend checks its own sign-in here, then names that user.
    const token = await mintCustomerToken({
      secret: settings.secret,
      customer: { type: "USER", customerId: settings.userId },
      ttlSeconds: settings.ttlSeconds,
    });
    response.setHeader("Content-Type", "application/json");
    response.setHeader("Cache-Control", "no-store");
    response.end(JSON.stringify({ billgateUrl: settings.billgateUrl, userId: settings.userId, token }));
  }
  return {
    name: "billgate-session",
    configureServer: (server) => void server.middlewares.use(session),
    configurePreviewServer: (server) => void server.middlewares.use(session),
  };
}

export default defineConfig({
  plugins: [react(), billgateSession()],
  server: { port: 3000 },
  preview: { port: 3000 },
});
