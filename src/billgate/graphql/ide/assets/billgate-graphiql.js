// billgate's GraphiQL: React, GraphiQL and its graphql-ws client are all served by billgate
// (see scripts/refresh_browser_assets.py), so the page works without internet access.
(function () {
  "use strict";
  var page = new URL(window.location.href);
  var params = page.searchParams;
  var httpUrl = page.origin + page.pathname;
  var wsUrl = httpUrl.replace(/^http/, "ws");
  var developmentKey = document.getElementById("graphiql").dataset.developmentKey === "true";
  var KEY_HINT = developmentKey ? [
    "# billgate GraphQL, in test mode with a development key. billgate printed it where it",
    "# started (billgate: development secret key: sk_test_...). To call as the server,",
    "# paste it in the Headers tab below:",
    '#   { "Authorization": "Bearer sk_test_..." }',
    "# The public catalog needs no key. Ctrl-Enter runs the query.",
  ] : [
    "# billgate GraphQL. To call with a key, put it in the Headers tab below:",
    '#   { "Authorization": "Bearer <secret key or customer token>" }',
    "# The public catalog needs no key. Ctrl-Enter runs the query.",
  ];
  var DEFAULT_QUERY = KEY_HINT.concat([
    "",
    "{",
    "  products(first: 5) { edges { node { productId displayName } } }",
    "}",
    "",
  ]).join("\n");

  // No Authorization header until a key is typed: an empty "Bearer " would be refused (401)
  // where sending none reads the public catalog.
  function authorizationOf(headers) {
    var value = headers.Authorization || headers.authorization || "";
    return /^\s*(bearer\s*)?$/i.test(value) ? undefined : value;
  }
  function withoutEmptyAuthorization(options) {
    var headers = Object.assign({}, (options && options.headers) || {});
    var authorization = authorizationOf(headers);
    delete headers.Authorization;
    delete headers.authorization;
    if (authorization) headers.Authorization = authorization;
    return Object.assign({}, options || {}, { headers: headers });
  }

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
    var cleaned = withoutEmptyAuthorization(options);
    return fetcherFor(cleaned.headers.Authorization)(graphQLParams, cleaned);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    query: params.get("q") || undefined,
    headers: params.get("headers") || undefined,
    defaultHeaders: "{}",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: "headers",
  }));
})();
