//! TOML text → the raw layer: serde structs whose fields keep their `toml::Spanned` byte ranges.
//!
//! The document is parsed once into toml's span-keeping `DeTable`; then the top level, each
//! participant and each step are deserialized separately, so a bad key in step 2 does not hide
//! one in step 5: every piece that fails adds a problem and the rest go on. Unknown keys are
//! rejected by serde (`deny_unknown_fields`) and turned into a problem that names the valid keys.
//! Meaning (names, order, expectations) is `validate`'s job.

use std::ops::Range;

use serde::de::IgnoredAny;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{closest, quoted_list, Problem};
use super::model::{Login, Transport};
use crate::token::TokenOverrides;

/// Top-level keys other than `[participants]` and `[[step]]`, which are read piece by piece.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub description: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub variants: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout: Option<Spanned<String>>,
    pub explain: Option<Spanned<bool>>,
    pub requires: Option<Spanned<Vec<Spanned<String>>>>,
    // Read by `read` itself; declared so that serde accepts them and names them in the list of
    // valid keys.
    #[serde(rename = "participants")]
    _participants: Option<IgnoredAny>,
    #[serde(rename = "step")]
    _step: Option<IgnoredAny>,
}

/// The body of `[participants] NAME = { … }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParticipant {
    pub transport: Option<Transport>,
    pub login: Option<Spanned<Login>>,
    pub token: Option<Spanned<TokenOverrides>>,
    pub nick: Option<Spanned<String>>,
}

/// The body of one `[[step]]`: every action and expectation key, all optional here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub join: Option<Spanned<Vec<Spanned<String>>>>,
    pub leave: Option<Spanned<RawWho>>,
    pub disconnect: Option<Spanned<RawWho>>,
    pub rejoin: Option<Spanned<String>>,
    pub wait: Option<Spanned<String>>,
    pub grant: Option<Spanned<RawGrant>>,
    pub kick: Option<Spanned<RawKick>>,
    pub restart: Option<Spanned<String>>,
    pub stop: Option<Spanned<String>>,
    pub pause: Option<Spanned<RawPause>>,
    pub presence: Option<Spanned<RawPresence>>,
    pub reload: Option<Spanned<String>>,
    pub enable_lobby: Option<Spanned<RawBy>>,
    pub disable_lobby: Option<Spanned<RawBy>>,
    pub admit: Option<Spanned<RawAdmit>>,
    pub deny: Option<Spanned<RawAdmit>>,
    pub waiting: Option<Spanned<Vec<Spanned<String>>>>,
    pub moderators: Option<Spanned<Vec<Spanned<String>>>>,
    pub moderators_one_of: Option<Spanned<Vec<Spanned<String>>>>,
    pub moderator_count: Option<Spanned<usize>>,
    pub rejected: Option<Spanned<Vec<Spanned<String>>>>,
    pub no_flaps: Option<Spanned<bool>>,
    pub note: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub affiliations: Option<Spanned<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>>,
}

/// `grant = { by = "carol", to = "alice" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    pub by: Spanned<RawWho>,
    pub to: Spanned<String>,
}

/// `kick = { by = "carol", who = "alice" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKick {
    pub by: Spanned<RawWho>,
    pub who: Spanned<RawWho>,
}

/// A participant a step names: `"alice"`, or whoever is moderator now, `{ moderator = true }`.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a participant's name (\"alice\") or { moderator = true } (whoever is moderator now)"
)]
pub(super) enum RawWho {
    Name(String),
    Role(RawRole),
}

/// `{ moderator = true }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    pub moderator: bool,
}

impl RawWho {
    /// The name, when the step names a participant.
    pub fn name(&self) -> Option<&str> {
        match self {
            RawWho::Name(n) => Some(n),
            RawWho::Role(_) => None,
        }
    }
}

