//! Golden timelines: a [`Timeline`] rendered as text, one line per step, stored as an insta snapshot
//! (`snapshots/<family>/<scenario>@<variant>.snap`) so `cargo insta review` accepts changes. The files
//! are read and written through insta's own `Snapshot` (`from_file`, `save`): one owner of the format,
//! whether the CLI, the scenario tests or `cargo insta` writes them.
//!
//! The text is independent of the version: every version of a family is checked against the same golden
//! timeline, so an upgrade that changes behaviour shows as a diff against the release before. Arbitrary choices the scenario declares (`moderators_one_of`) are
//! normalised — the chosen participant becomes `one-of(bob|carol)` from that step on, the others
//! `other-of(bob|carol)` — so repeated runs give identical text whichever one jicofo picked.
//! One line per step means every line of a diff names its step.
//!
//! Chained hand-overs are normalised too, without the scenario naming anyone: when a step removes someone
//! (`leave`, `disconnect`, `kick`, or the same on "whoever is moderator now") and exactly one of the two or
//! more participants who stayed and were not moderator becomes moderator, the choice was the focus's. The
//! one chosen is `chosen@N` from that step on (N the step's number), the others `others@N` (or keep the one
//! placeholder they already share), so the third hand-over in a six-person room renders the same whoever
//! was picked each time. The notes say what each placeholder stands for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::scenario::Scenario;
use crate::stack::Family;
use crate::timeline::{Seat, StepRecord, Timeline, View};

/// `snapshots/<family>/<scenario>@<variant>.snap`, built by [`crate::paths::join`]: a scenario or
/// variant name that would leave `root` is refused.
pub fn path(
    root: &Path,
    family: Family,
    scenario: &str,
    variant: &str,
) -> Result<PathBuf, crate::paths::PathError> {
    crate::paths::join(
        root,
        &[family.as_str(), &format!("{scenario}@{variant}.snap")],
    )
}

/// Name-to-alias mapping built from the scenario's `moderators_one_of` steps.
#[derive(Default)]
struct Aliases {
    map: BTreeMap<String, String>,
    notes: Vec<String>,
}

impl Aliases {
    fn name(&self, n: &str) -> String {
        self.map.get(n).cloned().unwrap_or_else(|| n.to_owned())
    }

    /// After a step that declared `one_of`, alias its members (first alias wins).
    fn learn(&mut self, one_of: &[String], record: &StepRecord) {
        let Some(moderators) = record.moderators() else {
            return;
        };
        let chosen: Vec<&String> = moderators.iter().filter(|m| one_of.contains(m)).collect();
        if chosen.len() != 1 || one_of.iter().any(|n| self.map.contains_key(n)) {
            return;
        }
        let mut set = one_of.to_vec();
        set.sort();
        let set = set.join("|");
        for n in one_of {
            let alias = if n == chosen[0] {
                format!("one-of({set})")
            } else {
                format!("other-of({set})")
            };
            self.map.insert(n.clone(), alias);
        }
        self.notes.push(format!(
            "one-of({set}) is whichever of them became moderator at step {} (jicofo's choice is arbitrary); other-of({set}) the rest",
            record.index + 1
        ));
    }

    /// After a step that removed someone: if exactly one of two or more participants who were in the room
    /// before and after it, and not moderator before, became moderator, the focus chose among them.
    /// The chosen one becomes `chosen@N`; the rest `others@N`, unless they already share one placeholder.
    fn learn_successor(&mut self, before: &StepRecord, after: &StepRecord) {
        let (Some(was), Some(now)) = (before.consensus(), after.consensus()) else {
            return;
        };
        let was_moderator = was.moderators();
        let pool: Vec<&String> = now
            .occupants
            .keys()
            .filter(|n| was.occupants.contains_key(*n) && !was_moderator.contains(*n))
            .collect();
        let now_moderator = now.moderators();
        let chosen: Vec<&&String> = pool
            .iter()
            .filter(|n| now_moderator.contains(**n))
            .collect();
        let [chosen] = chosen.as_slice() else {
            return;
        };
        if pool.len() < 2 {
            return;
        }
        let step = after.index + 1;
        let mut before_aliases: Vec<String> = pool.iter().map(|n| self.name(n)).collect();
        before_aliases.sort();
        before_aliases.dedup();
        let rest: Vec<&&String> = pool.iter().filter(|n| *n != *chosen).collect();
        let rest_aliases: BTreeSet<String> = rest.iter().map(|n| self.name(n)).collect();
        // The rest keep a placeholder they all share, and only they hold in the room.
        let shared = match rest_aliases.iter().collect::<Vec<_>>().as_slice() {
            [one]
                if !self.map.contains_key(one.as_str())
                    && self.map.values().any(|a| a == *one)
                    && now
                        .occupants
                        .keys()
                        .filter(|n| *n != **chosen && self.name(n) == **one)
                        .count()
                        == rest.len() =>
            {
                Some((*one).clone())
            }
            _ => None,
        };
        let others = shared.unwrap_or_else(|| format!("others@{step}"));
        self.map
            .insert((**chosen).clone(), format!("chosen@{step}"));
        for n in rest {
            self.map.insert((*n).clone(), others.clone());
        }
        self.notes.push(format!(
            "chosen@{step} is whichever of {} became moderator at step {step} (the focus's choice is arbitrary); {others} the rest of them",
            before_aliases.join(", ")
        ));
    }
}

