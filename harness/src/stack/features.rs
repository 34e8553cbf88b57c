//! What a scenario may `require` of a stack, and whether a stack can provide it.
//!
//! A feature is a variant knob (`requires = ["lobby"]`): a stack provides it when its backend can express a
//! variant with that knob on — the fixture's plan and a release's plan (`versions::Facts`) already say so,
//! as `StackError::Unsupported` naming the knob. So the one place that knows "the fixture has no lobby" or
//! "stable-9364 ships no token_affiliation module" stays the plan; this module only asks it.
//!
//! A knob the scenario's variant sets that the stack cannot express is an error of the run (the plan says
//! which knob and which release); a feature the scenario `requires` that the stack lacks makes the scenario
//! skipped, with the plan's reason, never passed.

use super::{Family, StackError, StackTarget, Variant};

/// The features a scenario may require, with what each means.
pub const FEATURES: &[(&str, &str)] = &[
    (
        "lobby",
        "a lobby (ENABLE_LOBBY): members-only rooms, knock and admit",
    ),
    (
        "wait_for_host",
        "Prosody's muc_wait_for_host module: non-hosts wait until a host joins",
    ),
    (
        "token_affiliation",
        "a token_affiliation MUC module: owner or member from the token's claims",
    ),
    ("guests", "an anonymous guest domain (ENABLE_GUESTS)"),
    (
        "anonymous_strict",
        "PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT (stable-10978+)",
    ),
];

/// `variant` with the knob of `feature` switched on; `None` for a name that is no feature.
pub fn with_feature(variant: &Variant, feature: &str) -> Option<Variant> {
    let mut v = variant.clone();
    match feature {
        "lobby" => v.lobby = Some(true),
        "wait_for_host" => v.wait_for_host = true,
        "token_affiliation" => v.token_affiliation = true,
        "guests" => v.guests = true,
        "anonymous_strict" => v.anonymous_strict = true,
        _ => return None,
    }
    Some(v)
}

/// Why `target` cannot run `variant` with every feature of `requires`, or `None` when it can (or when
/// only a run can tell). The reason names the stack and the feature.
pub fn lacks(target: &StackTarget, variant: &Variant, requires: &[String]) -> Option<String> {
    for feature in requires {
        let Some(wanted) = with_feature(variant, feature) else {
            return Some(format!("`{feature}` is not a feature a stack can provide"));
        };
        let planned = match target.family {
            Family::Fixture => super::fixture::plan(target, &wanted).map(|_| ()),
            Family::Jitsi => super::jitsi::plan::plan(target, &wanted).map(|_| ()),
            Family::External => {
                // The harness knows an existing deployment only by the variants it declares: the
                // scenario's variant must itself have the knob.
                if &wanted == variant {
                    Ok(())
                } else {
                    return Some(format!(
                        "{target} requires `{feature}`, but its variant `{}` does not set it, and the \
                         harness cannot tell whether the deployment has it",
                        variant.name
                    ));
                }
            }
        };
        match planned {
            Ok(()) => {}
            Err(StackError::Unsupported { reason, .. }) => {
                return Some(format!("{target} cannot provide `{feature}`: {reason}"))
            }
            // Any other problem (an unknown release, …) is the run's to report.
            Err(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(text: &str) -> Variant {
        let mut v: Variant = toml::from_str(&format!("description = \"x\"\n{text}")).unwrap();
        v.name = "v".into();
        v
    }

    #[test]
    fn every_feature_is_a_knob() {
        let base = variant("jwt = true");
        for (feature, _) in FEATURES {
            let on = with_feature(&base, feature).unwrap();
            assert_ne!(on, base, "{feature} switches nothing on");
        }
        assert!(with_feature(&base, "teleport").is_none());
    }

    #[test]
    fn a_release_without_the_module_lacks_it_and_says_which() {
        let v = variant("jwt = true");
        let old: StackTarget = "jitsi:stable-9364".parse().unwrap();
        let why = lacks(&old, &v, &["token_affiliation".into()]).unwrap();
        assert!(
            why.contains("jitsi:stable-9364") && why.contains("token_affiliation"),
            "{why}"
        );
        let new: StackTarget = "jitsi:stable-11146".parse().unwrap();
        assert_eq!(lacks(&new, &v, &["guests".into()]), None);
        assert_eq!(lacks(&new, &v, &[]), None);
    }

    #[test]
    fn the_fixture_says_what_it_lacks() {
        let v = variant("jwt = true");
        let fixture: StackTarget = "fixture:13".parse().unwrap();
        assert_eq!(lacks(&fixture, &v, &["guests".into()]), None);
        let why = lacks(&fixture, &v, &["token_affiliation".into()]);
        // The fixture may learn a feature (its plan then stops refusing it); until then it says why.
        if let Some(why) = why {
            assert!(
                why.starts_with("fixture:13 cannot provide `token_affiliation`"),
                "{why}"
            );
        }
    }
}
