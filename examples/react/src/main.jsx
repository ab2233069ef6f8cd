import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Billgate } from "@billgate/client";
import { BillgateProvider } from "@billgate/react";
import { App } from "./App.jsx";
import "./style.css";

const PLAN_LINE = "user-plans"; // the product line whose product is "the plan" (examples/catalog.yaml)

// Your backend's route: who is signed in, and a customer token for them.
async function session() {
  const response = await fetch("/session");
  if (!response.ok) throw new Error(`could not get a session (${response.status})`);
  return response.json();
}

async function main() {
  const first = await session();
  let unused = first.token;
  const billgate = new Billgate({
    url: first.billgateUrl,
    // Called again whenever the token expired or was refused: live data never goes stale.
    getToken: async () => {
      const token = unused ?? (await session()).token;
      unused = undefined;
      return token;
    },
  });
  const catalog = await billgate.listProducts({ customerType: "USER", limit: 100 });
  const plans = catalog.items.filter((product) => product.productLine?.productLineId === PLAN_LINE);
  createRoot(document.getElementById("root")).render(
    <StrictMode>
      <BillgateProvider client={billgate} customer={{ type: "USER", customerId: first.userId }}>
        <App planIds={new Set(plans.map((plan) => plan.productId))} />
      </BillgateProvider>
    </StrictMode>,
  );
}

main().catch((error) => {
  document.getElementById("root").textContent = `Error: ${error.message}`;
});
