//! `sweep`: one scenario under every combination of chosen variant knobs a stack's release can express
//! (issue 15 item 1). Combinations are grouped by identical timeline (the snapshot's step lines, so
//! jicofo's arbitrary successor is no difference); each group gets the knob values that decide it (a
//! minimal description: the fewest knobs that single out its combinations among those that ran); the
//! scenario's own expectations mark the groups that satisfy it; the satisfying settings are given in
//! docker-jitsi-meet env names for the release (the Jitsi plan's variant → env mapping,
//! [`crate::stack::jitsi::plan`]; for fixture stacks the env the newest known release would use).
//!
//! A combination the release cannot express is skipped with the reason (release and knob named), never
//! dropped. Every knob swept is a stack setting (env the containers read at start), so each combination
//! that runs gets a stack of its own; the number of stacks started is reported.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::outcome::{Outcome, ScenarioResult};
use crate::stack::{Family, StackError, StackTarget, Variant};
use crate::versions::{self, Release};

/// The knobs `sweep` can vary, as `variants.toml` names them.
pub const KNOBS: &[&str] = &[
    "jicofo_auth",
    "auto_owner",
    "allow_empty_token",
    "guests",
    "token_affiliation",
    "wait_for_host",
    "lobby",
    "anonymous_strict",
];

/// The knobs swept when none are named: the seed report's question.
pub const DEFAULT_KNOBS: &[&str] = &["jicofo_auth", "auto_owner", "allow_empty_token"];

/// Checks a `--knobs` list: known, no repeats, at most 8 (256 combinations).
pub fn check_knobs(knobs: &[String]) -> Result<(), String> {
    if knobs.is_empty() {
        return Err(format!(
            "no knob to sweep; valid knobs: {}",
            KNOBS.join(", ")
        ));
    }
    for (i, k) in knobs.iter().enumerate() {
        if !KNOBS.contains(&k.as_str()) {
            return Err(format!(
                "unknown knob `{k}`; valid knobs: {}",
                KNOBS.join(", ")
            ));
        }
        if knobs[..i].contains(k) {
            return Err(format!("knob `{k}` is named twice"));
        }
    }
    Ok(())
}

/// Sets `knob` of `variant` to `value`.
pub fn set_knob(variant: &mut Variant, knob: &str, value: bool) {
    match knob {
        "jicofo_auth" => variant.jicofo_auth = Some(value),
        "auto_owner" => variant.auto_owner = Some(value),
        "allow_empty_token" => variant.allow_empty_token = value,
        "guests" => variant.guests = value,
        "token_affiliation" => variant.token_affiliation = value,
        "wait_for_host" => variant.wait_for_host = value,
        "lobby" => variant.lobby = Some(value),
        "anonymous_strict" => variant.anonymous_strict = value,
        _ => {}
    }
}

/// A short tag of a knob for variant names (`jicofo_auth` -> `ja`).
fn abbreviation(knob: &str) -> String {
    knob.split('_').filter_map(|w| w.chars().next()).collect()
}

/// One combination of knob values, as a variant.
#[derive(Clone, Debug, Serialize)]
pub struct Combination {
    /// The variant's name, e.g. `sweep-ja1-ao0-aet0`.
    pub name: String,
    /// Knob -> value, in the order swept.
    pub values: Vec<(String, bool)>,
    /// The variant: `base` with the knobs set.
    #[serde(skip)]
    pub variant: Variant,
}