/// Whether a step's action removes someone from the room (a hand-over may follow).
fn removes_someone(action: &crate::scenario::Action) -> bool {
    use crate::scenario::{Action, ModeratorAction};
    match action {
        Action::Leave(_) | Action::Disconnect(_) | Action::Kick { .. } | Action::Reload(_) => true,
        Action::Moderator(m) => !matches!(m, ModeratorAction::Grants { .. }),
        _ => false,
    }
}

fn seat(s: &Seat) -> String {
    let affiliation = s.affiliation.map(|a| a.as_str()).unwrap_or("?");
    format!("{affiliation}/{}", s.role)
}

fn names(set: &BTreeSet<String>, aliases: &Aliases) -> String {
    if set.is_empty() {
        return "nobody".into();
    }
    let mut v: Vec<String> = set.iter().map(|n| aliases.name(n)).collect();
    v.sort();
    v.join(", ")
}

fn room(view: &View, aliases: &Aliases) -> String {
    if view.occupants.is_empty() {
        return "empty".into();
    }
    let mut v: Vec<String> = view
        .occupants
        .iter()
        .map(|(n, s)| format!("{}:{}", aliases.name(n), seat(s)))
        .collect();
    v.sort();
    v.join(", ")
}

fn step_line(record: &StepRecord, aliases: &Aliases) -> String {
    let mut parts = Vec::new();
    for (who, why) in &record.rejected {
        // The category only: raw texts differ per deployment and per run (the JSON keeps them).
        let why = crate::participant::refusal::Refusal::of(why);
        parts.push(format!("rejected {}: refused: {why}", aliases.name(who)));
    }
    for r in &record.refused {
        parts.push(format!("refused {r}"));
    }
    if !record.waiting.is_empty() {
        let mut waiting: Vec<String> = record
            .waiting
            .iter()
            .map(|(who, why)| format!("{} ({why})", aliases.name(who)))
            .collect();
        waiting.sort();
        parts.push(format!("waiting: {}", waiting.join(", ")));
    }
    match record.consensus() {
        Some(view) => {
            parts.push(format!(
                "moderators: {}",
                names(&view.moderators(), aliases)
            ));
            parts.push(format!("room: {}", room(&view, aliases)));
        }
        None if record.views.is_empty() => {
            parts.push("moderators: nobody".into());
            parts.push("room: empty".into());
        }
        None => {
            // Observers disagree: each one's view, in alias order.
            let mut seen: Vec<String> = record
                .views
                .iter()
                .map(|(observer, view)| {
                    format!(
                        "{} sees moderators {} in {}",
                        aliases.name(observer),
                        names(&view.moderators(), aliases),
                        room(view, aliases)
                    )
                })
                .collect();
            seen.sort();
            parts.push(format!("OBSERVERS DISAGREE: {}", seen.join("; ")));
        }
    }
    if let Some(j) = &record.jicofo {
        parts.push(format!(
            "jicofo: moderators {}",
            names(&j.moderators(), aliases)
        ));
    }
    if !record.converged {
        parts.push("NOT CONVERGED".into());
    }
    for u in &record.unmet {
        parts.push(format!("UNMET {u}"));
    }
    format!(
        "{}. {} -> {}",
        record.index + 1,
        record.label,
        parts.join(" | ")
    )
}

