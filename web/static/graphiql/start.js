// Starts GraphiQL against this server's POST /graphql. Everything it needs is served by the
// switchyard binary (web/static/graphiql/), so it works offline and makes no third-party
// request. Signed in to the web UI? The session cookie goes along and the CSRF header is added
// here; otherwise put `{"Authorization": "Bearer <token>"}` in the headers pane.
(function () {
  'use strict';
  var csrf = document.cookie
    .split(';')
    .map(function (c) { return c.trim(); })
    .filter(function (c) { return c.indexOf('sy_csrf=') === 0; })
    .map(function (c) { return decodeURIComponent(c.slice('sy_csrf='.length)); })[0];
  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    headers: csrf ? { 'x-csrf-token': csrf } : {},
  });
  var signedIn = Boolean(csrf);
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: signedIn ? false : 'headers',
      defaultHeaders: signedIn ? undefined : '{\n  "Authorization": "Bearer <token from `switchyard token`>"\n}',
      defaultQuery:
        '# Switchyard GraphQL. Try:\n{\n  me { sub roles }\n  templates(first: 5) {\n' +
        '    edges { node { key name summary } }\n  }\n}\n',
    })
  );
})();
