// Queries and mutations: a JSON POST to the GraphQL endpoint with the caller's credentials.
import type { DocumentTypeDecoration } from "@graphql-typed-document-node/core";
import type { Credentials } from "./credentials.js";
import { BillgateError, fromGraphQLErrors } from "./errors.js";

/** A document: the client's typed documents, or any GraphQL text. */
export type Document<TResult = unknown, TVariables = Record<string, unknown>> =
  | string
  | DocumentTypeDecoration<TResult, TVariables>;

export interface HttpOptions {
  url: string;
  credentials: Credentials;
  fetch: typeof fetch;
  headers: Record<string, string>;
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message?: unknown; extensions?: { code?: unknown } | null }[];
}

export async function postGraphQL<TResult, TVariables>(
  options: HttpOptions, document: Document<TResult, TVariables>, variables: TVariables | undefined,
): Promise<TResult> {
  const first = await attempt(options, document, variables);
  // A customer token that expired (or was revoked) between two calls: ask getToken for a
  // new one and try once more. A secret key that is refused stays refused.
  if (first.status === 401 && options.credentials.refreshable) {
    options.credentials.invalidate();
    return resultOf(await attempt(options, document, variables));
  }
  return resultOf(first);
}

async function attempt<TResult, TVariables>(
  options: HttpOptions, document: Document<TResult, TVariables>, variables: TVariables | undefined,
): Promise<{ status: number; body: GraphQLResponse<TResult> | undefined; text: string }> {
  const authorization = await options.credentials.authorization();
  const headers: Record<string, string> = { ...options.headers, "Content-Type": "application/json",
                                            Accept: "application/json" };
  if (authorization) headers.Authorization = authorization;
  let response: Response;
  try {
    response = await options.fetch(options.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ query: String(document), variables: variables ?? {} }),
    });
  } catch (cause) {
    throw new BillgateError("NETWORK_ERROR", `billgate at ${options.url} could not be reached: ${describe(cause)}`,
                            { cause });
  }
  const text = await response.text();
  let body: GraphQLResponse<TResult> | undefined;
  try {
    body = JSON.parse(text) as GraphQLResponse<TResult>;
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}

function resultOf<TResult>(answer: { status: number; body: GraphQLResponse<TResult> | undefined; text: string }): TResult {
  const { status, body, text } = answer;
  if (body?.errors?.length) throw fromGraphQLErrors(body.errors, status === 200 ? undefined : status);
  if (status !== 200 || !body || body.data == null) {
    throw new BillgateError("HTTP_ERROR", `billgate answered HTTP ${status}: ${text.slice(0, 200)}`, { status });
  }
  return body.data;
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = (cause as { cause?: unknown }).cause;
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message;
  }
  return String(cause);
}
