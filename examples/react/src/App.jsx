import { useState } from "react";
import { useBillgate, useBilling, useInvoices, useItem, useProducts } from "@billgate/react";

const UPGRADE_TO = { productId: "pro", priceId: "pro-monthly" };

export function App({ planIds }) {
  const { customer } = useBillgate();
  const credits = useItem("credits");
  const products = useProducts();
  const [showBilling, setShowBilling] = useState(false);
  const [failure, setFailure] = useState();
  const [notice] = useState(() => thankOnReturn());
  const plan = products.data?.find((product) => planIds.has(product.productId));

  async function upgrade(event) {
    event.currentTarget.disabled = true;
    try {
      const here = location.origin + location.pathname;
      // billgate's hosted checkout; it comes back to `here` with ?checkout_status=complete.
      location.assign(await customer.createCheckoutUrl({ ...UPGRADE_TO, returnUrl: here, cancelUrl: here }));
    } catch (error) {
      setFailure(error.message);
      event.currentTarget.disabled = false;
    }
  }

  // The hook-up point for "Manage billing". When billgate has the customer portal
  // (createCustomerPortalUrl), send the user there instead:
  //   location.assign(await customer.createCustomerPortalUrl({ returnUrl: location.href }));
  // Until then the button shows the card on file and the latest invoices on this page.
  function manageBilling() {
    setShowBilling((shown) => !shown);
  }

  const error = failure ?? credits.error?.message ?? products.error?.message;
  return (
    <main>
      <h1>Your account</h1>
      {notice && <p className="notice">{notice}</p>}
      <dl>
        <dt id="plan-label">Plan</dt>
        <dd aria-labelledby="plan-label">{products.loading ? "…" : (plan?.displayName ?? "none")}</dd>
        <dt id="credits-label">AI credits</dt>
        <dd aria-labelledby="credits-label">{credits.data ? credits.data.quantity.toLocaleString("en") : "…"}</dd>
      </dl>
      <p className="actions">
        {plan && plan.productId !== UPGRADE_TO.productId && (
          <button type="button" onClick={upgrade}>Upgrade to Pro</button>
        )}
        <button type="button" aria-expanded={showBilling} onClick={manageBilling}>Manage billing</button>
      </p>
      {showBilling && <BillingPanel />}
      {error && <p className="error" role="alert">{error}</p>}
      <p className="hint">Plan and credits update live: spend credits or buy a plan anywhere and
        this page follows, across token refreshes and server restarts.</p>
    </main>
  );
}

function BillingPanel() {
  const billing = useBilling();
  const invoices = useInvoices({ limit: 5 });
  const card = billing.data?.defaultPaymentMethod;
  return (
    <section aria-labelledby="billing-title">
      <h2 id="billing-title">Billing</h2>
      <p>Card: {billing.loading && !billing.data ? "…" : card ? `${card.brand} ending in ${card.last4}` : "none on file"}</p>
      <table>
        <caption>Invoices</caption>
        <thead><tr><th>Date</th><th>Amount</th><th>Status</th><th></th></tr></thead>
        <tbody>
          {invoices.data?.items.map((invoice) => (
            <tr key={invoice.id}>
              <td>{new Date(invoice.createdAt).toLocaleDateString("en")}</td>
              <td>{money(invoice.amountTotal, invoice.currency)}</td>
              <td>{invoice.status.toLowerCase()}</td>
              <td><a href={invoice.hostedInvoiceUrl} target="_blank" rel="noreferrer">View</a></td>
            </tr>
          ))}
          {invoices.data?.items.length === 0 && <tr><td colSpan={4}>No invoices yet</td></tr>}
        </tbody>
      </table>
      {(billing.error || invoices.error) && <p className="error" role="alert">{(billing.error ?? invoices.error).message}</p>}
    </section>
  );
}

function thankOnReturn() {
  const params = new URLSearchParams(location.search);
  if (params.get("checkout_status") !== "complete") return undefined;
  history.replaceState(null, "", location.pathname); // a reload should not thank again
  return "Thanks! Your purchase is complete.";
}

/** Minor units to a price: 1900 USD -> "$19.00", 2900 JPY -> "¥2,900". */
function money(minorUnits, currency) {
  const format = new Intl.NumberFormat("en", { style: "currency", currency });
  return format.format(minorUnits / 10 ** format.resolvedOptions().maximumFractionDigits);
}