/// The name of `who` with the span of its value, when it names a participant.
pub(super) fn named(who: &Spanned<RawWho>) -> Option<Spanned<String>> {
    who.get_ref()
        .name()
        .map(|n| Spanned::new(who.span(), n.to_owned()))
}

/// `presence = { who = "alice", muted = true, raise_hand = true, nick = "Alice B." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPresence {
    pub who: Spanned<String>,
    pub muted: Option<bool>,
    pub raise_hand: Option<bool>,
    pub nick: Option<Spanned<String>>,
}

/// Expectation keys that take a list of participants, and so may instead take a table of lists by
/// variant (`moderators = { jwt-auto-owner = ["alice"] }`).
pub(super) const LIST_EXPECTATIONS: &[&str] = &["moderators", "moderators_one_of", "rejected"];

/// One per-variant expectation as written: `KEY = { VARIANT = [names], … }`.
#[derive(Debug)]
pub(super) struct PerVariant {
    /// The expectation key (`moderators`).
    pub key: String,
    /// Where the key is.
    pub key_span: Range<usize>,
    /// Each variant named, with its list.
    pub lists: Vec<VariantList>,
}

/// A variant's name and its list of participants, as written.
pub(super) type VariantList = (Spanned<String>, Spanned<Vec<Spanned<String>>>);

/// `enable_lobby = { by = "alice" }`, `disable_lobby = { by = "alice" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBy {
    pub by: Spanned<String>,
}

/// `admit = { by = "alice", who = "bob" }`, `deny = { by = "alice", who = "bob" }`: both named (a lobby
/// step never picks "whoever is moderator now").
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmit {
    pub by: Spanned<String>,
    pub who: Spanned<String>,
}

/// `pause = { service = "prosody", for = "2s" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPause {
    pub service: Spanned<String>,
    #[serde(rename = "for")]
    pub duration: Spanned<String>,
}

/// The action keys of a step; exactly one must be present.
pub(super) const ACTION_KEYS: &[&str] = &[
    "join",
    "leave",
    "disconnect",
    "rejoin",
    "wait",
    "grant",
    "kick",
    "restart",
    "stop",
    "pause",
    "presence",
    "reload",
    "enable_lobby",
    "disable_lobby",
    "admit",
    "deny",
];

/// A key of a table as written: its name, where the key is, where its value is.
#[derive(Debug, Clone)]
pub(super) struct Key {
    pub name: String,
    pub key: Range<usize>,
    pub value: Range<usize>,
}

/// One participant; `body` is `None` when it did not deserialize (a problem says why), but the
/// name still counts as declared so steps naming it are not reported again.
#[derive(Debug)]
pub(super) struct ParticipantEntry {
    pub name: String,
    /// The name key.
    pub span: Range<usize>,
    pub body: Option<RawParticipant>,
    pub keys: Vec<Key>,
}

/// One step; `body` is `None` when it did not deserialize (a problem says why).
#[derive(Debug)]
pub(super) struct StepEntry {
    /// The `[[step]]` header (or the inline table, for `step = [{ … }]`).
    pub span: Range<usize>,
    pub body: Option<RawStep>,
    pub keys: Vec<Key>,
    /// List expectations written as tables by variant, taken out of the step before `body` was read.
    pub per_variant: Vec<PerVariant>,
}

/// Everything read from a syntactically valid file.
#[derive(Debug, Default)]
pub(super) struct RawScenario {
    /// `None` when the top level did not deserialize.
    pub header: Option<RawHeader>,
    /// Top-level keys, for spans of missing or misplaced parts.
    pub top_keys: Vec<Key>,
    /// In file order.
    pub participants: Vec<ParticipantEntry>,
    /// Where `[participants]` is, if it is a table (a non-table was reported already).
    pub participants_table: Option<Range<usize>>,
    /// In file order.
    pub steps: Vec<StepEntry>,
}

