//! `docs/openapi.json` describes the server: every documented operation
//! exists, answers with a documented status, and its JSON carries the
//! documented required fields; the error `code` and `type` enums are the
//! server's `ErrorCode::ALL` and `ErrorType::ALL` (`TIDINGS_BLESS=1`
//! writes them in).

use crate::Server;
use serde_json::{Value, json};
use tidings_server::{ErrorCode, ErrorType};
use tidings_testkit::http::{basic, bearer};

fn doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("docs/openapi.json")).expect("valid JSON")
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = doc;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(doc, cur)
        }
        None => v,
    }
}

/// The required fields of `schema`, checked on `value`, one level deep.
fn check_required(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(doc, schema);
    for field in schema["required"].as_array().into_iter().flatten() {
        let f = field.as_str().unwrap();
        assert!(value.get(f).is_some(), "{at}: response lacks required `{f}`: {value}");
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), value.as_array()) {
        for v in arr {
            check_required(doc, items, v, at);
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, s) in props {
            if let Some(v) = value.get(k) {
                check_required(doc, s, v, &format!("{at}.{k}"));
            }
        }
    }
}

#[test]
fn every_documented_operation_answers_as_documented() {
    let s = Server::start_live(
        "segment carts { did \"Product Added\" in last 2d }\nsegment everyone { did \"E\" or not did \"E\" }\n",
    );
    let doc = doc();
    s.post("/v1/identify", &json!({"userId": "doc-user", "traits": {"a": 1}}));
    let mut c = s.client();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete =
                path.replace("{user_id}", "doc-user").replace("{key}", "everyone").replace("{name}", "s.rules");
            let secured = op["security"].as_array().and_then(|a| a.first()).and_then(|o| o.as_object());
            let auth = match secured.and_then(|o| o.keys().next()).map(String::as_str) {
                Some("writeKey") => Some(basic(&s.write)),
                Some("adminKey") => Some(bearer(&s.admin)),
                _ => None,
            };
            let body = match concrete.as_str() {
                "/v1/batch" | "/v1/import" => json!({"batch": [{"type": "track", "userId": "doc-user", "event": "E"}]}),
                "/v1/track" => json!({"userId": "doc-user", "event": "E"}),
                "/v1/alias" => json!({"userId": "doc-user", "previousId": "anon-doc"}),
                "/api/learnings" => {
                    json!({"experiment": "doc", "result": "no difference", "decision": "keep the control"})
                }
                "/api/broadcasts" => {
                    json!({"name": "doc", "template": "newsletter", "audience": "in segment everyone"})
                }
                _ => json!({"userId": "doc-user"}),
            };
            // The same rules again, as text.
            let rules =
                "segment carts { did \"Product Added\" in last 2d }\nsegment everyone { did \"E\" or not did \"E\" }\n";
            let r = match method.as_str() {
                "get" => c.get(&concrete, auth.as_deref()).unwrap(),
                "put" => c.request("PUT", &concrete, auth.as_deref(), &[], rules.as_bytes()).unwrap(),
                "post" => c.post(&concrete, auth.as_deref(), body.to_string().as_bytes()).unwrap(),
                m => panic!("undocumented method {m}"),
            };
            let status = r.status.to_string();
            let documented = &op["responses"][&status];
            assert!(!documented.is_null(), "{method} {path}: {status} is not documented: {}", r.text());
            assert!(r.status < 300, "{method} {path}: {}", r.text());
            let documented = resolve(&doc, documented);
            if let Some(schema) = documented.pointer("/content/application~1json/schema") {
                check_required(&doc, schema, &r.json(), &format!("{method} {path}"));
            }
            // Without credentials, a secured operation refuses with a documented error.
            if auth.is_some() {
                let r = match method.as_str() {
                    "get" => c.get(&concrete, None).unwrap(),
                    "put" => c.request("PUT", &concrete, None, &[], rules.as_bytes()).unwrap(),
                    _ => c.post(&concrete, None, body.to_string().as_bytes()).unwrap(),
                };
                assert_eq!(r.status, 401, "{method} {path} without a key");
                check_required(&doc, &json!({"$ref": "#/components/schemas/Error"}), &r.json(), path);
            }
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} operations documented");
}

