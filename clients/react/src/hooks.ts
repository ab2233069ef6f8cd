// Hooks that re-render on live changes. Each returns { data, error, loading } (data is
// undefined until the first answer; error holds the last failure, data the last good value),
// and needs no Suspense. Listeners of one customer share one server subscription.
import { useCallback, useEffect, useState } from "react";
import type {
  BillgateCustomer, BillgateError, Billing, CustomerState, Invoice, Item, OwnedProduct, Page, Unsubscribe,
} from "@billgate/client";
import { useBillgate } from "./context.js";

export interface LiveResult<T> {
  data: T | undefined;
  error: BillgateError | undefined;
  loading: boolean;
}

export interface QueryResult<T> extends LiveResult<T> {
  /** Read again now (the hooks also read again after each change of the customer). */
  refresh: () => void;
}

const LOADING = { data: undefined, error: undefined, loading: true } as const;

function useLive<T>(subscribe: (next: (value: T) => void, fail: (error: BillgateError) => void) => Unsubscribe,
                    deps: unknown[]): LiveResult<T> {
  const [state, setState] = useState<LiveResult<T>>(LOADING);
  useEffect(() => {
    setState(LOADING);
    return subscribe((data) => setState({ data, error: undefined, loading: false }),
                     (error) => setState((last) => ({ data: last.data, error, loading: false })));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what subscribe uses
  }, deps);
  return state;
}

/** A balance, live: `const { data: credits } = useItem("credits")` then `credits?.quantity`. */
export function useItem(itemId: string): LiveResult<Item> {
  const { customer } = useBillgate();
  return useLive<Item>((next, fail) => customer.onItem(itemId, next, fail), [customer, itemId]);
}

/** What the customer owns and its live subscriptions, live. */
export function useCustomer(): LiveResult<CustomerState> {
  const { customer } = useBillgate();
  return useLive<CustomerState>((next, fail) => customer.onCustomer(next, fail), [customer]);
}

/** The customer's products (one entry per product; `subscription` set for plans), live. */
export function useProducts(): LiveResult<OwnedProduct[]> {
  const state = useCustomer();
  return { ...state, data: state.data?.products };
}

/** The customer's latest invoices (`limit`, default 10), read again after each change. */
export function useInvoices(options: { limit?: number } = {}): QueryResult<Page<Invoice>> {
  const limit = options.limit ?? 10;
  return useCustomerQuery((customer) => customer.listInvoices({ limit }), [limit]);
}

/** Whether the customer has a payment customer, and its default card; read again after each change. */
export function useBilling(): QueryResult<Billing> {
  return useCustomerQuery((customer) => customer.getBilling(), []);
}

// A plain read, done again whenever the customer changes (customerChanged: a checkout, a
// switch, a cancel, a renewal, an invoice) and on refresh().
function useCustomerQuery<T>(load: (customer: BillgateCustomer) => Promise<T>, deps: unknown[]): QueryResult<T> {
  const { customer } = useBillgate();
  const [state, setState] = useState<LiveResult<T>>(LOADING);
  const [reads, setReads] = useState(0);
  const refresh = useCallback(() => setReads((n) => n + 1), []);

  useEffect(() => {
    // The first message is the state now (already being read); each later one is a change.
    let first = true;
    return customer.onCustomer(() => {
      if (first) first = false;
      else refresh();
    });
  }, [customer, refresh]);

  useEffect(() => {
    let current = true;
    setState((last) => ({ ...last, loading: true }));
    load(customer).then(
      (data) => current && setState({ data, error: undefined, loading: false }),
      (error: BillgateError) => current && setState((last) => ({ data: last.data, error, loading: false })),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller lists what load uses
  }, [customer, reads, ...deps]);

  return { ...state, refresh };
}
