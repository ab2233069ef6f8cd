import type { ErrorCode } from "./generated/graphql.js";

/**
 * Codes a failed call can carry: the server's `ErrorCode` values (what a mutation puts in
 * `userErrors`, or a query error's `extensions.code`), and three of the client's own:
 * `NETWORK_ERROR` (billgate could not be reached), `HTTP_ERROR` (an answer that is not
 * GraphQL, e.g. a proxy's 502) and `GRAPHQL_ERROR` (a GraphQL error without a code).
 */
export type BillgateErrorCode = ErrorCode | "NETWORK_ERROR" | "HTTP_ERROR" | "GRAPHQL_ERROR";

export interface UserError {
  code: ErrorCode;
  message: string;
  field: string[] | null;
}

/** What every failed call throws: `code` is the one to branch on. */
export class BillgateError extends Error {
  override readonly name = "BillgateError";
  readonly code: BillgateErrorCode;
  /** The input field the error is about, when the server named one (e.g. `["returnUrl"]`). */
  readonly field: string[] | null;
  /** Every user error of the mutation (the first one gives `code` and `message`). */
  readonly userErrors: UserError[];
  /** The HTTP status, when the answer had one other than 200. */
  readonly status: number | undefined;

  constructor(code: BillgateErrorCode, message: string,
              options: { field?: string[] | null; userErrors?: UserError[]; status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field ?? null;
    this.userErrors = options.userErrors ?? [];
    this.status = options.status;
  }

  /** The error of a mutation payload's `userErrors` (the first one names the code). */
  static fromUserErrors(userErrors: UserError[]): BillgateError {
    const [first] = userErrors;
    if (!first) return new BillgateError("GRAPHQL_ERROR", "the operation failed without a reason");
    return new BillgateError(first.code, first.message, { field: first.field, userErrors });
  }
}

interface GraphQLErrorLike {
  message?: unknown;
  path?: unknown;
  extensions?: { code?: unknown } | null;
}

/** A BillgateError for the first of a response's GraphQL `errors`. */
export function fromGraphQLErrors(errors: readonly GraphQLErrorLike[], status?: number): BillgateError {
  const first = errors[0] ?? {};
  const code = typeof first.extensions?.code === "string" ? first.extensions.code : "GRAPHQL_ERROR";
  const message = typeof first.message === "string" ? first.message : "GraphQL error";
  return new BillgateError(code as BillgateErrorCode, message, status === undefined ? {} : { status });
}

/** Throws the payload's first user error, if any. */
export function throwUserErrors(payload: { userErrors: UserError[] }): void {
  if (payload.userErrors.length) throw BillgateError.fromUserErrors(payload.userErrors);
}