/// Reads `text` into the raw layer, adding every structural problem to `problems`. Returns
/// `None` on a TOML syntax error: after one, toml's recovery guesses, and its later errors are
/// as likely to be noise as news, so only the first is reported.
pub(super) fn read(text: &str, problems: &mut Vec<Problem>) -> Option<RawScenario> {
    let (doc, errors) = DeTable::parse_recoverable(text);
    if let Some(error) = errors.into_iter().next() {
        problems.push(syntax_problem(text, &error));
        return None;
    }
    let mut doc = doc.into_inner();
    let top_keys = keys_of(&doc);

    let header = {
        let whole = Spanned::new(0..text.len(), doc.clone());
        match RawHeader::deserialize(toml::de::Deserializer::from(whole)) {
            Ok(header) => Some(header),
            Err(err) => {
                problems.push(serde_problem(&err, "at the top level", &top_keys, 0..0));
                None
            }
        }
    };

    let participants_table = doc
        .get("participants")
        .filter(|v| v.get_ref().is_table())
        .map(Spanned::span);
    let participants = match doc.remove("participants") {
        None => Vec::new(),
        Some(value) => read_participants(value, problems),
    };
    let steps = match doc.remove("step") {
        None => Vec::new(),
        Some(value) => read_steps(value, problems),
    };
    Some(RawScenario {
        header,
        top_keys,
        participants,
        participants_table,
        steps,
    })
}

fn read_participants(
    value: Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> Vec<ParticipantEntry> {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        problems.push(
            Problem::at(
                "scenario::invalid_value",
                span,
                "not a table",
                "`participants` must be a table of participant names",
            )
            .help(
                "declare participants as a table:\n[participants]\nalice = {}\nbob = { transport = \"browser\" }",
            ),
        );
        return Vec::new();
    };
    let mut entries: Vec<ParticipantEntry> = table
        .into_iter()
        .map(|(name, value)| {
            let name_span = name.span();
            let name = name.into_inner().into_owned();
            let value_span = value.span();
            let keys = match value.get_ref() {
                DeValue::Table(t) => keys_of(t),
                _ => Vec::new(),
            };
            let context = format!("in participant `{name}`");
            let body = match RawParticipant::deserialize(toml::de::ValueDeserializer::from(value)) {
                Ok(body) => Some(body),
                Err(err) => {
                    let mut problem = serde_problem(&err, &context, &keys, value_span);
                    if problem.code == "scenario::invalid_value" && keys.is_empty() {
                        problem = problem.help(format!(
                            "a participant is a table of settings, e.g. `{name} = {{}}` or \
                             `{name} = {{ transport = \"browser\" }}`"
                        ));
                    }
                    problems.push(problem);
                    None
                }
            };
            ParticipantEntry {
                name,
                span: name_span,
                body,
                keys,
            }
        })
        .collect();
    // `DeTable` keeps keys sorted; the model keeps file order.
    entries.sort_by_key(|e| e.span.start);
    entries
}

