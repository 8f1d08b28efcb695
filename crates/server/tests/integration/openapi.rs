//! `docs/openapi.json` describes the server: every documented operation
//! exists, answers with a documented status, and its JSON carries the
//! documented required fields.

use crate::Server;
use serde_json::{Value, json};
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
