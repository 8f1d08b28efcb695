//! Template files from arbitrary text: parsing, compiling (Liquid and MJML)
//! and rendering for a person may fail with a located error, never panic,
//! hang or overflow the stack.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings_render::{Context, ProfileContext, Renderer, TemplateSource};

fuzz_target!(|text: &str| {
    let renderer = Renderer::new(Default::default());
    for name in ["t.html", "t.mjml"] {
        let Ok(source) = TemplateSource::parse(name, text, Some(text)) else { continue };
        let Ok(template) = renderer.compile(&source) else { continue };
        let mut traits = serde_json::Map::new();
        traits.insert("first_name".into(), serde_json::Value::from("Ada"));
        let ctx = Context {
            profile: ProfileContext { id: None, traits, segments: vec!["loyal".into()], stage: None },
            event: None,
            viewed: Vec::new(),
            bought_together: Vec::new(),
            incentive: None,
            links: Default::default(),
            values: serde_json::Map::new(),
            now: 1_780_000_000_000_000,
        };
        let _ = template.render(&ctx);
    }
});