/// A YAML double-quoted scalar (JSON string syntax is a subset of YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// The snapshot text of a timeline: YAML with one string per step, so every line of a diff names its
/// step.
pub fn render(timeline: &Timeline, scenario: &Scenario) -> String {
    let scenario = &scenario.for_variant(&timeline.variant);
    let mut aliases = Aliases::default();
    let mut lines = Vec::new();
    let mut previous: Option<&StepRecord> = None;
    for record in &timeline.steps {
        let step = scenario.steps.get(record.index);
        if let Some(one_of) = step.and_then(|s| s.expect.moderators_one_of.as_ref()) {
            aliases.learn(one_of, record);
        } else if let (Some(step), Some(before)) = (step, previous) {
            if removes_someone(&step.action) {
                aliases.learn_successor(before, record);
            }
        }
        let mut line = step_line(record, &aliases);
        if scenario.explain {
            // `explain = true`: each moderation change with its cause (the evidence stays in the JSON).
            let causes: Vec<String> = crate::explain::moderation_changes(record)
                .into_iter()
                .map(|c| {
                    format!(
                        "{} {} by {}",
                        aliases.name(&c.who),
                        c.to.short(),
                        c.cause
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_else(|| "unexplained".into())
                    )
                })
                .collect();
            if !causes.is_empty() {
                line.push_str(&format!(" | causes: {}", causes.join(", ")));
            }
        }
        lines.push(line);
        previous = Some(record);
    }
    let mut out = vec![
        format!("scenario: {}", quoted(&timeline.scenario)),
        format!("variant: {}", quoted(&timeline.variant)),
        format!("family: {}", timeline.stack.family.as_str()),
    ];
    if !aliases.notes.is_empty() {
        out.push("notes:".into());
        out.extend(aliases.notes.iter().map(|n| format!("  - {}", quoted(n))));
    }
    out.push("steps:".into());
    out.extend(lines.iter().map(|l| format!("  - {}", quoted(l))));
    out.join("\n") + "\n"
}

/// How a timeline compares with its golden snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// Matches the golden snapshot.
    Same,
    /// Differs; `diff` lists the differing step lines (old `-`, new `+`).
    Changed {
        /// The differing step lines.
        diff: String,
    },
    /// No golden snapshot yet.
    New,
}

/// Reads a snapshot file through insta, if the file exists.
fn read(path: &Path) -> std::io::Result<Option<insta::Snapshot>> {
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    insta::Snapshot::from_file(path)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("insta cannot parse it: {e}")))
}

/// Reads the body of an insta snapshot file (after its `---` header, ending with a newline as
/// [`render`] writes it), if the file exists.
pub fn read_body(path: &Path) -> std::io::Result<Option<String>> {
    Ok(read(path)?.map(|snapshot| body_of(&snapshot)))
}

fn body_of(snapshot: &insta::Snapshot) -> String {
    let mut body = snapshot
        .as_text()
        .map(|t| t.to_string())
        .unwrap_or_default();
    body.push('\n');
    body
}

/// Compares a rendered body with the golden file at `path`.
pub fn compare(path: &Path, body: &str) -> std::io::Result<Comparison> {
    let Some(golden) = read_body(path)? else {
        return Ok(Comparison::New);
    };
    if golden.trim_end() == body.trim_end() {
        return Ok(Comparison::Same);
    }
    Ok(Comparison::Changed {
        diff: diff_lines(&golden, body),
    })
}

/// A line diff of two bodies (unchanged lines left out; each line names its step).
pub fn diff_lines(old: &str, new: &str) -> String {
    let diff = similar::TextDiff::from_lines(old.trim_end(), new.trim_end());
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => continue,
        };
        out.push_str(sign);
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
    }
    out
}

/// The `.snap.new` path insta and `cargo insta review` use for a pending snapshot.
pub fn pending_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

/// Writes `body` as a pending snapshot next to `path` (insta format), for `cargo insta review`.
pub fn write_pending(path: &Path, body: &str, scenario: &Scenario) -> std::io::Result<PathBuf> {
    let pending = pending_path(path);
    save(&pending, &Header::for_golden(path, scenario)?, body)?;
    Ok(pending)
}