fn read_steps(value: Spanned<DeValue<'_>>, problems: &mut Vec<Problem>) -> Vec<StepEntry> {
    let span = value.span();
    let items = match value.into_inner() {
        DeValue::Array(items) => items,
        DeValue::Table(_) => {
            problems.push(
                Problem::at(
                    "scenario::invalid_value",
                    span,
                    "a single table",
                    "`[step]` declares one table; steps are a list",
                )
                .help("write each step as `[[step]]` (double brackets)"),
            );
            return Vec::new();
        }
        _ => {
            problems.push(
                Problem::at(
                    "scenario::invalid_value",
                    span,
                    "not a list of tables",
                    "`step` must be a list of tables",
                )
                .help("write each step as a `[[step]]` table:\n[[step]]\njoin = [\"alice\"]"),
            );
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let span = item.span();
        let keys = match item.get_ref() {
            DeValue::Table(t) => keys_of(t),
            _ => {
                problems.push(
                    Problem::at(
                        "scenario::invalid_value",
                        span,
                        "not a table",
                        format!("step {} is not a table", i + 1),
                    )
                    .help("write each step as a `[[step]]` table"),
                );
                continue;
            }
        };
        let context = format!("in step {}", i + 1);
        let (item, per_variant) = take_per_variant(item, &context, &keys, problems);
        let body = match RawStep::deserialize(toml::de::ValueDeserializer::from(item)) {
            Ok(body) => Some(body),
            Err(err) => {
                problems.push(serde_problem(&err, &context, &keys, span.clone()));
                None
            }
        };
        entries.push(StepEntry {
            span,
            body,
            keys,
            per_variant,
        });
    }
    entries
}

/// Takes the list expectations written as tables by variant out of a step, so the rest reads as usual.
fn take_per_variant<'a>(
    item: Spanned<DeValue<'a>>,
    context: &str,
    keys: &[Key],
    problems: &mut Vec<Problem>,
) -> (Spanned<DeValue<'a>>, Vec<PerVariant>) {
    if !item.get_ref().is_table() {
        return (item, Vec::new());
    }
    let span = item.span();
    let DeValue::Table(mut table) = item.into_inner() else {
        return (
            Spanned::new(span, DeValue::Table(DeTable::new())),
            Vec::new(),
        );
    };
    let mut out = Vec::new();
    for key in LIST_EXPECTATIONS {
        let is_table = table.get(*key).is_some_and(|v| v.get_ref().is_table());
        if !is_table {
            continue;
        }
        let Some(value) = table.remove(*key) else {
            continue;
        };
        let key_span = keys
            .iter()
            .find(|k| k.name == *key)
            .map(|k| k.key.clone())
            .unwrap_or_else(|| value.span());
        let value_span = value.span();
        let DeValue::Table(by_variant) = value.into_inner() else {
            continue;
        };
        let mut lists = Vec::new();
        let written = by_variant.len();
        for (variant, list) in by_variant {
            let variant = Spanned::new(variant.span(), variant.get_ref().to_string());
            let list_span = list.span();
            match <Vec<Spanned<String>>>::deserialize(toml::de::ValueDeserializer::from(list)) {
                Ok(names) => lists.push((variant, Spanned::new(list_span, names))),
                Err(err) => {
                    let mut p = serde_problem(&err, context, keys, list_span);
                    p.message = format!(
                        "invalid `{key}` for variant `{}` {context}: expected a list of participant names",
                        variant.get_ref()
                    );
                    problems
                        .push(p.help(format!("{key} = {{ {} = [\"alice\"] }}", variant.get_ref())));
                }
            }
        }
        lists.sort_by_key(|(v, _)| v.span().start);
        if written == 0 {
            problems.push(
                Problem::at(
                    "scenario::empty_list",
                    value_span,
                    "no variant",
                    format!("`{key}` {context} is a table of no variant"),
                )
                .help(format!(
                    "{key} = [\"alice\"] for every variant, or {key} = {{ jwt-auto-owner = [\"alice\"] }} per variant"
                )),
            );
        }
        out.push(PerVariant {
            key: (*key).to_owned(),
            key_span,
            lists,
        });
    }
    (Spanned::new(span, DeValue::Table(table)), out)
}

fn keys_of(table: &DeTable<'_>) -> Vec<Key> {
    let mut keys: Vec<Key> = table
        .iter()
        .map(|(k, v)| Key {
            name: k.get_ref().to_string(),
            key: k.span(),
            value: v.span(),
        })
        .collect();
    keys.sort_by_key(|k| k.key.start);
    keys
}

fn syntax_problem(text: &str, error: &toml::de::Error) -> Problem {
    let span = error.span().unwrap_or(0..0);
    let message = error.message().trim_end();
    if message == "duplicate key" {
        let key = text.get(span.clone()).unwrap_or_default();
        return Problem::at(
            "scenario::duplicate_key",
            span,
            "defined again here",
            format!("duplicate key `{key}`"),
        )
        .help("a key appears once per table; participant names must be unique");
    }
    Problem::at(
        "scenario::syntax",
        span,
        "here",
        format!("TOML syntax error: {message}"),
    )
    .help("scenario files are TOML (https://toml.io/en/v1.0.0); strings need double quotes")
}