impl Combination {
    /// `jicofo_auth=true, auto_owner=false, …`.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Every combination of `knobs` on top of `base`, in binary order (all false first).
pub fn combinations(base: &Variant, knobs: &[String]) -> Vec<Combination> {
    (0..1usize << knobs.len())
        .map(|bits| {
            let mut variant = base.clone();
            let mut values = Vec::new();
            let mut name = String::from("sweep");
            for (i, knob) in knobs.iter().enumerate() {
                let value = bits & (1 << (knobs.len() - 1 - i)) != 0;
                set_knob(&mut variant, knob, value);
                values.push((knob.clone(), value));
                let _ = write!(name, "-{}{}", abbreviation(knob), u8::from(value));
            }
            variant.name = name.clone();
            variant.description = format!("sweep of {}", base.name);
            Combination {
                name,
                values,
                variant,
            }
        })
        .collect()
}

/// Whether `target` can be configured as `variant`: `Err(reason)` names the release (or fixture) and the
/// knob, from the backend's own plan.
pub fn expressible(target: &StackTarget, variant: &Variant) -> Result<(), String> {
    let result = match target.family {
        Family::Fixture => crate::stack::fixture::plan(target, variant).map(|_| ()),
        Family::Jitsi => crate::stack::jitsi::plan(target, variant).map(|_| ()),
        Family::External => {
            return Err(format!(
                "{target} is an existing deployment: the harness cannot change its settings"
            ))
        }
    };
    result.map_err(|e| match e {
        StackError::Unsupported { stack, reason, .. } => format!("{stack}: {reason}"),
        other => other.to_string(),
    })
}

/// The release whose docker-jitsi-meet env names the settings: the target's own, or for fixture stacks
/// the newest known release.
pub fn release_of(target: &StackTarget) -> Release {
    let newest = || {
        versions::newest_known()
            .tag
            .parse::<Release>()
            .unwrap_or(Release::LatestStable)
    };
    match target.family {
        Family::Jitsi => target.version.parse().unwrap_or_else(|_| newest()),
        _ => newest(),
    }
}

/// `variant` as docker-jitsi-meet env of `release` (`NAME=VALUE`), or why it cannot be.
pub fn env_of(release: &Release, variant: &Variant) -> Result<Vec<String>, String> {
    let facts = versions::facts(release);
    crate::stack::jitsi::plan::variant_env(&facts, variant).map(|entries| {
        entries
            .into_iter()
            .map(|e| format!("{}={}", e.name, e.value.expose()))
            .collect()
    })
}

/// How one combination went.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CellStatus {
    /// The release cannot express the combination.
    Skipped {
        /// Release (or fixture) and knob, and why.
        reason: String,
    },
    /// The scenario ran to its end.
    Ran {
        /// The snapshot's step lines.
        steps: Vec<String>,
        /// The expectations not met (empty: the combination satisfies the scenario).
        unmet: Vec<String>,
    },
    /// The scenario could not run to its end.
    Failed {
        /// What failed.
        error: String,
    },
}

/// One combination and how it went.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// The combination.
    #[serde(flatten)]
    pub combination: Combination,
    /// How it went.
    #[serde(flatten)]
    pub status: CellStatus,
    /// Its group (index into [`SweepReport::groups`]); `None` when skipped.
    pub group: Option<usize>,
}

impl Cell {
    /// Ran, and every expectation held.
    pub fn satisfies(&self) -> bool {
        matches!(&self.status, CellStatus::Ran { unmet, .. } if unmet.is_empty())
    }
}

/// Combinations with an identical timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// The shared snapshot step lines (or the failure, for failed combinations).
    pub steps: Vec<String>,
    /// Its combinations' names.
    pub members: Vec<String>,
    /// The knob values that decide the group: a disjunction of conjunctions, each the fewest knobs
    /// that single out only this group's combinations among those that ran.
    pub decided_by: Vec<Vec<(String, bool)>>,
    /// The decision in words.
    pub decision: String,
    /// Every combination of the group met the scenario's expectations.
    pub satisfies: bool,
    /// For a satisfying group: the settings as docker-jitsi-meet env of [`SweepReport::release`], one
    /// list per term of `decided_by` (the env of the knobs the term names).
    pub settings: Vec<Vec<String>>,
}

/// The sweep of one scenario on one stack.
#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    /// The scenario's name.
    pub scenario: String,
    /// The stack.
    pub target: StackTarget,
    /// The variant the knobs were set on.
    pub base: String,
    /// The knobs swept, in order.
    pub knobs: Vec<String>,
    /// The release whose env names the settings.
    pub release: String,
    /// Every combination, in binary order.
    pub cells: Vec<Cell>,
    /// The groups, largest first.
    pub groups: Vec<Group>,
    /// Stacks started for this target.
    pub stacks_started: usize,
}