/// The `enum` of `components.schemas.Error.properties.error.properties.PROP`
/// in `docs/openapi.json` lists exactly `values`. With `TIDINGS_BLESS=1` a
/// difference is written into the file instead, in place: only that array
/// changes, so the rest of the file keeps its bytes.
fn check_error_enum(prop: &str, values: &[&str]) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).expect("docs/openapi.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let pointer = format!("/components/schemas/Error/properties/error/properties/{prop}/enum");
    let expected: Vec<Value> = values.iter().map(|v| json!(v)).collect();
    if doc.pointer(&pointer).and_then(Value::as_array) == Some(&expected) {
        return;
    }
    if std::env::var_os("TIDINGS_BLESS").is_none_or(|v| v != "1") {
        panic!(
            "docs/openapi.json: {pointer} is not {values:?} (from the server's ErrorCode and ErrorType); \
             regenerate it with `TIDINGS_BLESS=1 cargo test -p tidings-server --test integration openapi::error_enums`"
        );
    }
    let blessed = splice_enum(&text, prop, values);
    // Only the array may have moved.
    let mut want = doc;
    *want.pointer_mut(&pointer).expect("the enum is there, as splice_enum found it") = Value::Array(expected);
    assert_eq!(serde_json::from_str::<Value>(&blessed).expect("blessed JSON parses"), want);
    std::fs::write(path, blessed).expect("write docs/openapi.json");
}

/// `text` with the `"enum": [...]` array of the Error schema's `prop`
/// replaced by `values`, in the file's style (two spaces an indent, one
/// item a line).
fn splice_enum(text: &str, prop: &str, values: &[&str]) -> String {
    let find = |from: usize, needle: &str| {
        from + text[from..].find(needle).unwrap_or_else(|| panic!("docs/openapi.json has no {needle} here"))
    };
    let schema = find(find(0, "\"schemas\": {"), "\"Error\": {");
    let schema_end = schema + matching_brace(&text[schema..]);
    let prop_at = find(find(schema, "\"properties\": {"), &format!("\"{prop}\": {{"));
    assert!(prop_at < schema_end, "docs/openapi.json: the Error schema has no property {prop:?}");
    let open = find(prop_at, "{");
    let close = open + matching_brace(&text[open..]);
    let start = prop_at
        + text[prop_at..close].find("\"enum\": [").unwrap_or_else(|| {
            panic!(
                "docs/openapi.json: the Error schema's {prop:?} has no \"enum\"; add `\"enum\": []` to it, then bless"
            )
        });
    let end = start + text[start..].find(']').expect("the enum closes") + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..start];
    let mut out = String::from("\"enum\": [");
    if values.is_empty() {
        out.push(']');
    } else {
        for (i, v) in values.iter().enumerate() {
            let comma = if i + 1 < values.len() { "," } else { "" };
            out.push_str(&format!("\n{indent}  {}{comma}", Value::from(*v)));
        }
        out.push_str(&format!("\n{indent}]"));
    }
    format!("{}{out}{}", &text[..start], &text[end..])
}

/// The offset of the `}` closing the object `s` starts with (strings skipped).
fn matching_brace(s: &str) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in s.bytes().enumerate() {
        match (in_string, b) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'{') => depth += 1,
            (false, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces in docs/openapi.json")
}

/// One test for both enums: blessing them from two tests at once would
/// have each write over the other's change.
#[test]
fn error_enums_match_error_code_and_error_type() {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    check_error_enum("code", &codes);
    let types: Vec<&str> = ErrorType::ALL.iter().map(|t| t.as_str()).collect();
    check_error_enum("type", &types);
}
