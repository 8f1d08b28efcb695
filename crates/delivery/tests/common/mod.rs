//! What the delivery tests share: a template rendered into a message,
//! the DKIM test key, and temporary folders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Map, Value, json};
use tidings_delivery::*;
use tidings_model::{ProfileId, WorkspaceId};
use tidings_render::{
    Context, Email, Envelope, Mailbox, Product, ProfileContext, Renderer, SigningKeys, TemplateSource, personalize,
};

pub const NOW: i64 = 1_767_261_600_000_000;
pub const BASE: &str = "https://t.shop.example";

pub const TEMPLATE: &str = "---
subject: \"{{ profile.first_name }}, your {{ recommendations.viewed[0].name }} is waiting\"
preheader: Still thinking it over?
topic: cart
---
<mjml><mj-body><mj-section><mj-column>
<mj-text><p>Hi {{ profile.first_name }}, you looked at <a href=\"{{ recommendations.viewed[0].url }}\">{{ recommendations.viewed[0].name }}</a>
for {{ recommendations.viewed[0].price | money: 'EUR' }}. {{ profile.note }}</p></mj-text>
<mj-button href=\"https://shop.example/cart?utm_source=email&amp;utm_medium=cart\">Back to your cart</mj-button>
<mj-text><a href=\"mailto:help@shop.example\">Help</a> | <a href=\"{{ links.unsubscribe_url }}\">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>
";

static DIRS: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tidings-delivery-{}-{what}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn signer() -> DkimSigner {
    let pem = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dkim-test-key.pem"))
        .unwrap();
    DkimSigner::from_pem("shop.example", "tidings2026", &pem).unwrap()
}

pub fn keys() -> SigningKeys {
    SigningKeys::new(vec![b"delivery-test-signing-key".to_vec()]).unwrap()
}

/// The cart email for `address`, rendered by tidings-render.
pub fn email_for(address: &str, first_name: &str, note: &str) -> Email {
    let source = TemplateSource::parse("cart.mjml", TEMPLATE, None).unwrap();
    let template = Renderer::default().compile(&source).unwrap();
    let traits: Map<String, Value> = json!({"first_name": first_name, "note": note}).as_object().unwrap().clone();
    let ctx = Context {
        profile: ProfileContext { id: Some(ProfileId(7)), traits, segments: vec![], stage: None },
        viewed: vec![Product {
            id: "tent".into(),
            name: Some("Trail Tent".into()),
            price: Some(249.0),
            category: None,
            url: Some("https://shop.example/p/tent".into()),
            image: None,
        }],
        now: NOW,
        ..Context::default()
    };
    let from = Mailbox::new(Some("Trail Shop"), "news@shop.example").unwrap();
    let to = Mailbox::new(Some(first_name), address).unwrap();
    let keys = keys();
    let message_id = format!("<{}.cart@shop.example>", address.replace('@', "."));
    personalize(
        &template,
        ctx,
        &Envelope {
            workspace: WorkspaceId(1),
            profile: ProfileId(7),
            from: &from,
            to: &to,
            reply_to: None,
            message_id: &message_id,
            message_key: &message_id,
            date: NOW,
            tracking_base: BASE,
            keys: &keys,
            unsubscribe_mailto: Some("mailto:unsubscribe@shop.example?subject=unsubscribe"),
            track: true,
        },
    )
    .unwrap()
}

pub fn outgoing(address: &str, first_name: &str, signer: &DkimSigner) -> OutgoingMessage {
    let email = email_for(address, first_name, "");
    compose(
        &email,
        &ComposeOptions { envelope_from: Some("bounces@shop.example"), dkim: Some(signer), signed_at: Some(NOW) },
    )
    .unwrap()
}
