//! Scenario files: any text through `scenario::parse` (TOML with spans, then every check of
//! `validate`) against the repository's variants. A problem must come back as a diagnostic whose spans
//! render (miette) — never a panic — and a scenario that passes must label every step and replay.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use harness::scenario;
use harness::stack::Variants;
use libfuzzer_sys::fuzz_target;

fn variants() -> &'static Variants {
    static VARIANTS: OnceLock<Variants> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        Variants::parse(
            Path::new("scenarios/variants.toml"),
            include_str!("../../scenarios/variants.toml"),
        )
        .unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match scenario::parse(Path::new("scenarios/fuzz.toml"), text, variants()) {
        Ok(s) => {
            for step in &s.steps {
                let _ = step.label();
                let _ = s.location(step);
                let _ = s.timeout_of(step);
            }
        }
        Err(e) => {
            // Rendering reads every span against the text: an out-of-range span panics here.
            let _ = format!("{:?}", miette::Report::new(e));
        }
    }
});
