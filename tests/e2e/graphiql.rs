//! GraphiQL comes from the binary: `GET /graphql` serves a page whose scripts and styles are
//! embedded (`web/static/graphiql/`), names no other host, and forbids other hosts by CSP. The
//! headless-browser check that it runs offline is in `ui/graphiql.rs`.

use crate::helpers::*;

/// URLs the vendored bundles contain that are never fetched: XML namespace names, and links a
/// person may click (GraphiQL's logo and keymap help, docs in error messages, the GraphQL
/// spec's own descriptions). A new URL in an upgraded bundle fails the test until reviewed.
const NOT_FETCHED: &[&str] = &[
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/1998/Math/MathML",
    "https://reactjs.org/docs/error-decoder.html?invariant=",
    "https://github.com/graphql/graphiql",
    "https://github.com/graphql/graphiql/blob/master/examples/graphiql-cdn/index.html#L49",
    "https://codemirror.net/5/doc/manual.html#keymaps",
    "https://radix-ui.com/primitives/docs/components/",
    "https://en.wikipedia.org/wiki/IEEE_floating_point",
    "https://commonmark.org/",
    "https://github.com/jonschlinkert",
    "https://github.com/jonschlinkert/set-value",
    "https://github.com/jonschlinkert/isobject",
    "https://github.com/jonschlinkert/is-primitive",
    // markdown-it's linkify prefixes a bare link with the scheme.
    "http://",
];

/// Every `http://…`/`https://…` in `text`, cut at the first character that ends a URL in code.
fn urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://"] {
        for (at, _) in text.match_indices(scheme) {
            let url: String = text[at..]
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | '`' | ' ' | ')' | '>' | '<' | '$' | '\\'))
                .collect();
            found.push(url);
        }
    }
    found
}

async fn get(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let resp = app.client.get(app.url(path)).send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.text().await.unwrap_or_default(), headers)
}

/// The `src`/`href` values of the page.
fn references(page: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| page.match_indices(attr).map(move |(at, _)| at + attr.len()))
        .filter_map(|start| page[start..].split('"').next().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn get_graphql_serves_graphiql_from_the_binary_and_names_no_other_host() {
    let app = spawn_app().await;
    let (status, page, headers) = get(&app, "/graphql").await;
    assert_eq!(status, 200);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"),
        "the browser may reach this server only: {csp}"
    );
    assert!(page.contains("GraphiQL"), "{page}");
    assert_eq!(urls(&page), Vec::<String>::new(), "the page names no URL");
    let refs = references(&page);
    for needed in [
        "/graphiql/react.production.min.js",
        "/graphiql/react-dom.production.min.js",
        "/graphiql/graphiql.min.js",
        "/graphiql/graphiql.min.css",
        "/graphiql/start.js",
    ] {
        assert!(refs.iter().any(|r| r == needed), "the page loads {needed}");
    }
    for asset in refs {
        check_asset(&app, &asset).await;
    }
}

/// `asset` is served from this server and names no URL that a browser would fetch.
async fn check_asset(app: &TestApp, asset: &str) {
    assert!(asset.starts_with('/'), "same-origin path: {asset}");
    let (status, text, headers) = get(app, asset).await;
    assert_eq!(status, 200, "{asset} is served");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ["javascript", "css", "svg"]
            .iter()
            .any(|t| content_type.contains(t)),
        "{asset}: {content_type}"
    );
    let unknown: Vec<String> = urls(&text)
        .into_iter()
        .filter(|u| !NOT_FETCHED.iter().any(|ok| u == ok))
        .collect();
    assert_eq!(unknown, Vec::<String>::new(), "{asset} names no other URL");
    if asset.ends_with(".css") {
        assert!(!text.contains("@import"), "{asset} imports nothing");
    }
    if asset.ends_with(".js") {
        for loader in [
            "src:\"http",
            "fetch(\"http",
            "import(\"http",
            "importScripts(",
        ] {
            assert!(
                !text.contains(loader),
                "{asset} loads nothing from elsewhere ({loader})"
            );
        }
    }
}

#[tokio::test]
async fn graphiql_sends_requests_to_this_servers_endpoint() {
    let app = spawn_app().await;
    let (_, start, _) = get(&app, "/graphiql/start.js").await;
    assert!(start.contains("url: '/graphql'"), "{start}");
    assert!(
        start.contains("x-csrf-token"),
        "a signed-in web UI session works too"
    );
}
