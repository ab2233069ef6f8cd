export { BillgateProvider, useBillgate, type BillgateProviderProps } from "./context.js";
export { useBilling, useCustomer, useInvoices, useItem, useProducts, type LiveResult, type QueryResult } from "./hooks.js";
/** The package's version: it follows billgate's (pyproject.toml). */
export const VERSION = "0.1.0";