/// Writes `body` as the golden snapshot (`--accept`), and removes a pending one.
pub fn write_golden(path: &Path, body: &str, scenario: &Scenario) -> std::io::Result<()> {
    save(path, &Header::for_golden(path, scenario)?, body)?;
    let _ = std::fs::remove_file(pending_path(path));
    Ok(())
}

/// The metadata of a snapshot file: what insta keeps in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    source: String,
    description: Option<String>,
    input_file: Option<String>,
}

impl Header {
    /// A golden's `source` and `input_file` stay as they are (the scenario tests write them through
    /// insta's assertion), so accepting a change rewrites only the steps; a new golden names the
    /// scenario file. The description is the scenario's, on one line.
    fn for_golden(path: &Path, scenario: &Scenario) -> std::io::Result<Header> {
        let description = Some(
            scenario
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
        .filter(|d| !d.is_empty());
        Ok(match read(path)? {
            Some(old) => Header {
                source: old
                    .metadata()
                    .source()
                    .map(str::to_owned)
                    .unwrap_or_else(|| scenario.path.display().to_string()),
                description,
                input_file: old.metadata().input_file().map(str::to_owned),
            },
            None => Header {
                source: scenario.path.display().to_string(),
                description,
                input_file: None,
            },
        })
    }

    /// The header insta read from a file.
    #[cfg(test)]
    fn of(snapshot: &insta::Snapshot) -> Header {
        let m = snapshot.metadata();
        Header {
            source: m.source().unwrap_or_default().to_owned(),
            description: m.description().map(str::to_owned),
            input_file: m.input_file().map(str::to_owned),
        }
    }
}

/// Writes a snapshot file through insta: a draft (the header as JSON strings, which YAML reads) is
/// parsed by `insta::Snapshot::from_file` and written by its `save`, so the bytes are insta's — insta
/// has no public constructor for a `Snapshot`.
fn save(path: &Path, header: &Header, body: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut draft = tempfile::Builder::new()
        .prefix(".jitsi-harness-draft-")
        .suffix(".snap")
        .tempfile_in(dir)?;
    let mut text = format!("---\nsource: {}\n", quoted(&header.source));
    if let Some(d) = &header.description {
        text.push_str(&format!("description: {}\n", quoted(d)));
    }
    if let Some(f) = &header.input_file {
        text.push_str(&format!("input_file: {}\n", quoted(f)));
    }
    text.push_str("---\n");
    text.push_str(body);
    std::io::Write::write_all(&mut draft, text.as_bytes())?;
    let snapshot = insta::Snapshot::from_file(draft.path())
        .map_err(|e| std::io::Error::other(format!("insta cannot parse the draft: {e}")))?;
    snapshot
        .save(path)
        .map_err(|e| std::io::Error::other(format!("insta cannot write it: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Action, Expect, Step};
    use crate::stack::StackTarget;
    use std::time::Duration;

    fn seat(role: &str, aff: &str) -> Seat {
        Seat {
            role: role.parse().unwrap(),
            affiliation: Some(aff.parse().unwrap()),
        }
    }

    fn view(entries: &[(&str, &str, &str)]) -> View {
        View {
            occupants: entries
                .iter()
                .map(|(n, r, a)| (n.to_string(), seat(r, a)))
                .collect(),
        }
    }

    fn record(index: usize, label: &str, observers: &[&str], v: View) -> StepRecord {
        StepRecord {
            index,
            label: label.into(),
            location: format!("s.toml:{index}"),
            views: observers
                .iter()
                .map(|o| (o.to_string(), v.clone()))
                .collect(),
            jicofo: None,
            rejected: Default::default(),
            refused: vec![],
            waiting: BTreeMap::new(),
            converged: true,
            unmet: vec![],
            took: Duration::ZERO,
            changes: Vec::new(),
        }
    }

    fn scenario() -> Scenario {
        let step = |index, action, expect| Step {
            index,
            line: index + 1,
            action,
            expect,
            timeout: None,
            note: None,
            per_variant: Default::default(),
        };
        Scenario {
            name: "handover".into(),
            path: "scenarios/handover.toml".into(),
            description: "When the owner leaves, one of the others becomes moderator.".into(),
            source: None,
            variants: vec!["jwt-auto-owner".into()],
            timeout: Duration::from_secs(10),
            participants: vec![],
            requires: vec![],
            steps: vec![
                step(
                    0,
                    Action::Join(vec!["alice".into(), "bob".into(), "carol".into()]),
                    Expect::default(),
                ),
                step(
                    1,
                    Action::Leave("alice".into()),
                    Expect {
                        moderators_one_of: Some(vec!["carol".into(), "bob".into()]),
                        ..Default::default()
                    },
                ),
                step(2, Action::Join(vec!["dave".into()]), Expect::default()),
            ],
            explain: false,
        }
    }

    fn timeline(successor: &str) -> Timeline {
        let other = if successor == "bob" { "carol" } else { "bob" };
        Timeline {
            scenario: "handover".into(),
            variant: "jwt-auto-owner".into(),
            stack: "fixture:13".parse::<StackTarget>().unwrap(),
            room: "r".into(),
            steps: vec![
                record(
                    0,
                    "join alice, bob, carol",
                    &["alice", "bob", "carol"],
                    view(&[
                        ("alice", "moderator", "owner"),
                        ("bob", "participant", "none"),
                        ("carol", "participant", "none"),
                    ]),
                ),
                record(
                    1,
                    "leave alice",
                    &["bob", "carol"],
                    view(&[
                        (successor, "moderator", "owner"),
                        (other, "participant", "none"),
                    ]),
                ),
                record(
                    2,
                    "join dave",
                    &["bob", "carol", "dave"],
                    view(&[
                        (successor, "moderator", "owner"),
                        (other, "participant", "none"),
                        ("dave", "participant", "none"),
                    ]),
                ),
            ],
        }
    }

    #[test]
    fn causes_are_in_the_lines_only_when_the_scenario_asks() {
        let mut t = timeline("bob");
        t.steps[1].changes.push(crate::timeline::RoleChange {
            at_ms: 900,
            observer: "carol".into(),
            who: "bob".into(),
            from: Some(seat("participant", "none")),
            to: seat("moderator", "owner"),
            actor: Some("focus".into()),
            cause: Some(crate::explain::Cause::RoleManager {
                manager: "AutoOwnerRoleManager".into(),
                reason: Some("auto-owner election".into()),
                evidence: "focus log".into(),
            }),
        });
        let mut s = scenario();
        assert!(!render(&t, &s).contains("causes:"));
        s.explain = true;
        let text = render(&t, &s);
        assert!(
            text.contains(
                "| causes: one-of(bob|carol) owner/moderator by auto-owner (AutoOwnerRoleManager: auto-owner election)"
            ),
            "{text}"
        );
    }

    #[test]
    fn an_arbitrary_successor_renders_the_same_whoever_it_is() {
        let s = scenario();
        let a = render(&timeline("bob"), &s);
        let b = render(&timeline("carol"), &s);
        assert_eq!(a, b);
        assert!(a.contains("2. leave alice -> moderators: one-of(bob|carol) | room: one-of(bob|carol):owner/moderator, other-of(bob|carol):none/participant"), "{a}");
        assert!(
            a.contains("3. join dave -> moderators: one-of(bob|carol) |"),
            "{a}"
        );
        assert!(
            a.contains(
                "notes:\n  - \"one-of(bob|carol) is whichever of them became moderator at step 2"
            ),
            "{a}"
        );
        // Before the choice, real names.
        assert!(a.contains("1. join alice, bob, carol -> moderators: alice | room: alice:owner/moderator, bob:none/participant, carol:none/participant"), "{a}");
    }

    /// A six-person room whose owner leaves three times ("whoever is moderator now"): the successors are
    /// `picks` in order. No scenario names them.
    fn chain(picks: [&str; 3]) -> (Scenario, Timeline) {
        use crate::scenario::ModeratorAction;
        let all = ["alice", "bob", "carol", "dave", "erin", "frank"];
        let step = |index, action| Step {
            index,
            line: index + 1,
            action,
            expect: Expect::default(),
            timeout: None,
            note: None,
            per_variant: Default::default(),
        };
        let mut s = scenario();
        s.name = "chain".into();
        s.steps = vec![
            step(0, Action::Join(all.iter().map(|n| n.to_string()).collect())),
            step(1, Action::Moderator(ModeratorAction::Leave)),
            step(2, Action::Moderator(ModeratorAction::Leave)),
            step(3, Action::Moderator(ModeratorAction::Leave)),
            step(4, Action::Rejoin("alice".into())),
        ];
        let mut present: Vec<&str> = all.to_vec();
        let mut owner = "alice";
        let mut records = Vec::new();
        let room = |present: &[&str], owner: &str| {
            view(
                &present
                    .iter()
                    .map(|n| {
                        if *n == owner {
                            (*n, "moderator", "owner")
                        } else {
                            (*n, "participant", "none")
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        };
        records.push(record(0, "join", &present, room(&present, owner)));
        for (k, pick) in picks.iter().enumerate() {
            present.retain(|n| *n != owner);
            owner = pick;
            records.push(record(
                k + 1,
                "leave the moderator",
                &present,
                room(&present, owner),
            ));
        }
        present.push("alice");
        records.push(record(4, "rejoin alice", &present, room(&present, owner)));
        let t = Timeline {
            scenario: "chain".into(),
            variant: "jwt-auto-owner".into(),
            stack: "fixture:13".parse::<StackTarget>().unwrap(),
            room: "r".into(),
            steps: records,
        };
        (s, t)
    }

    #[test]
    fn chained_hand_overs_render_the_same_whoever_is_chosen_each_time() {
        let (s, a) = chain(["dave", "bob", "frank"]);
        let (_, b) = chain(["erin", "carol", "dave"]);
        let (_, c) = chain(["bob", "frank", "carol"]);
        let text = render(&a, &s);
        assert_eq!(text, render(&b, &s));
        assert_eq!(text, render(&c, &s));
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  - \"")).collect();
        assert!(lines.iter().any(|l| l.contains("2. leave the moderator -> moderators: chosen@2 | room: chosen@2:owner/moderator, others@2:none/participant, others@2:none/participant, others@2:none/participant, others@2:none/participant")), "{text}");
        assert!(text.contains("3. leave the moderator -> moderators: chosen@3 | room: chosen@3:owner/moderator, others@2:none/participant, others@2:none/participant, others@2:none/participant"), "{text}");
        assert!(text.contains("4. leave the moderator -> moderators: chosen@4 | room: chosen@4:owner/moderator, others@2:none/participant, others@2:none/participant"), "{text}");
        assert!(text.contains("5. rejoin alice -> moderators: chosen@4 | room: alice:none/participant, chosen@4:owner/moderator, others@2"), "{text}");
        assert!(
            text.contains("chosen@3 is whichever of others@2 became moderator at step 3"),
            "{text}"
        );
        // The first owner was no choice: her name stays.
        assert!(text.contains("1. join -> moderators: alice |"), "{text}");
        // A different outcome still shows: nobody taking over is not normalised away.
        let (_, mut d) = chain(["dave", "bob", "frank"]);
        d.steps[3].views.values_mut().for_each(|v| {
            v.occupants.values_mut().for_each(|seat| {
                seat.role = "participant".parse().unwrap();
                seat.affiliation = Some("none".parse().unwrap());
            })
        });
        assert_ne!(render(&d, &s), text);
    }

    #[test]
    fn disagreement_rejections_and_unmet_expectations_are_spelled_out() {
        let s = scenario();
        let mut t = timeline("bob");
        t.steps[1].views.insert(
            "carol".into(),
            view(&[
                ("bob", "participant", "none"),
                ("carol", "participant", "none"),
            ]),
        );
        t.steps[1].converged = false;
        t.steps[1]
            .unmet
            .push("observers disagree on who is moderator".into());
        t.steps[2].rejected.insert(
            "mallory".into(),
            "authentication refused: not-allowed (token has expired)".into(),
        );
        let text = render(&t, &s);
        let line2 = text.lines().find(|l| l.starts_with("  - \"2. ")).unwrap();
        assert!(line2.contains("OBSERVERS DISAGREE: bob sees moderators bob in bob:owner/moderator, carol:none/participant; carol sees moderators nobody"), "{line2}");
        assert!(
            line2.ends_with("NOT CONVERGED | UNMET observers disagree on who is moderator\""),
            "{line2}"
        );
        assert!(
            text.contains("3. join dave -> rejected mallory: refused: expired |"),
            "{text}"
        );
    }

    #[test]
    fn waiting_participants_are_named_with_what_holds_them() {
        let s = scenario();
        let mut t = timeline("bob");
        t.steps[2]
            .waiting
            .insert("dave".into(), crate::timeline::Waiting::Lobby);
        let text = render(&t, &s);
        assert!(
            text.contains(
                "3. join dave -> waiting: dave (lobby) | moderators: one-of(bob|carol) |"
            ),
            "{text}"
        );
        // Without anyone waiting, lines are as they always were.
        assert!(!render(&timeline("bob"), &s).contains("waiting"));
    }

    /// Every golden in the repository, re-written through this module from what insta reads of it, is
    /// byte for byte the file it was: the CLI's writer and insta's agree on the format.
    #[test]
    fn existing_goldens_are_written_back_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/fixture");
        let out = tempfile::tempdir().unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let golden = entry.unwrap().path();
            if golden.extension().is_none_or(|e| e != "snap") {
                continue;
            }
            let snapshot = read(&golden).unwrap().unwrap();
            let copy = out.path().join(golden.file_name().unwrap());
            save(&copy, &Header::of(&snapshot), &body_of(&snapshot)).unwrap();
            assert_eq!(
                std::fs::read_to_string(&copy).unwrap(),
                std::fs::read_to_string(&golden).unwrap(),
                "{}",
                golden.display()
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} goldens under {}", root.display());
    }

    /// What `--accept` writes, insta reads back as the same body and metadata, whatever the description
    /// holds; the body stands in the file byte for byte after the header.
    #[test]
    fn insta_reads_what_the_cli_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = scenario();
        s.description =
            "- \"quoted\" and 'single', a: colon, # hash, back\\slash,\n  wrapped, ünïcode".into();
        let body = render(&timeline("bob"), &s);
        let p = path(dir.path(), Family::Fixture, "handover", "jwt-auto-owner").unwrap();
        write_golden(&p, &body, &s).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("---\n") && text.ends_with(&format!("\n---\n{body}")),
            "{text}"
        );
        let read = insta::Snapshot::from_file(&p).unwrap();
        assert_eq!(read.as_text().unwrap().to_string(), body.trim_end());
        assert_eq!(read.metadata().source(), Some("scenarios/handover.toml"));
        assert_eq!(
            read.metadata().description(),
            Some("- \"quoted\" and 'single', a: colon, # hash, back\\slash, wrapped, ünïcode")
        );
        // insta's own writer gives the same bytes.
        let again = dir.path().join("again.snap");
        read.save(&again).unwrap();
        assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
    }

    /// Accepting a change to a golden the scenario tests wrote keeps its `source` and `input_file`.
    #[test]
    fn accepting_keeps_the_goldens_header() {
        let dir = tempfile::tempdir().unwrap();
        let s = scenario();
        let p = path(dir.path(), Family::Fixture, "handover", "jwt-auto-owner").unwrap();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            "---\nsource: harness/tests/scenarios.rs\ndescription: old\ninput_file: scenarios/handover.toml\n---\nold body\n",
        )
        .unwrap();
        let body = render(&timeline("carol"), &s);
        write_golden(&p, &body, &s).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("---\nsource: harness/tests/scenarios.rs\ndescription: \"When the owner leaves, one of the others becomes moderator.\"\ninput_file: scenarios/handover.toml\n---\n"),
            "{text}"
        );
    }

    #[test]
    fn comparison_names_the_changed_step() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let s = scenario();
        let golden = render(&timeline("bob"), &s);
        let p = path(dir, Family::Fixture, "handover", "jwt-auto-owner").unwrap();
        assert_eq!(compare(&p, &golden).unwrap(), Comparison::New);
        write_golden(&p, &golden, &s).unwrap();
        assert!(p.ends_with("fixture/handover@jwt-auto-owner.snap"));
        assert_eq!(compare(&p, &golden).unwrap(), Comparison::Same);
        let mut t = timeline("bob");
        t.steps[2].views.values_mut().for_each(|v| {
            v.occupants
                .insert("dave".into(), seat("moderator", "owner"));
        });
        let changed = render(&t, &s);
        let Comparison::Changed { diff } = compare(&p, &changed).unwrap() else {
            panic!("not changed")
        };
        assert_eq!(diff.lines().count(), 2, "{diff}");
        assert!(
            diff.lines()
                .all(|l| l[1..].starts_with("  - \"3. join dave")),
            "{diff}"
        );
        let pending = write_pending(&p, &changed, &s).unwrap();
        assert_eq!(read_body(&pending).unwrap().unwrap(), changed);
    }
}