impl SweepReport {
    /// Builds the report from the combinations (`skipped`: name -> reason) and the results of those
    /// that ran.
    pub fn build(
        scenario: &str,
        target: &StackTarget,
        base: &str,
        knobs: &[String],
        combinations: Vec<Combination>,
        skipped: &BTreeMap<String, String>,
        results: &[ScenarioResult],
    ) -> SweepReport {
        let release = release_of(target);
        let mut cells: Vec<Cell> = combinations
            .into_iter()
            .map(|combination| {
                let status = if let Some(reason) = skipped.get(&combination.name) {
                    CellStatus::Skipped {
                        reason: reason.clone(),
                    }
                } else {
                    match results.iter().find(|r| r.variant == combination.name) {
                        None => CellStatus::Failed {
                            error: "no result (the run was interrupted)".into(),
                        },
                        Some(r) => status_of(r),
                    }
                };
                Cell {
                    combination,
                    status,
                    group: None,
                }
            })
            .collect();
        let stacks_started = cells
            .iter()
            .filter(|c| !matches!(c.status, CellStatus::Skipped { .. }))
            .count();
        // Group by the timeline (or the failure's first line).
        let mut by_key: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
        for (i, cell) in cells.iter().enumerate() {
            let key = match &cell.status {
                CellStatus::Skipped { .. } => continue,
                CellStatus::Ran { steps, .. } => steps.clone(),
                CellStatus::Failed { error } => vec![format!(
                    "failed: {}",
                    error.lines().next().unwrap_or_default()
                )],
            };
            by_key.entry(key).or_default().push(i);
        }
        let mut keyed: Vec<(Vec<String>, Vec<usize>)> = by_key.into_iter().collect();
        keyed.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(&b.1)));
        let ran: Vec<Vec<bool>> = cells
            .iter()
            .filter(|c| !matches!(c.status, CellStatus::Skipped { .. }))
            .map(|c| c.combination.values.iter().map(|(_, v)| *v).collect())
            .collect();
        let mut groups = Vec::new();
        for (gi, (steps, members)) in keyed.into_iter().enumerate() {
            let inside: Vec<Vec<bool>> = members
                .iter()
                .map(|&i| {
                    cells[i]
                        .combination
                        .values
                        .iter()
                        .map(|(_, v)| *v)
                        .collect()
                })
                .collect();
            let terms = decide(knobs.len(), &ran, &inside);
            let decided_by: Vec<Vec<(String, bool)>> = terms
                .iter()
                .map(|t| {
                    t.iter()
                        .map(|&(k, v)| (knobs[k].clone(), v))
                        .collect::<Vec<_>>()
                })
                .collect();
            let satisfies = members.iter().all(|&i| cells[i].satisfies());
            let settings = if satisfies {
                let representative = &cells[members[0]].combination.variant;
                decided_by
                    .iter()
                    .map(|term| deciding_env(&release, representative, term))
                    .collect()
            } else {
                Vec::new()
            };
            for &i in &members {
                cells[i].group = Some(gi);
            }
            groups.push(Group {
                decision: describe_decision(knobs, &decided_by),
                steps,
                members: members
                    .iter()
                    .map(|&i| cells[i].combination.name.clone())
                    .collect(),
                decided_by,
                satisfies,
                settings,
            });
        }
        SweepReport {
            scenario: scenario.to_owned(),
            target: target.clone(),
            base: base.to_owned(),
            knobs: knobs.to_vec(),
            release: release.to_string(),
            cells,
            groups,
            stacks_started,
        }
    }

    /// The text report.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sweep of {} on {} over {} (on variant {}): {} combinations, {} skipped, {} stacks started",
            self.scenario,
            self.target,
            self.knobs.join(" × "),
            self.base,
            self.cells.len(),
            self.cells
                .iter()
                .filter(|c| matches!(c.status, CellStatus::Skipped { .. }))
                .count(),
            self.stacks_started
        );
        for (i, g) in self.groups.iter().enumerate() {
            let _ = writeln!(
                out,
                "\ngroup {} ({} combination{}){}: {}",
                i + 1,
                g.members.len(),
                if g.members.len() == 1 { "" } else { "s" },
                if g.satisfies {
                    " SATISFIES the scenario"
                } else {
                    ""
                },
                g.decision
            );
            for s in &g.steps {
                let _ = writeln!(out, "  {s}");
            }
            if !g.satisfies {
                if let Some(cell) = self
                    .cells
                    .iter()
                    .find(|c| c.group == Some(i) && !c.satisfies())
                {
                    if let CellStatus::Ran { unmet, .. } = &cell.status {
                        for u in unmet {
                            let _ = writeln!(out, "  unmet: {u}");
                        }
                    }
                }
            }
            for s in &g.settings {
                let _ = writeln!(
                    out,
                    "  settings (docker-jitsi-meet env, {}): {}",
                    self.release,
                    s.join(" ")
                );
            }
        }
        for c in &self.cells {
            if let CellStatus::Skipped { reason } = &c.status {
                let _ = writeln!(out, "\nskipped {}: {reason}", c.combination.describe());
            }
        }
        out
    }

    /// A self-contained HTML table: combinations × steps (moderators after each step), with the
    /// group, its decision and whether it satisfies the scenario.
    pub fn render_html(reports: &[SweepReport]) -> String {
        let mut out = String::from(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jitsi-harness sweep</title>\
             <style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
             table{border-collapse:collapse;margin:0.5em 0 1.5em}\
             th,td{border:1px solid #bbb;padding:0.25em 0.5em;font-size:0.9em;text-align:left;vertical-align:top}\
             th{background:#eee}td.on{background:#dcefdc}td.off{background:#f3e0e0}\
             tr.ok td.verdict{background:#bfe5bf;font-weight:bold}td.unmet{background:#fde3c8}tr.skip td{color:#888;font-style:italic}\
             .g{font-weight:bold}ul{margin:0.2em 0}</style></head><body>\n<h1>Sweep</h1>\n",
        );
        for r in reports {
            let _ = writeln!(
                out,
                "<h2>{} on {}</h2>\n<p>Knobs {} on variant {}; {} stacks started. Settings in \
                 docker-jitsi-meet env of {}.</p>\n<ul>",
                esc(&r.scenario),
                esc(&r.target.to_string()),
                esc(&r.knobs.join(" × ")),
                esc(&r.base),
                r.stacks_started,
                esc(&r.release)
            );
            for (i, g) in r.groups.iter().enumerate() {
                let _ = write!(
                    out,
                    "<li><span class=\"g\">group {}</span>{}: {}",
                    i + 1,
                    if g.satisfies { " (satisfies)" } else { "" },
                    esc(&g.decision)
                );
                for s in &g.settings {
                    let _ = write!(out, "<br><code>{}</code>", esc(&s.join(" ")));
                }
                out.push_str("</li>\n");
            }
            out.push_str("</ul>\n<table><tr>");
            for k in &r.knobs {
                let _ = write!(out, "<th>{}</th>", esc(k));
            }
            let steps: Vec<&Vec<String>> = r
                .cells
                .iter()
                .filter_map(|c| match &c.status {
                    CellStatus::Ran { steps, .. } => Some(steps),
                    _ => None,
                })
                .collect();
            let labels: Vec<String> = steps
                .first()
                .map(|s| s.iter().map(|l| step_label(l)).collect())
                .unwrap_or_default();
            for l in &labels {
                let _ = write!(out, "<th>{}</th>", esc(l));
            }
            out.push_str("<th>group</th><th>verdict</th></tr>\n");
            for c in &r.cells {
                let class = match (&c.status, c.satisfies()) {
                    (CellStatus::Skipped { .. }, _) => "skip",
                    (_, true) => "ok",
                    _ => "",
                };
                let _ = write!(out, "<tr class=\"{class}\">");
                for (_, v) in &c.combination.values {
                    let _ = write!(
                        out,
                        "<td class=\"{}\">{v}</td>",
                        if *v { "on" } else { "off" }
                    );
                }
                match &c.status {
                    CellStatus::Skipped { reason } => {
                        let _ = write!(
                            out,
                            "<td colspan=\"{}\">skipped: {}</td><td></td><td>skipped</td>",
                            labels.len(),
                            esc(reason)
                        );
                    }
                    CellStatus::Failed { error } => {
                        let _ = write!(
                            out,
                            "<td colspan=\"{}\">failed: {}</td><td>{}</td><td>failed</td>",
                            labels.len(),
                            esc(error.lines().next().unwrap_or_default()),
                            c.group.map(|g| g + 1).unwrap_or(0)
                        );
                    }
                    CellStatus::Ran { steps, unmet } => {
                        for s in steps {
                            let unmet = if s.contains("| UNMET ") {
                                " class=\"unmet\""
                            } else {
                                ""
                            };
                            let _ = write!(out, "<td{unmet}>{}</td>", esc(&step_moderators(s)));
                        }
                        let _ = write!(
                            out,
                            "<td>{}</td><td class=\"verdict\">{}</td>",
                            c.group.map(|g| g + 1).unwrap_or(0),
                            if unmet.is_empty() {
                                "satisfies"
                            } else {
                                "unmet"
                            }
                        );
                    }
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</table>\n");
        }
        out.push_str("</body></html>\n");
        out
    }
}

fn status_of(result: &ScenarioResult) -> CellStatus {
    match (&result.outcome, &result.timeline) {
        (Outcome::Failed { error, .. }, _) => CellStatus::Failed {
            error: error.clone(),
        },
        (_, Some(_)) => CellStatus::Ran {
            steps: result.body.as_deref().map(step_lines).unwrap_or_default(),
            unmet: result
                .outcome
                .unmet()
                .iter()
                .map(|u| u.to_string())
                .collect(),
        },
        (outcome, None) => CellStatus::Failed {
            error: format!("no timeline ({})", outcome.verdict().as_str()),
        },
    }
}

/// The step lines of a rendered snapshot (after `steps:`), unquoted.
fn step_lines(body: &str) -> Vec<String> {
    body.lines()
        .skip_while(|l| *l != "steps:")
        .skip(1)
        .map(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            serde_json::from_str::<String>(l).unwrap_or_else(|_| l.to_owned())
        })
        .collect()
}

/// `2. join bob, carol` of a step line.
fn step_label(line: &str) -> String {
    line.split(" -> ").next().unwrap_or(line).to_owned()
}

/// `moderators: alice` of a step line.
fn step_moderators(line: &str) -> String {
    line.split(" -> ")
        .nth(1)
        .map(|rest| rest.split(" | ").next().unwrap_or(rest))
        .unwrap_or(line)
        .trim_start_matches("moderators: ")
        .to_owned()
}

/// The env entries that differ when the knobs of `term` take the other value: the settings that
/// decide, in docker-jitsi-meet names (ENABLE_AUTH etc. that every combination shares are left out).
fn deciding_env(release: &Release, variant: &Variant, term: &[(String, bool)]) -> Vec<String> {
    let Ok(env) = env_of(release, variant) else {
        return vec![format!("(not expressible in {release})")];
    };
    let mut out = Vec::new();
    for (knob, value) in term {
        let mut flipped = variant.clone();
        set_knob(&mut flipped, knob, !value);
        let other = env_of(release, &flipped).unwrap_or_default();
        for entry in &env {
            if !other.contains(entry) && !out.contains(entry) {
                out.push(entry.clone());
            }
        }
        // A knob whose other value only adds env (a module list) shows as its absence.
        if env.iter().all(|e| other.contains(e)) {
            for entry in &other {
                if !env.contains(entry) {
                    out.push(format!("without {entry}"));
                }
            }
        }
    }
    out
}

/// Words for a decision: `jicofo_auth=true (whatever auto_owner, allow_empty_token)`, terms joined
/// with `or`.
fn describe_decision(knobs: &[String], terms: &[Vec<(String, bool)>]) -> String {
    if terms.is_empty() {
        return "no knob decides it".into();
    }
    terms
        .iter()
        .map(|t| {
            let named: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let free: Vec<&str> = knobs
                .iter()
                .filter(|k| !t.iter().any(|(n, _)| n == *k))
                .map(String::as_str)
                .collect();
            let head = if named.is_empty() {
                "every combination".to_owned()
            } else {
                format!("with {}", named.join(" and "))
            };
            if free.is_empty() {
                head
            } else {
                format!("{head}, whatever {}", free.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; or ")
}

/// A minimal decision for a group: terms (knob index, value) such that every combination that ran and
/// matches a term is in the group, covering the group greedily (most members first, fewest knobs on a
/// tie). `ran`: the knob values of every combination that ran; `inside`: those of the group.
pub fn decide(knobs: usize, ran: &[Vec<bool>], inside: &[Vec<bool>]) -> Vec<Vec<(usize, bool)>> {
    // Every term: each knob absent, false or true (3^knobs), ordered by size.
    let mut terms: Vec<Vec<(usize, bool)>> = Vec::new();
    let total = 3usize.pow(u32::try_from(knobs).unwrap_or(0));
    for code in 0..total {
        let mut c = code;
        let mut term = Vec::new();
        for k in 0..knobs {
            match c % 3 {
                1 => term.push((k, false)),
                2 => term.push((k, true)),
                _ => {}
            }
            c /= 3;
        }
        terms.push(term);
    }
    terms.sort_by_key(Vec::len);
    let matches =
        |term: &[(usize, bool)], values: &[bool]| term.iter().all(|&(k, v)| values[k] == v);
    let valid: Vec<&Vec<(usize, bool)>> = terms
        .iter()
        .filter(|t| {
            let hits: Vec<&Vec<bool>> = ran.iter().filter(|v| matches(t, v)).collect();
            !hits.is_empty() && hits.iter().all(|v| inside.contains(v))
        })
        .collect();
    let mut uncovered: Vec<&Vec<bool>> = inside.iter().collect();
    let mut chosen = Vec::new();
    while !uncovered.is_empty() {
        let best = valid
            .iter()
            .map(|t| (uncovered.iter().filter(|v| matches(t, v)).count(), *t))
            .filter(|(n, _)| *n > 0)
            .fold(
                None::<(usize, &Vec<(usize, bool)>)>,
                |best, (n, t)| match best {
                    Some((bn, _)) if bn >= n => best,
                    _ => Some((n, t)),
                },
            );
        let Some((_, term)) = best else { break };
        uncovered.retain(|v| !matches(term, v));
        chosen.push(term.clone());
    }
    chosen
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Variant {
        crate::stack::Variants::parse(
            std::path::Path::new("v.toml"),
            "[jwt-auto-owner]\ndescription = \"\"\njwt = true\njicofo_auth = false\nauto_owner = true\n",
        )
        .unwrap()
        .get("jwt-auto-owner")
        .unwrap()
        .clone()
    }

    fn knobs(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn combinations_cover_every_value_and_name_themselves() {
        let k = knobs(DEFAULT_KNOBS);
        let all = combinations(&base(), &k);
        assert_eq!(all.len(), 8);
        assert_eq!(all[0].name, "sweep-ja0-ao0-aet0");
        assert_eq!(all[5].name, "sweep-ja1-ao0-aet1");
        assert_eq!(all[5].variant.jicofo_auth, Some(true));
        assert_eq!(all[5].variant.auto_owner, Some(false));
        assert!(all[5].variant.allow_empty_token);
        for c in &all {
            assert!(crate::paths::check_name(&c.name).is_ok(), "{}", c.name);
        }
        assert!(check_knobs(&knobs(&["jicofo_auth", "auto_ownr"]))
            .unwrap_err()
            .contains("valid knobs: jicofo_auth, auto_owner"));
        assert!(check_knobs(&knobs(&["guests", "guests"])).is_err());
    }

    #[test]
    fn the_fewest_knobs_decide_a_group() {
        // Three knobs; jicofo_auth=true is one group whatever the rest, (false, true, *) another, the
        // rest a third.
        let ran: Vec<Vec<bool>> = (0..8)
            .map(|b| vec![b & 4 != 0, b & 2 != 0, b & 1 != 0])
            .collect();
        let group = |f: &dyn Fn(&Vec<bool>) -> bool| {
            ran.iter().filter(|v| f(v)).cloned().collect::<Vec<_>>()
        };
        let auth = group(&|v| v[0]);
        assert_eq!(decide(3, &ran, &auth), [vec![(0, true)]]);
        let auto = group(&|v| !v[0] && v[1]);
        assert_eq!(decide(3, &ran, &auto), [vec![(0, false), (1, true)]]);
        let k = knobs(DEFAULT_KNOBS);
        let words = describe_decision(&k, &[vec![("jicofo_auth".into(), true)]]);
        assert_eq!(
            words,
            "with jicofo_auth=true, whatever auto_owner, allow_empty_token"
        );
        // A group of one combination needs every knob (or only those that tell it apart).
        let one = vec![ran[0].clone()];
        assert_eq!(
            decide(3, &ran, &one),
            [vec![(0, false), (1, false), (2, false)]]
        );
    }

    #[test]
    fn a_knob_the_release_cannot_express_is_skipped_naming_stack_and_knob() {
        // stable-9364 ships no token_affiliation module (contrib's from stable-9457).
        let target: StackTarget = "jitsi:stable-9364".parse().unwrap();
        let all = combinations(&base(), &knobs(&["token_affiliation"]));
        assert!(expressible(&target, &all[0].variant).is_ok());
        let reason = expressible(&target, &all[1].variant).unwrap_err();
        assert!(
            reason.contains("stable-9364") && reason.contains("token_affiliation"),
            "{reason}"
        );
    }

    #[test]
    fn the_deciding_settings_are_docker_jitsi_meet_env() {
        let release = release_of(&"fixture:13".parse().unwrap());
        let mut v = base();
        set_knob(&mut v, "jicofo_auth", false);
        set_knob(&mut v, "auto_owner", true);
        let env = deciding_env(
            &release,
            &v,
            &[("jicofo_auth".into(), false), ("auto_owner".into(), true)],
        );
        assert_eq!(env, ["JICOFO_ENABLE_AUTH=0", "ENABLE_AUTO_OWNER=1"]);
    }

    #[test]
    fn the_html_table_has_a_row_per_combination_and_a_column_per_step() {
        let k = knobs(&["token_affiliation"]);
        let mut all = combinations(&base(), &k).into_iter();
        let (ran, skipped) = (all.next().unwrap(), all.next().unwrap());
        let report = SweepReport {
            scenario: "first_joiner_moderator".into(),
            target: "fixture:13".parse().unwrap(),
            base: "jwt-auto-owner".into(),
            knobs: k,
            release: "stable-11146-2".into(),
            cells: vec![
                Cell {
                    combination: ran,
                    status: CellStatus::Ran {
                        steps: vec![
                            "1. join alice -> moderators: alice | room: alice:owner/moderator"
                                .into(),
                        ],
                        unmet: vec![],
                    },
                    group: Some(0),
                },
                Cell {
                    combination: skipped,
                    status: CellStatus::Skipped {
                        reason: "fixture:13: knob `token_affiliation`: <none>".into(),
                    },
                    group: None,
                },
            ],
            groups: vec![],
            stacks_started: 1,
        };
        let html = SweepReport::render_html(&[report]);
        assert!(
            html.contains("<th>token_affiliation</th><th>1. join alice</th>"),
            "{html}"
        );
        assert!(html.contains("<td>alice</td>"), "{html}");
        assert!(
            html.contains("<td class=\"verdict\">satisfies</td>"),
            "{html}"
        );
        assert!(
            html.contains("skipped: fixture:13: knob `token_affiliation`: &lt;none&gt;"),
            "{html}"
        );
    }

    #[test]
    fn snapshot_step_lines_are_read_back() {
        let body = "scenario: \"x\"\nvariant: \"v\"\nfamily: fixture\nsteps:\n  - \"1. join alice -> moderators: alice | room: alice:owner/moderator\"\n";
        let lines = step_lines(body);
        assert_eq!(
            lines,
            ["1. join alice -> moderators: alice | room: alice:owner/moderator"]
        );
        assert_eq!(step_label(&lines[0]), "1. join alice");
        assert_eq!(step_moderators(&lines[0]), "alice");
    }
}
