//! `tidings init`: a new workspace folder with the starter playbook: the
//! segments and lifecycle stages, the journeys, and the configuration.

use crate::config;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

/// The starter playbook: (path in the workspace, contents).
pub const PLAYBOOK: &[(&str, &str)] = &[
    ("segments.rules", include_str!("../playbook/segments.rules")),
    ("journeys/welcome.toml", include_str!("../playbook/journeys/welcome.toml")),
    ("journeys/browse_abandonment.toml", include_str!("../playbook/journeys/browse_abandonment.toml")),
    ("journeys/cart_abandonment.toml", include_str!("../playbook/journeys/cart_abandonment.toml")),
    ("journeys/post_purchase.toml", include_str!("../playbook/journeys/post_purchase.toml")),
    ("journeys/wishlist_nudge.toml", include_str!("../playbook/journeys/wishlist_nudge.toml")),
    ("journeys/opens_no_clicks.toml", include_str!("../playbook/journeys/opens_no_clicks.toml")),
    ("journeys/re_engagement.toml", include_str!("../playbook/journeys/re_engagement.toml")),
    ("journeys/loyalty.toml", include_str!("../playbook/journeys/loyalty.toml")),
    ("journeys/weekend_picks.toml", include_str!("../playbook/journeys/weekend_picks.toml")),
    ("templates/browse_reminder.mjml", include_str!("../playbook/templates/browse_reminder.mjml")),
    ("templates/cart_offer.mjml", include_str!("../playbook/templates/cart_offer.mjml")),
    ("templates/cart_offer_vip.mjml", include_str!("../playbook/templates/cart_offer_vip.mjml")),
    ("templates/cart_reminder.mjml", include_str!("../playbook/templates/cart_reminder.mjml")),
    ("templates/loyalty_reward.mjml", include_str!("../playbook/templates/loyalty_reward.mjml")),
    ("templates/newsletter.mjml", include_str!("../playbook/templates/newsletter.mjml")),
    ("templates/post_purchase_care.mjml", include_str!("../playbook/templates/post_purchase_care.mjml")),
    ("templates/post_purchase_complements.mjml", include_str!("../playbook/templates/post_purchase_complements.mjml")),
    ("templates/single_offer.mjml", include_str!("../playbook/templates/single_offer.mjml")),
    ("templates/we_miss_you.mjml", include_str!("../playbook/templates/we_miss_you.mjml")),
    ("templates/we_miss_you_incentive.mjml", include_str!("../playbook/templates/we_miss_you_incentive.mjml")),
    ("templates/weekend_picks.mjml", include_str!("../playbook/templates/weekend_picks.mjml")),
    ("templates/welcome_1.mjml", include_str!("../playbook/templates/welcome_1.mjml")),
    ("templates/welcome_2_bestsellers.mjml", include_str!("../playbook/templates/welcome_2_bestsellers.mjml")),
    ("templates/welcome_3_offer.mjml", include_str!("../playbook/templates/welcome_3_offer.mjml")),
    ("templates/wishlist_nudge.mjml", include_str!("../playbook/templates/wishlist_nudge.mjml")),
    ("templates/README.md", include_str!("../playbook/templates/README.md")),
];

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The workspace folder to create (it may exist, but must not hold the playbook's files).
    #[arg(default_value = "./tidings-data")]
    pub dir: PathBuf,
}

pub fn run(a: InitArgs) -> Result<()> {
    let clashes: Vec<&str> = PLAYBOOK.iter().map(|(p, _)| *p).filter(|p| a.dir.join(p).exists()).collect();
    if !clashes.is_empty() {
        bail!("{} already has {}; init writes only into a fresh folder", a.dir.display(), clashes.join(", "));
    }
    config::create_private_dir(&a.dir)?;
    for (path, text) in PLAYBOOK {
        let full = a.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
    }
    config::write_example(&a.dir)?;
    println!("wrote the starter playbook to {}:", a.dir.display());
    for (path, _) in PLAYBOOK {
        println!("  {path}");
    }
    println!("check it with `tidings check {}`; start with `tidings serve --data {0}`", a.dir.display());
    Ok(())
}
