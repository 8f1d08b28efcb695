//! Rendering: from a template file and what we know about a person to a
//! finished, trackable message. Pure: no I/O, no wall clock (times are
//! parameters; only the render time budget uses a monotonic timer).
//!
//! The parts, in the order a message goes through them:
//!
//! - [`template`]: template files (`NAME.mjml` or `NAME.html` with a
//!   front-matter block, optional `NAME.txt`) and located errors.
//! - [`engine`]: compiling a template ([`Renderer::compile`]) and rendering
//!   it for one recipient ([`Template::render`]): Liquid over the
//!   [`context`], in the [`sandbox`], MJML compiled with `mrml`.
//! - [`links`] and [`tokens`]: every link rewritten to a signed tracking
//!   URL, the open pixel, signed unsubscribe and preference-center URLs,
//!   and [`verify`] for the endpoints that receive them.
//! - [`text`]: the text part, generated from the HTML when the template has
//!   none.
//! - [`headers`]: From, To, Subject, Date, Message-ID and RFC 8058
//!   one-click unsubscribe headers, immune to header injection.
//! - [`recommend`]: "viewed but not bought" and "bought together" products
//!   for templates.
//! - [`email::personalize`] does all of it in one call.
//!
//! Invariants:
//! - A message renders completely or not at all: a missing variable, a
//!   Liquid error or a sandbox limit in any part is an error with the
//!   template, file, line and (for a missing variable) its name.
//! - Templates cannot reach outside themselves: no includes, no files, no
//!   environment; loops, output and time are bounded ([`Limits`]).
//! - A tracking token is checked before anything in it is believed, and the
//!   click endpoint can only redirect to the URL inside a valid token.
//! - No value a template or profile supplies can add a header line.

pub mod context;
pub mod email;
pub mod engine;
mod filters;
pub mod headers;
pub(crate) mod html;
pub mod links;
pub mod recommend;
pub mod sandbox;
pub mod template;
pub mod text;
pub mod tokens;

pub use context::{Context, EventContext, LinkUrls, ProfileContext};
pub use email::{Email, Envelope, personalize};
pub use engine::{RenderError, Rendered, Renderer, Template};
pub use headers::{HeaderError, HeaderSpec, Headers, Mailbox, build_headers, sanitize_text};
pub use html::{decode_entities, escape_html};
pub use links::{LinkSigner, LinkTable, append_open_pixel, rewrite_html_links, rewrite_text_links};
pub use recommend::{ActivityEvent, BoughtTogether, Interests, Product, viewed_not_bought};
pub use sandbox::{Limit, Limits};
pub use template::{BodyFormat, Location, MessageKind, Part, TemplateError, TemplateSource};
pub use text::html_to_text;
pub use tokens::{Action, Claims, KeyError, SigningKeys, TokenError, verify};