/// Turns a serde error of one piece (the top level, a participant, a step) into a problem.
/// `place` says where ("in step 3"); `keys` are the piece's keys, to name the one at fault;
/// `fallback` is the span to use if toml gave none.
fn serde_problem(
    error: &toml::de::Error,
    place: &str,
    keys: &[Key],
    fallback: Range<usize>,
) -> Problem {
    let span = error.span().unwrap_or(fallback);
    let message = error.message().trim_end();
    // The key whose value holds the error (`token` for an error inside the token table).
    let owner = keys
        .iter()
        .find(|k| k.value.start <= span.start && span.end <= k.value.end && k.key != span);

    if let Some((field, valid)) = parse_unknown_field(message) {
        let place = match owner {
            Some(owner) => format!("in `{}` {place}", owner.name),
            None => place.to_owned(),
        };
        let mut help = String::new();
        if let Some(near) = closest(field, valid.iter().copied()) {
            help.push_str(&format!("did you mean `{near}`? "));
        }
        if valid.is_empty() {
            help.push_str("no keys are allowed here");
        } else {
            help.push_str(&format!("valid keys here: {}", quoted_list(valid)));
        }
        return Problem::at(
            "scenario::unknown_key",
            span,
            "unknown key",
            format!("unknown key `{field}` {place}"),
        )
        .help(help);
    }

    let message = plain_words(message);
    let Some(owner) = owner else {
        return Problem::at(
            "scenario::invalid_value",
            span,
            "invalid value",
            format!("invalid value {place}: {message}"),
        );
    };
    let problem = Problem::at(
        "scenario::invalid_value",
        span,
        "invalid value",
        format!("invalid `{}` {place}: {message}", owner.name),
    );
    match example(&owner.name) {
        Some(example) => problem.help(format!("for example: {example}")),
        None => problem,
    }
}

