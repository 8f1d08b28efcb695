//! One call from a compiled template to a finished message for one
//! recipient: signed links in the context, Liquid and MJML, tracked links
//! and the open pixel, a text part, and the headers.

use tidings_model::{Micros, ProfileId, WorkspaceId};

use crate::context::{Context, LinkUrls};
use crate::engine::{RenderError, Template};
use crate::headers::{HeaderSpec, Headers, Mailbox, build_headers};
use crate::links::{LinkSigner, LinkTable, append_open_pixel, rewrite_html_links, rewrite_text_links};
use crate::template::MessageKind;
use crate::text::html_to_text;
use crate::tokens::SigningKeys;

/// Who sends what to whom, and how it is tracked.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub workspace: WorkspaceId,
    pub profile: ProfileId,
    pub from: &'a Mailbox,
    pub to: &'a Mailbox,
    pub reply_to: Option<&'a Mailbox>,
    /// The Message-ID, stable across retries of this message.
    pub message_id: &'a str,
    /// The message's key in tokens (an outbox id); often the Message-ID.
    pub message_key: &'a str,
    pub date: Micros,
    /// Where the tracking, unsubscribe and preference endpoints are served.
    pub tracking_base: &'a str,
    pub keys: &'a SigningKeys,
    /// An optional `mailto:` for `List-Unsubscribe`.
    pub unsubscribe_mailto: Option<&'a str>,
    /// Whether to rewrite links and add the open pixel.
    pub track: bool,
}

/// A finished message.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub headers: Headers,
    pub html: String,
    pub text: String,
    /// Where each tracked link goes, by link number.
    pub links: LinkTable,
    pub kind: MessageKind,
    pub topic: Option<String>,
}

/// Renders `template` for the recipient in `envelope`. `ctx.links` is
/// filled in here.
pub fn personalize(template: &Template, mut ctx: Context, envelope: &Envelope<'_>) -> Result<Email, RenderError> {
    let signer = LinkSigner::new(
        envelope.tracking_base,
        envelope.keys,
        envelope.workspace,
        envelope.message_key,
        envelope.profile,
    );
    let unsubscribe_url = signer.unsubscribe_url();
    ctx.links = LinkUrls { unsubscribe_url: unsubscribe_url.clone(), preferences_url: signer.preferences_url() };
    let rendered = template.render(&ctx)?;
    let mut links = LinkTable::default();
    let (html, text) = if envelope.track {
        let html = append_open_pixel(&rewrite_html_links(&rendered.html, &signer, &mut links), &signer);
        let text = match &rendered.text {
            Some(t) => rewrite_text_links(t, &signer, &mut links),
            None => html_to_text(&html),
        };
        (html, text)
    } else {
        let text = rendered.text.clone().unwrap_or_else(|| html_to_text(&rendered.html));
        (rendered.html, text)
    };
    let kind = template.kind();
    let headers = build_headers(&HeaderSpec {
        from: envelope.from,
        to: envelope.to,
        reply_to: envelope.reply_to,
        subject: &rendered.subject,
        date: envelope.date,
        message_id: envelope.message_id,
        kind,
        unsubscribe_url: (kind == MessageKind::Marketing).then_some(unsubscribe_url.as_str()),
        unsubscribe_mailto: envelope.unsubscribe_mailto.filter(|_| kind == MessageKind::Marketing),
    })?;
    Ok(Email { headers, html, text, links, kind, topic: template.topic().map(str::to_string) })
}
