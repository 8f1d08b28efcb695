//! A deterministic **simulation** of a small online shop and its customers,
//! for the demo, tests and benchmarks.
//!
//! Nothing here is real: the people, their names and addresses (all at the
//! reserved `example.com` domain), the products and every number are made
//! up from one seed. Every message says so: `context.library.name` is
//! `tidings-simulator` and identify traits carry `"simulated": true`.
//!
//! The same seed (and the same emails delivered) always gives byte-identical
//! output. There is no wall clock and no global random generator: time is
//! the simulated clock and randomness comes from generators seeded from the
//! configuration, one stream per person.
//!
//! # The shop
//!
//! [`Catalog`]: a gift and fashion shop (shoes, bags, jewelry, clothing,
//! accessories, home, kitchen, beauty, stationery) with generated names,
//! log-uniform prices, a Zipf-like popularity inside each category and two or
//! three complementary products (bought together) per product.
//!
//! # The people
//!
//! Each person ([`PersonInfo`]) has a user id `u000123`, traits (email,
//! first and last name, an IANA time zone and its country, marketing consent,
//! device), a daily rhythm (two habitual local hours, a weekend preference), a
//! session rate, a purchase propensity, a price sensitivity and a fatigue
//! score. Known customers arrive as an `identify` during the first hour (a CRM
//! import); others browse under an `anonymousId` and send an `identify` with
//! both ids when they sign up or check out, so identity joining is exercised.
//! Sessions are bursts of events seconds to minutes apart, at their habitual
//! local hours. The [`Persona`]s:
//!
//! - **browser**: views products, now and then wishlists one, almost never
//!   puts anything in the cart, does not buy on their own;
//! - **cart abandoner**: adds to the cart, often starts checkout, leaves; one
//!   in five comes back for the cart, usually a day or two later and never
//!   within three hours, and most of those buy. Their `Product Added` is never
//!   followed by `Order Completed` within the hour unless an email intervenes;
//! - **first-time buyer**: browses until a first order, then goes quiet;
//! - **weekend buyer**: visits mostly on local Saturdays and Sundays and buys
//!   only then;
//! - **loyal buyer**: visits often and buys again when a personal
//!   gamma-distributed inter-purchase time (mean about nine days) has passed;
//! - **opener, not clicker**: rarely visits; opens most email, almost never
//!   clicks;
//! - **drifter**: starts active; activity decays exponentially and stops
//!   within one to four weeks, unless an email wins them back;
//! - **new sign-up**: appears during the window, browses anonymously, signs up
//!   (`Signed Up` and an `identify`) with or without marketing consent, and is
//!   most active in their first two weeks.
//!
//! Events follow Segment's E-commerce Spec v2: `Products Searched`, `Product
//! Viewed`, `Product Added to Wishlist`, `Product Added`, `Checkout Started`,
//! `Order Completed`, plus `Signed Up` and `page` views.
//!
//! # Email
//!
//! [`Simulation::deliver`] hands a person an [`Email`] and returns their
//! [`Reaction`]s: opens (including machine opens), clicks, purchases and
//! unsubscribes, each at a future simulated time. A click becomes a visit in
//! later [`Simulation::advance_to`] output (a landing page with
//! `utm_campaign`, the product, and the order when there is one), and changes
//! what the person does next: the cart is emptied, the loyal buyer's clock
//! restarts, the drifter comes back. The reaction model (relevance, send hour,
//! fatigue, persona) is described in the `react` module. With the default
//! rates an abandoned-cart email showing the cart is clicked by about 9% of
//! its recipients and leads about 6% to buy; a generic newsletter sent to
//! the same people is clicked by about 2.5% and sells to under 1%. Mail sent
//! at a person's habitual hour is opened about 1.5 times as often as mail
//! sent at 3 a.m. their time, and five emails in the previous day halve the
//! opens of the next.
//!
//! # Use
//!
//! ```
//! use tidings_testkit::{Email, SimConfig, Simulation, HOUR};
//!
//! let mut sim = Simulation::new(SimConfig::new(7, 200, tidings_testkit::DEFAULT_START, 7));
//! let first_day = sim.advance_to(sim.clock() + 24 * HOUR);
//! assert!(first_day.iter().all(|m| m.user_id().is_some() || m.anonymous_id().is_some()));
//! let reactions = sim.deliver(&Email {
//!     user_id: "u000001".into(),
//!     at: sim.clock(),
//!     label: "newsletter".into(),
//!     ..Email::default()
//! });
//! assert!(reactions.iter().all(|r| r.at >= sim.clock()));
//! ```
//!
//! [`write_ndjson`] writes any messages as NDJSON; [`bench_events`] streams a
//! given number of events for benchmarks (about two million messages a second
//! on one core, JSON writing aside; `examples/generate.rs` writes NDJSON with
//! one thread simulating and one writing).
//!
//! [`services`] probes for what some tests need (PostgreSQL, Chromium, a
//! python3 with given modules) and, with the `harness` feature, runs a test
//! binary in which a test whose service is missing is reported ignored.

mod bench;
mod catalog;
pub mod http;
mod json;
mod message;
mod persona;
mod queue;
mod react;
mod rng;
pub mod services;
mod session;
mod sim;
mod time;
mod words;

pub use bench::bench_events;
pub use catalog::{Catalog, Product};
pub use message::{CURRENCY, LIBRARY, MessageType, SimMessage, write_ndjson};
pub use persona::{Device, Persona, PersonaMix};
pub use react::{Email, PROXY_USER_AGENT, Reaction, ReactionKind};
pub use rng::SimRng;
pub use session::SHOP_URL;
pub use sim::{DEFAULT_START, PersonInfo, SimConfig, Simulation};
pub use time::{DAY, HOUR, MINUTE, SECOND, format_rfc3339, weekday};