/// serde's words for Rust types, in the words of a TOML file: `expected struct RawGrant` →
/// `expected a table`, `expected usize` → `expected a whole number`, `variant` → `value`.
fn plain_words(message: &str) -> String {
    let mut out = message
        .replace("unknown variant", "unknown value")
        .replace("expected usize", "expected a whole number (0 or more)");
    while let Some(at) = out.find("expected struct ") {
        let name_start = at + "expected struct ".len();
        let name_len = out[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(out.len() - name_start);
        out.replace_range(at..name_start + name_len, "expected a table");
    }
    out
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a`",
/// "expected `a` or `b`", "there are no fields") into the field and the valid names.
fn parse_unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let valid = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|name| !name.starts_with('_'))
        .collect();
    Some((field, valid))
}

/// How a key is written, for hints.
fn example(key: &str) -> Option<&'static str> {
    Some(match key {
        "description" => "description = \"When the moderator leaves, one of the others becomes moderator.\"",
        "source" => "source = \"https://github.com/jitsi/docker-jitsi-meet/issues/1465\"",
        "variants" => "variants = [\"jwt-auto-owner\"]",
        "timeout" => "timeout = \"20s\" (ms, s, m, h)",
        "transport" => "transport = \"bot\" or \"browser\"",
        "login" => "login = \"token\", \"guest\", \"none\" or \"password\"",
        "nick" => "nick = \"carol_2\"",
        "token" => "token = { expired = true } or token = { claims = { \"context.user.moderator\" = \"true\" } }",
        "join" => "join = [\"alice\"] or join = [\"bob\", \"carol\"]",
        "leave" => "leave = \"alice\" or leave = { moderator = true } (one participant per step)",
        "disconnect" => "disconnect = \"alice\" or disconnect = { moderator = true }",
        "rejoin" => "rejoin = \"alice\" (one participant per step)",
        "wait" => "wait = \"2s\" (ms, s, m, h)",
        "grant" => "grant = { by = \"carol\", to = \"alice\" }",
        "kick" => "kick = { by = \"carol\", who = \"alice\" }",
        "restart" => "restart = \"prosody\" (fixture: prosody, focus; jitsi: prosody, jicofo, jvb, web)",
        "stop" => "stop = \"focus\"",
        "pause" => "pause = { service = \"prosody\", for = \"2s\" }",
        "reload" => "reload = \"alice\" (one participant per step)",
        "presence" => "presence = { who = \"alice\", muted = true, raise_hand = true, nick = \"Alice B.\" }",
        "requires" => "requires = [\"lobby\"] (features: lobby, wait_for_host, token_affiliation, guests, anonymous_strict)",
        "by" | "who" => "who = \"alice\" or who = { moderator = true }",
        "moderators" => "moderators = [\"alice\"] (exactly these; [] for nobody), or per variant: moderators = { jwt-auto-owner = [\"alice\"] }",
        "moderators_one_of" => "moderators_one_of = [\"bob\", \"carol\"]",
        "moderator_count" => "moderator_count = 1",
        "rejected" => "rejected = [\"mallory\"]",
        "no_flaps" => "no_flaps = true (no seat may go A -> B -> A while the step settles)",
        "explain" => "explain = true (snapshot lines name the cause of each moderator change)",
        "enable_lobby" => "enable_lobby = { by = \"alice\" } (a moderator)",
        "disable_lobby" => "disable_lobby = { by = \"alice\" } (a moderator)",
        "admit" => "admit = { by = \"alice\", who = \"bob\" } (bob waits in the lobby)",
        "deny" => "deny = { by = \"alice\", who = \"bob\" } (bob waits in the lobby)",
        "waiting" => "waiting = [\"bob\"] (in the lobby or for the host; [] for nobody)",
        "note" => "note = \"an expired token must not get in\"",
        "affiliations" => "affiliations = { alice = \"owner\", bob = \"member\" }",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_messages_split() {
        assert_eq!(
            parse_unknown_field("unknown field `jion`, expected one of `join`, `leave`"),
            Some(("jion", vec!["join", "leave"]))
        );
        assert_eq!(
            parse_unknown_field("unknown field `x`, expected `a` or `b`"),
            Some(("x", vec!["a", "b"]))
        );
        assert_eq!(
            parse_unknown_field("unknown field `x`, there are no fields"),
            Some(("x", vec![]))
        );
        assert_eq!(parse_unknown_field("missing field `by`"), None);
    }

    #[test]
    fn serde_words_become_toml_words() {
        assert_eq!(
            plain_words("invalid type: string \"a\", expected struct RawGrant"),
            "invalid type: string \"a\", expected a table"
        );
        assert_eq!(
            plain_words("invalid value: integer `-1`, expected usize"),
            "invalid value: integer `-1`, expected a whole number (0 or more)"
        );
        assert_eq!(
            plain_words("unknown variant `x`, expected `bot` or `browser`"),
            "unknown value `x`, expected `bot` or `browser`"
        );
    }

    /// The action keys listed for messages are exactly the action fields of `RawStep`.
    #[test]
    fn action_keys_are_step_fields() {
        let (doc, errors) = DeTable::parse_recoverable("zzz = 1");
        assert!(errors.is_empty());
        let doc = doc.into_inner();
        let value = Spanned::new(0..7, DeValue::Table(doc));
        let err = RawStep::deserialize(toml::de::ValueDeserializer::from(value)).unwrap_err();
        let (_, valid) = parse_unknown_field(err.message()).unwrap();
        for key in ACTION_KEYS {
            assert!(valid.contains(key), "{key} not a step field: {valid:?}");
        }
    }
}
