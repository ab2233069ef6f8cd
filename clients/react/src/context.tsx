import { createContext, useContext, useMemo, type ReactNode } from "react";
import type { Billgate, BillgateCustomer, CustomerRef } from "@billgate/client";

interface BillgateContextValue {
  client: Billgate;
  customer: BillgateCustomer;
}

const BillgateContext = createContext<BillgateContextValue | null>(null);

export interface BillgateProviderProps {
  /** One client for the app, e.g. `new Billgate({ url, getToken })`. */
  client: Billgate;
  /** The customer the hooks below read: the signed-in user, or a team of theirs. */
  customer: CustomerRef;
  children?: ReactNode;
}

/** Gives the hooks below their client and customer. */
export function BillgateProvider({ client, customer, children }: BillgateProviderProps) {
  const { type, customerId } = customer;
  const value = useMemo(() => ({ client, customer: client.customer({ type, customerId }) }),
                        [client, type, customerId]);
  return <BillgateContext.Provider value={value}>{children}</BillgateContext.Provider>;
}

/**
 * The provider's client and customer handle, for actions: `customer.createCheckoutUrl(...)`,
 * `customer.switchSubscription(...)`, `customer.cancelSubscription(...)`.
 */
export function useBillgate(): BillgateContextValue {
  const value = useContext(BillgateContext);
  if (!value) throw new Error("billgate hooks must be used inside <BillgateProvider client={...} customer={...}>");
  return value;
}
