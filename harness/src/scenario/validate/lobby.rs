//! Checks of the lobby and wait-for-host parts of a scenario: `waiting` expectations and the lobby steps
//! (`enable_lobby`, `disable_lobby`, `admit`, `deny`) need a variant that has a lobby, and an admission is
//! checked against what the previous step said (who is moderator, who waits) where it says it.

use std::collections::BTreeSet;

use super::super::diagnostic::Problem;
use super::super::parse::{RawScenario, RawStep};
use super::*;

/// The step keys that need a lobby (or wait-for-host, which opens one).
const LOBBY_KEYS: &[&str] = &["waiting", "enable_lobby", "disable_lobby", "admit", "deny"];

impl Checker<'_> {
    /// Reports lobby keys under a variant without `lobby = true` or `wait_for_host = true`, an `admit`
    /// or `deny` by someone the previous step's `moderators` leaves out, and of someone its `waiting`
    /// leaves out.
    pub(super) fn lobby_variants(&mut self, raw: &RawScenario, variants: &Variants) {
        let without: Vec<String> = raw
            .header
            .as_ref()
            .and_then(|h| h.variants.as_ref())
            .map(|v| {
                v.get_ref()
                    .iter()
                    .filter_map(|name| variants.by_name.get(name.get_ref()))
                    .filter(|v| v.lobby != Some(true) && !v.wait_for_host)
                    .map(|v| v.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut previous: Option<&RawStep> = None;
        for (index, entry) in raw.steps.iter().enumerate() {
            let n = index + 1;
            let Some(body) = &entry.body else {
                previous = None;
                continue;
            };
            if !without.is_empty() {
                for key in entry
                    .keys
                    .iter()
                    .filter(|k| LOBBY_KEYS.contains(&k.name.as_str()))
                {
                    self.push(
                        Problem::at(
                            "scenario::no_lobby",
                            key.key.clone(),
                            "needs a lobby",
                            format!(
                                "`{}` in step {n} needs a lobby, but variant{} {} {} none",
                                key.name,
                                if without.len() == 1 { "" } else { "s" },
                                quoted_list(without.iter().map(String::as_str)),
                                if without.len() == 1 { "has" } else { "have" },
                            ),
                        )
                        .help(
                            "run the scenario under variants with `lobby = true` or `wait_for_host = true` \
                             (scenarios/variants.toml), or drop the lobby steps and `waiting`",
                        ),
                    );
                }
            }
            for (key, pair) in [("admit", &body.admit), ("deny", &body.deny)] {
                let (Some(pair), Some(before)) = (pair, previous) else {
                    continue;
                };
                let pair = pair.get_ref();
                if let Some(moderators) = &before.moderators {
                    let set: BTreeSet<&str> = moderators
                        .get_ref()
                        .iter()
                        .map(|m| m.get_ref().as_str())
                        .collect();
                    let by = pair.by.get_ref().as_str();
                    if self.is_known(by) && !set.contains(by) {
                        self.push(
                            Problem::at(
                                "scenario::not_moderator",
                                pair.by.span(),
                                "not a moderator",
                                format!(
                                    "`{by}` {key}s in step {n}, but step {} expects it not to be moderator",
                                    n - 1
                                ),
                            )
                            .also(moderators.span(), "the moderators before this step")
                            .help("only a moderator can admit or deny; let one of the moderators do it"),
                        );
                    }
                }
                if let Some(waiting) = &before.waiting {
                    let who = pair.who.get_ref().as_str();
                    if self.is_known(who) && !waiting.get_ref().iter().any(|w| w.get_ref() == who) {
                        self.push(
                            Problem::at(
                                "scenario::not_waiting",
                                pair.who.span(),
                                "not waiting",
                                format!(
                                    "`{who}` is {} in step {n}, but step {} expects it not to wait",
                                    if key == "admit" { "admitted" } else { "denied" },
                                    n - 1
                                ),
                            )
                            .also(waiting.span(), "who waits before this step")
                            .help(format!(
                                "{key} someone the previous step lists in `waiting`"
                            )),
                        );
                    }
                }
            }
            previous = Some(body);
        }
    }
}
