//! Rendering end to end: templates from files, personalization, the
//! sandbox, located errors, tracked links and headers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tidings_model::{ProfileId, WorkspaceId};
use tidings_render::*;

const NOW: i64 = 1_767_261_600_000_000; // 2026-01-01T10:00:00Z

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).unwrap()
}

/// Compares with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` rewrites it.
fn assert_snapshot(name: &str, actual: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("no snapshot {}; run with UPDATE_SNAPSHOTS=1 and review it", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "snapshot {name} differs at line {}:\nexpected: {:?}\nactual:   {:?}\n(UPDATE_SNAPSHOTS=1 rewrites it)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn keys() -> SigningKeys {
    SigningKeys::new(vec![b"render-test-signing-key-0001".to_vec()]).unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn product(id: &str, name: &str, price: f64) -> Product {
    Product {
        id: id.into(),
        name: Some(name.into()),
        price: Some(price),
        category: None,
        url: Some(format!("https://shop.example/p/{id}?ref=mail&x=1")),
        image: None,
    }
}

fn context() -> Context {
    Context {
        profile: ProfileContext {
            id: Some(ProfileId(42)),
            traits: obj(json!({
                "first_name": "Zoë <3",
                "timezone": "Europe/Paris",
                "currency": "EUR",
                "email": "zoe@example.com",
            })),
            segments: vec!["loyal".into(), "cart_abandoners".into()],
            stage: Some("active".into()),
        },
        event: Some(EventContext {
            name: "Checkout Started".into(),
            timestamp: NOW - 3 * 3_600_000_000,
            properties: obj(json!({"order_id": "A-17", "total": 1234.5})),
        }),
        viewed: vec![product("tent", "Trail Tent", 249.0), product("mat", "Sleeping Mat", 39.9)],
        bought_together: vec![product("stove", "Camp Stove", 59.0), product("lamp", "Lamp", 12.0)],
        incentive: Some(json!({"code": "STAY10", "percent": 10})),
        links: LinkUrls::default(),
        values: Map::new(),
        now: NOW,
    }
}

fn compile(file: &str, body: &str, text: Option<&str>) -> Result<Template, TemplateError> {
    Renderer::default().compile(&TemplateSource::parse(file, body, text)?)
}

fn render_str(body: &str, ctx: &Context) -> Result<Rendered, RenderError> {
    compile("t.html", &format!("---\nsubject: s\n---\n{body}"), None).unwrap().render(ctx)
}

fn html_of(body: &str) -> String {
    render_str(body, &context()).unwrap().html
}

fn mailbox(name: &str, address: &str) -> Mailbox {
    Mailbox::new(Some(name), address).unwrap()
}

#[test]
fn cart_email_snapshot() {
    let template = compile("cart.mjml", &fixture("cart.mjml"), None).unwrap();
    assert!(template.is_precompiled(), "the MJML should compile once");
    let keys = keys();
    let from = mailbox("Trail Shop", "news@shop.example");
    let to = mailbox("Zoë", "zoe@example.com");
    let envelope = Envelope {
        workspace: WorkspaceId(1),
        profile: ProfileId(42),
        from: &from,
        to: &to,
        reply_to: None,
        message_id: "<m-1@shop.example>",
        message_key: "m-1",
        date: NOW,
        tracking_base: "https://t.shop.example",
        keys: &keys,
        unsubscribe_mailto: Some("mailto:unsubscribe@shop.example"),
        track: true,
    };
    let email = personalize(&template, context(), &envelope).unwrap();
    let snapshot = format!(
        "{}\n--- text ---\n{}\n--- html ---\n{}\n",
        email.headers.to_rfc5322().replace("\r\n", "\n"),
        email.text,
        email.html
    );
    assert_snapshot("cart.eml.txt", &snapshot);

    assert_eq!(email.headers.subject, "Zoë <3, your Trail Tent is waiting");
    assert!(email.html.contains("Hi Zoë &lt;3</h1>"), "traits are escaped in HTML");
    assert!(email.html.contains("Thursday 1 January"), "date in the profile's zone");
    assert!(email.html.contains("€249.00") && email.html.contains("€39.90"));
    assert!(email.html.contains("STAY10"), "loyal segment block");
    assert!(email.html.contains("Still thinking it over? 10% off until Sunday."));
    assert_eq!(
        email.links.urls,
        [
            "https://shop.example/p/tent?ref=mail&x=1",
            "https://shop.example/p/mat?ref=mail&x=1",
            "https://shop.example/cart?utm_source=email&utm_campaign=cart",
            "https://shop.example/p/stove?ref=mail&x=1",
            "https://shop.example/p/lamp?ref=mail&x=1",
        ]
    );
    assert!(email.text.starts_with("Hi Zoë <3\n=========\n"), "{}", email.text);
    assert!(email.text.contains("Unsubscribe (https://t.shop.example/u/"));
}

#[test]
fn mjml_rendered_per_message_matches_precompiled() {
    // Liquid in an attribute that mrml rewrites forces per-message compilation.
    let src = "---\nsubject: s\n---\n<mjml><mj-body><mj-section><mj-column>\
        <mj-image src=\"https://img.example/{{ profile.first_name | url_encode }}.png\" width=\"{{ width }}px\" />\
        <mj-text>Hi {{ profile.first_name }}</mj-text></mj-column></mj-section></mj-body></mjml>";
    let t = compile("x.mjml", src, None).unwrap();
    assert!(!t.is_precompiled());
    let mut ctx = context();
    ctx.values.insert("width".into(), json!(200));
    let html = t.render(&ctx).unwrap().html;
    assert!(html.contains("Hi Zoë &lt;3"), "{html}");
    assert!(html.contains("https://img.example/Zo%C3%AB%20%26lt%3B3.png"), "{html}");
}

#[test]
fn transactional_template_with_text_part() {
    let t = compile("receipt.html", &fixture("receipt.html"), Some(&fixture("receipt.txt"))).unwrap();
    assert_eq!(t.kind(), MessageKind::Transactional);
    let keys = keys();
    let from = mailbox("Trail Shop", "orders@shop.example");
    let to = mailbox("Zoë", "zoe@example.com");
    let envelope = Envelope {
        workspace: WorkspaceId(1),
        profile: ProfileId(42),
        from: &from,
        to: &to,
        reply_to: None,
        message_id: "r-1@shop.example",
        message_key: "r-1",
        date: NOW,
        tracking_base: "https://t.shop.example",
        keys: &keys,
        unsubscribe_mailto: Some("mailto:unsubscribe@shop.example"),
        track: true,
    };
    let email = personalize(&t, context(), &envelope).unwrap();
    assert_eq!(email.headers.subject, "Receipt for order A-17");
    assert_eq!(email.headers.list_unsubscribe, None, "transactional mail has no unsubscribe headers");
    assert!(email.text.starts_with("Thanks Zoë <3, we received €1,234.50.\nYour order: https://t.shop.example/t/c/"));
    // The text link is the HTML link, so both count as link 0.
    assert_eq!(email.links.urls, ["https://shop.example/orders/A-17"]);
}

#[test]
fn filters() {
    let ctx = context();
    assert_eq!(html_of("{{ 12.5 | money: \"EUR\" }}"), "€12.50");
    assert_eq!(html_of("{{ 1234567 | money }}"), "$1,234,567.00");
    assert_eq!(html_of("{{ 1500 | money: 'jpy' }}"), "¥1,500");
    assert!(render_str("{{ 'abc' | money: 'EUR' }}", &ctx).unwrap_err().to_string().contains("not an amount"));
    assert!(render_str("{{ 1 | money: 'euros' }}", &ctx).unwrap_err().to_string().contains("not a currency"));
    assert_eq!(html_of("{{ \"2026-07-01T22:30:00Z\" | date: \"%Y-%m-%d %H:%M %Z\" }}"), "2026-07-01 22:30 UTC");
    assert_eq!(
        html_of("{{ \"2026-07-01T22:30:00Z\" | date: \"%Y-%m-%d %H:%M %Z\", \"Asia/Tokyo\" }}"),
        "2026-07-02 07:30 JST"
    );
    assert_eq!(html_of("{{ 'now' | date: '%H:%M', profile.timezone }}"), "11:00");
    assert_eq!(html_of("{{ event.timestamp | date: '%d/%m %H:%M', 'America/New_York' }}"), "01/01 02:00");
    assert!(
        render_str("{{ 'now' | date: '%H', 'Mars/Olympus' }}", &ctx)
            .unwrap_err()
            .to_string()
            .contains("unknown time zone")
    );
    assert!(render_str("{{ 'someday' | date: '%H' }}", &ctx).unwrap_err().to_string().contains("cannot read"));
    assert_eq!(html_of("{{ profile.nickname | default: profile.first_name }}"), "Zoë &lt;3");
    assert_eq!(html_of("{{ profile.stage | default: 'new' }}"), "active");
    assert_eq!(
        html_of("{% if profile.segments contains 'loyal' %}L{% endif %}{% if segments contains 'vip' %}V{% endif %}"),
        "L"
    );
    assert_eq!(html_of("{{ recommendations.viewed | map: 'name' | join: ', ' }}"), "Trail Tent, Sleeping Mat");
    assert_eq!(html_of("{{ event.order_id }}/{{ event.properties.total }}"), "A-17/1234.5");
}

#[test]
fn subject_sees_raw_text_html_sees_escaped() {
    let mut ctx = context();
    ctx.profile.traits.insert("first_name".into(), json!("<a href=\"https://evil.example\">x</a>\r\nBcc: a@b"));
    let r = compile("t.html", "---\nsubject: Hi {{ profile.first_name }}\n---\n<p>{{ profile.first_name }}</p>", None)
        .unwrap()
        .render(&ctx)
        .unwrap();
    assert_eq!(r.subject, "Hi <a href=\"https://evil.example\">x</a> Bcc: a@b");
    assert!(r.html.contains("<p>&lt;a href=&quot;https://evil.example&quot;&gt;x&lt;/a&gt;"));
}

#[test]
fn missing_variables_are_located() {
    let ctx = context();
    let src = "---\nsubject: Hi {{ profile.first_name }}\n---\n<p>line 1</p>\n<p>\n  Hi {{ profile.frist_name }}\n</p>";
    let err = compile("welcome.html", src, None).unwrap().render(&ctx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "welcome.html:6:9: `profile.frist_name` has no value for this recipient; give it one or write `{{ profile.frist_name | default: ... }}`"
    );
    let RenderError::MissingVariable { at, variable } = err else { panic!() };
    assert_eq!((at.line, at.column, variable.as_str()), (Some(6), Some(9), "profile.frist_name"));

    let src = "---\nkind: transactional\nsubject: Order {{ event.order_number }}\n---\n<p>x</p>";
    let err = compile("receipt.html", src, None).unwrap().render(&ctx).unwrap_err();
    assert_eq!(
        err.to_string(),
        "receipt.html:3 (subject): `event.order_number` has no value for this recipient; give it one or write `{{ event.order_number | default: ... }}`"
    );

    let err = compile(
        "r.html",
        "---\nsubject: s\n---\n<p>x</p>",
        Some("ok\n\n{% for p in recommendations.viewed %}{{ p.colour }}{% endfor %}"),
    )
    .unwrap()
    .render(&ctx)
    .unwrap_err();
    assert!(err.to_string().starts_with("r.txt:3:"), "{err}");
    assert!(err.to_string().contains("`p.colour`"), "{err}");

    // No triggering event: anything under `event` is missing.
    let mut no_event = context();
    no_event.event = None;
    let err = render_str("{{ event.order_id }}", &no_event).unwrap_err();
    assert!(matches!(err, RenderError::MissingVariable { ref variable, .. } if variable == "event.order_id"), "{err}");
}

#[test]
fn liquid_and_mjml_errors_are_located() {
    let err = compile("a.html", "---\nsubject: s\n---\n<p>ok</p>\n<p>{{ x | nofilter }}</p>", None).unwrap_err();
    let TemplateError::Liquid { at, message } = &err else { panic!("{err}") };
    assert_eq!(at.line, Some(5), "{err}");
    assert!(message.contains("Unknown filter"), "{err}");

    let err = compile("a.html", "---\nsubject: s\n---\n<p>\n{% if x %}never closed</p>", None).unwrap_err();
    assert!(matches!(err, TemplateError::Liquid { .. }), "{err}");

    let err = compile("a.html", "---\nsubject: \"{{ x \"\n---\n<p>x</p>", None).unwrap_err();
    let TemplateError::Liquid { at, .. } = &err else { panic!("{err}") };
    assert_eq!((at.part, at.line), (Part::Subject, Some(2)));

    let err = compile(
        "a.mjml",
        "---\nsubject: s\n---\n<mjml>\n<mj-body>\n<mj-text padding=>x</mj-text></mj-body></mjml>",
        None,
    )
    .unwrap_err();
    let TemplateError::Mjml { at, .. } = &err else { panic!("{err}") };
    assert_eq!((at.line, at.column), (Some(6), Some(9)), "{err}");
    assert_eq!(err.to_string(), "a.mjml:6:9: invalid MJML: invalid attribute: expected quote mark not '>'");
    let err = compile("a.mjml", "---\nsubject: s\n---\n<mjml><mj-body><mj-section>", None).unwrap_err();
    assert!(err.to_string().contains("an element is not closed"), "{err}");

    let err = compile(
        "a.mjml",
        "---\nsubject: s\n---\n<mjml><mj-body><mj-include path=\"/etc/passwd\" /></mj-body></mjml>",
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("mj-include is not available"), "{err}");
    let err = compile("a.html", "---\nsubject: s\n---\n{% include 'footer' %}", None).unwrap_err();
    assert!(err.to_string().contains("Unknown tag"), "{err}");
}

/// Nesting that would exhaust a recursive parser's stack is refused with
/// its place, in a thread with a small stack to prove nothing recurses that deep.
#[test]
fn templates_nested_too_deep_are_refused_not_crashed_on() {
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let deep_if = format!(
                "---\nsubject: s\n---\n<p>\n{}x{}</p>",
                "{% if a %}".repeat(10_000),
                "{% endif %}".repeat(10_000)
            );
            let err = compile("a.html", &deep_if, None).unwrap_err();
            let TemplateError::TooDeep { at, what } = &err else { panic!("{err}") };
            assert_eq!((at.line, *what), (Some(5), "Liquid blocks"), "{err}");
            assert!(err.to_string().contains("nest too deep"), "{err}");
            let deep_mjml = format!(
                "---\nsubject: s\n---\n<mjml><mj-body>{}x{}</mj-body></mjml>",
                "<mj-wrapper>".repeat(5_000),
                "</mj-wrapper>".repeat(5_000)
            );
            let err = compile("a.mjml", &deep_mjml, None).unwrap_err();
            assert!(matches!(err, TemplateError::TooDeep { what: "elements", .. }), "{err}");
            // Many siblings and void elements are not depth.
            let wide =
                format!("---\nsubject: s\n---\n{}", "<p>{% if a %}x{% endif %}<br><img src=x></p>".repeat(2_000));
            assert!(compile("a.html", &wide, None).is_ok());
            // An open and a close sharing their `%` (found by fuzzing: it panicked).
            let err = compile("a.html", "---\nsubject: s\n---\n<p>{%}</p>", None).unwrap_err();
            assert!(!err.to_string().is_empty());
            // Integers past 64 bits (Liquid's parser panics on them: found by fuzzing).
            for bad in [
                "{{ 99999999999999999999 }}",
                "{{ a[-99999999999999999999] }}",
                "{% if 1 > 99999999999999999999 %}x{% endif %}",
            ] {
                let err = compile("a.html", &format!("---\nsubject: s\n---\n<p>\n{bad}</p>"), None).unwrap_err();
                let TemplateError::Liquid { at, message } = &err else { panic!("{err}") };
                assert_eq!(at.line, Some(5), "{err}");
                assert!(message.contains("beyond a 64-bit integer"), "{err}");
            }
            for fine in [
                "{{ 9223372036854775807 }}",
                "{{ 99999999999999999999.5 }}",
                "{{ 'a 99999999999999999999' }}",
                "{{ a1 }}",
                "{% raw %}{{ 99999999999999999999 }}{% endraw %}",
                "99999999999999999999",
            ] {
                compile("a.html", &format!("---\nsubject: s\n---\n<p>{fine}</p>"), None)
                    .unwrap_or_else(|e| panic!("{fine}: {e}"));
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn sandbox_limits_fail_the_whole_message() {
    let tight =
        Renderer::new(Limits { max_loop_iterations: 50, max_output_bytes: 4096, time_budget: Duration::from_secs(5) });
    let t = |body: &str| {
        tight
            .compile(&TemplateSource::parse("t.html", &format!("---\nsubject: s\n---\n{body}"), None).unwrap())
            .unwrap()
    };
    let err = t("{% for i in (1..100000000000) %}{% endfor %}").render(&context()).unwrap_err();
    assert!(matches!(err, RenderError::Limit { limit: Limit::LoopIterations(50), .. }), "{err}");
    let err = t("{% for i in (1..40) %}{{ 'x' | append: 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy' }}{% endfor %}")
        .render(&context())
        .unwrap_err();
    assert!(matches!(err, RenderError::Limit { limit: Limit::OutputBytes(4096), .. }), "{err}");
    assert!(err.to_string().contains("t.html: rendering stopped: more than 4096 bytes of output"), "{err}");
    let slow = Renderer::new(Limits { time_budget: Duration::ZERO, ..Limits::default() });
    let template = slow
        .compile(
            &TemplateSource::parse("t.html", "---\nsubject: s\n---\n{% for i in (1..5) %}{{ i }}{% endfor %}", None)
                .unwrap(),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let err = template.render(&context()).unwrap_err();
    assert!(matches!(err, RenderError::Limit { limit: Limit::Time(_), .. }), "{err}");
}

fn signer_keys() -> (SigningKeys, SigningKeys) {
    let ours = SigningKeys::new(vec![b"workspace-one-signing-key".to_vec()]).unwrap();
    let theirs = SigningKeys::new(vec![b"workspace-two-signing-key".to_vec()]).unwrap();
    (ours, theirs)
}

#[test]
fn link_rewriting_tracks_every_web_link_and_nothing_else() {
    let (k, _) = signer_keys();
    let s = LinkSigner::new("https://t.shop.example", &k, WorkspaceId(1), "m-9", ProfileId(5));
    let html = r##"<html><body>
        <a href="https://shop.example/a?x=1&amp;y=2">A</a>
        <A HREF='http://shop.example/b'>B</A>
        <a class="btn" href=https://shop.example/c>C</a>
        <a href="mailto:help@shop.example">mail</a>
        <a href="tel:+331234">call</a>
        <a href="#top">top</a>
        <a href="https://t.shop.example/u/already">unsubscribe</a>
        <a data-notrack href="https://shop.example/private">private</a>
        <!--[if mso]><a href="https://shop.example/outlook">o</a><![endif]-->
        </body></html>"##;
    let mut table = LinkTable::default();
    let out = append_open_pixel(&rewrite_html_links(html, &s, &mut table), &s);
    assert_eq!(table.urls, ["https://shop.example/a?x=1&y=2", "http://shop.example/b", "https://shop.example/c"]);
    for kept in [
        "mailto:help@shop.example",
        "tel:+331234",
        "#top",
        "https://t.shop.example/u/already",
        "https://shop.example/private",
    ] {
        assert!(out.contains(kept), "{kept} kept");
    }
    assert!(!out.contains("shop.example/a?") && !out.contains("http://shop.example/b"));
    let tokens: Vec<&str> =
        out.split("https://t.shop.example/t/c/").skip(1).map(|r| r.split('"').next().unwrap()).collect();
    assert_eq!(tokens.len(), 3);
    for (i, token) in tokens.iter().enumerate() {
        let claims = verify(token, &k).unwrap();
        assert_eq!(claims.action, Action::Click { link: i as u32, url: table.urls[i].clone() });
        assert_eq!((claims.workspace, claims.profile, claims.message.as_str()), (WorkspaceId(1), ProfileId(5), "m-9"));
    }
    let pixel_at = out.find("<img src=\"https://t.shop.example/t/o/").expect("pixel");
    assert!(pixel_at < out.find("</body>").unwrap());
    let pixel_token = out[pixel_at..].split("/t/o/").nth(1).unwrap().split('"').next().unwrap();
    assert_eq!(verify(pixel_token, &k).unwrap().action, Action::Open);
}

#[test]
fn tampered_tokens_are_refused() {
    let (ours, theirs) = signer_keys();
    let claims = Claims {
        workspace: WorkspaceId(1),
        message: "m-1".into(),
        profile: ProfileId(100),
        action: Action::Click { link: 0, url: "https://shop.example/".into() },
    };
    let token = ours.sign(&claims);
    assert_eq!(verify(&token, &ours), Ok(claims.clone()));
    assert_eq!(verify(&token, &theirs), Err(TokenError::BadSignature), "another workspace's keys");

    let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            let t = URL_SAFE_NO_PAD.encode(&b);
            assert!(verify(&t, &ours).is_err(), "flipping bit {bit:#x} of byte {i} must be refused");
        }
    }
    // Truncated or extended tokens.
    assert!(verify(&token[..token.len() - 1], &ours).is_err());
    assert!(verify(&format!("{token}A"), &ours).is_err());
    // The same MAC on another recipient, workspace, message or URL.
    let mac = &bytes[bytes.len() - 32..];
    for other in [
        Claims { profile: ProfileId(101), ..claims.clone() },
        Claims { workspace: WorkspaceId(2), ..claims.clone() },
        Claims { message: "m-2".into(), ..claims.clone() },
        Claims { action: Action::Click { link: 0, url: "https://evil.example/".into() }, ..claims.clone() },
        Claims { action: Action::Unsubscribe, ..claims.clone() },
    ] {
        let forged_bytes = URL_SAFE_NO_PAD.decode(theirs.sign(&other)).unwrap();
        let mut forged = forged_bytes[..forged_bytes.len() - 32].to_vec();
        forged.extend_from_slice(mac);
        assert_eq!(verify(&URL_SAFE_NO_PAD.encode(&forged), &ours), Err(TokenError::BadSignature), "{other:?}");
    }
}

proptest! {
    #[test]
    fn arbitrary_tokens_never_verify(s in "[A-Za-z0-9_-]{0,200}") {
        let (ours, _) = signer_keys();
        prop_assert!(verify(&s, &ours).is_err());
    }

    /// No subject or display name, whatever it contains, adds a header line.
    #[test]
    fn no_header_injection(subject in any::<String>(), name in any::<String>(), to_name in "(\\PC|[\r\n\t\0\u{85}\u{2028}])*") {
        let from = Mailbox::new(Some(&name), "news@shop.example").unwrap();
        let to = Mailbox::new(Some(&to_name), "zoe@example.com").unwrap();
        let headers = build_headers(&HeaderSpec {
            from: &from,
            to: &to,
            reply_to: None,
            subject: &subject,
            date: NOW,
            message_id: "m@shop.example",
            kind: MessageKind::Marketing,
            unsubscribe_url: Some("https://t.shop.example/u/x"),
            unsubscribe_mailto: None,
        }).unwrap();
        let block = headers.to_rfc5322();
        prop_assert!(block.ends_with("\r\n"));
        let lines: Vec<&str> = block[..block.len() - 2].split("\r\n").collect();
        let mut starts = Vec::new();
        for line in &lines {
            prop_assert!(!line.contains('\r') && !line.contains('\n'));
            prop_assert!(line.is_ascii(), "{line:?}");
            prop_assert!(line.len() <= 998);
            if !line.starts_with(' ') {
                starts.push(line.split(':').next().unwrap().to_string());
            }
        }
        prop_assert_eq!(starts, ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"]);
    }
}

#[test]
fn recommendations_feed_templates() {
    let view =
        obj(json!({"product_id": "tent", "name": "Trail Tent", "price": 249, "url": "https://shop.example/p/tent"}));
    let order = obj(json!({"products": [{"product_id": "tent"}, {"product_id": "stove", "name": "Camp Stove"}]}));
    let events = [
        ActivityEvent { name: "Product Viewed", timestamp: NOW - 10, properties: &view },
        ActivityEvent { name: "Order Completed", timestamp: NOW - 100, properties: &order },
    ];
    let model = BoughtTogether::from_events(events.iter().copied());
    let mut ctx = context();
    ctx.viewed = viewed_not_bought(&events, 3);
    ctx.bought_together = model.complements("tent", 3);
    assert_eq!(
        html_of_ctx(
            "{% for p in recommendations.viewed %}{{ p.name }} {{ p.price | money: 'USD' }}{% endfor %} + {{ recommendations.bought_together[0].name }}",
            &ctx
        ),
        "Trail Tent $249.00 + Camp Stove"
    );
}

fn html_of_ctx(body: &str, ctx: &Context) -> String {
    render_str(body, ctx).unwrap().html
}

/// Every playbook template compiles its MJML once, and what a reader sees is
/// what compiling MJML for each message gives, with and without the
/// optional parts (recommendations, event, incentive, segments).
#[test]
fn playbook_mjml_compiles_once_and_reads_the_same_as_per_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/playbook/templates");
    let rich = {
        let mut c = context();
        let mut p = product("tent", "Trail Tent", 249.0);
        p.category = Some("home".into());
        c.viewed.push(p);
        c.event.as_mut().unwrap().properties.insert(
            "products".into(),
            json!([{"product_id": "tent", "name": "Trail Tent"}, {"product_id": "mug", "category": "kitchen"}]),
        );
        c
    };
    let bare = Context {
        profile: ProfileContext { id: Some(ProfileId(7)), ..ProfileContext::default() },
        now: NOW,
        ..Context::default()
    };
    let (once, each) = (Renderer::default(), Renderer::default().with_precompile(false));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mjml") {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let source = TemplateSource::parse(&name, &std::fs::read_to_string(&path).unwrap(), None).unwrap();
        let fast = once.compile(&source).unwrap();
        assert!(fast.is_precompiled(), "{name}: its MJML is compiled for every message");
        let slow = each.compile(&source).unwrap();
        assert!(!slow.is_precompiled());
        for ctx in [&rich, &bare] {
            let (a, b) = (fast.render(ctx).unwrap(), slow.render(ctx).unwrap());
            assert_eq!(a.subject, b.subject, "{name}");
            let words = |html: &str| html_to_text(html).split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(words(&a.html), words(&b.html), "{name}");
            let links = |html: &str| html.match_indices("href=").count();
            assert_eq!(links(&a.html), links(&b.html), "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 16);
}
