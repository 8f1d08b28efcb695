//! The dashboard is served without a key, under a strict Content Security
//! Policy, and loads nothing from anywhere but this server. (That it draws
//! the charts in a real browser is tested in `crates/cli/tests/cli/dashboard.rs`.)

use crate::Server;
use serde_json::Value;

/// The values of every `NAME="..."` attribute in `html`.
fn attributes<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// A path on this server: starts with one `/`, not `//host`.
fn same_origin(url: &str) -> bool {
    url.starts_with('/') && !url.starts_with("//") && !url.contains('\\')
}

#[test]
fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let s = Server::start();
    let mut c = s.client();
    let page = c.get("/dashboard", None).unwrap();
    assert_eq!(page.status, 200, "no key needed for the page itself");
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").expect("a Content-Security-Policy");
    assert_eq!(csp, tidings_server::dashboard::CSP);
    let directive = |name: &str| {
        csp.split(';').map(str::trim).find_map(|d| d.strip_prefix(name).map(str::trim)).unwrap_or_default().to_string()
    };
    assert_eq!(directive("default-src"), "'none'");
    assert_eq!(directive("script-src"), "'self'", "no inline or third-party script");
    assert_eq!(directive("connect-src"), "'self'");
    assert_eq!(directive("frame-ancestors"), "'none'");
    assert!(!csp.contains("unsafe-"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));

    for (path, content_type) in
        [("/dashboard.js", "text/javascript; charset=utf-8"), ("/dashboard.css", "text/css; charset=utf-8")]
    {
        let r = c.get(path, None).unwrap();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(!r.body.is_empty(), "{path}");
    }
}

#[test]
fn the_page_references_only_its_own_origin() {
    let s = Server::start();
    let mut c = s.client();
    let html = c.get("/dashboard", None).unwrap().text();
    let js = c.get("/dashboard.js", None).unwrap().text();
    let css = c.get("/dashboard.css", None).unwrap().text();

    // Every file the page loads is on this server and is served.
    let srcs = attributes(&html, "src");
    let hrefs = attributes(&html, "href");
    assert!(srcs.contains(&"/dashboard.js") && hrefs.contains(&"/dashboard.css"), "{srcs:?} {hrefs:?}");
    for url in srcs.iter().chain(&hrefs) {
        if *url == "data:," {
            continue; // the empty favicon, so the browser asks for none
        }
        assert!(same_origin(url), "{url} is not on this server");
        assert_eq!(c.get(url, None).unwrap().status, 200, "{url}");
    }
    // Nothing the policy would block, so the page works as written.
    assert!(!html.contains("://"), "an absolute URL in the page");
    assert!(!html.contains(" style=") && !html.contains("<style"), "inline style");
    assert!(html.matches("<script").count() == 1 && html.contains("<script src=\"/dashboard.js\" defer></script>"));
    let handlers = html.match_indices(" on").filter(|(at, _)| {
        let name: String = html[at + 3..].chars().take_while(char::is_ascii_lowercase).collect();
        !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
    });
    assert_eq!(handlers.count(), 0, "inline event handlers");
    assert!(!css.contains("url(") && !css.contains("@import"), "the stylesheet loads nothing");

    // The script talks only to this server's admin API, by path; the one
    // absolute URL in it is the SVG namespace, which is a name, not a request.
    assert_eq!(js.matches("://").count(), js.matches("http://www.w3.org/2000/svg").count());
    for banned in
        ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage"]
    {
        assert!(!js.contains(banned), "the script uses {banned}");
    }
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json")).unwrap(),
    )
    .unwrap();
    let calls: Vec<&str> =
        js.match_indices("'/api/").map(|(at, _)| &js[at + 1..][..js[at + 1..].find('\'').unwrap()]).collect();
    assert!(calls.len() >= 4, "{calls:?}");
    for call in calls {
        let path = call.split('?').next().unwrap();
        assert!(
            doc["paths"][path]["get"].is_object(),
            "the script reads {path}, which docs/openapi.json does not document"
        );
    }
}
