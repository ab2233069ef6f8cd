// billgate's GraphiQL: React, GraphiQL and its graphql-ws client are all served by billgate
// (see scripts/refresh_browser_assets.py), so the page works without internet access.
(function () {
  "use strict";
  var page = new URL(window.location.href);
  var params = page.searchParams;
  var httpUrl = page.origin + page.pathname;
  var wsUrl = httpUrl.replace(/^http/, "ws");
  var DEFAULT_QUERY = [
    "# billgate GraphQL. Put your key in the Headers tab below:",
    '#   { "Authorization": "Bearer sk_test_..." }',
    "# (a server key, or a customer token). Ctrl-Enter runs the query.",
    "",
    "{",
    "  products(first: 5) { edges { node { productId displayName } } }",
    "}",
    "",
  ].join("\n");

  // Browsers cannot set headers on a WebSocket: billgate reads the Authorization of a
  // subscription from the connection_init payload, so each Authorization value gets its own
  // fetcher whose graphql-ws client sends it there. Queries and mutations send the header.
  var fetchers = {};
  function fetcherFor(authorization) {
    var key = authorization || "";
    if (!fetchers[key]) {
      fetchers[key] = GraphiQL.createFetcher({
        url: httpUrl,
        subscriptionUrl: wsUrl,
        wsConnectionParams: authorization ? { Authorization: authorization } : {},
      });
    }
    return fetchers[key];
  }
  function fetcher(graphQLParams, options) {
    var headers = (options && options.headers) || {};
    return fetcherFor(headers.Authorization || headers.authorization)(graphQLParams, options);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    query: params.get("q") || undefined,
    headers: params.get("headers") || undefined,
    defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: "headers",
  }));
})();
