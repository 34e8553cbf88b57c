//! The raw layer → a [`Scenario`], checking what serde cannot: names, nicks, variants, durations,
//! one action per step, expectations that fit together, and the order of joins and leaves
//! (by replaying who is in the room step by step).
//!
//! Every check adds to one list of problems and carries on, so a file with five mistakes gets
//! five messages. The replay runs only when every step was read, because a missing step would
//! make later ones look wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::diagnostic::{closest, line_col, quoted_list, Problem};
use super::duration::parse_duration;
use super::model::{
    Action, Expect, Login, ModeratorAction, ParticipantSpec, PresenceUpdate, Scenario, Step,
    DEFAULT_TIMEOUT,
};
use super::parse::{
    named, Key, ParticipantEntry, PerVariant, RawRole, RawScenario, RawStep, RawWho, StepEntry,
    ACTION_KEYS,
};
use crate::stack::variant::Variants;
use crate::stack::FAULT_SERVICES;
use crate::xmpp;

mod lobby;
mod replay;

/// The longest MUC nick, in bytes. A nick is the resource of the occupant JID `room@muc/NICK`; Prosody
/// prepares every JID resource with resourceprep, which refuses input of 1024 bytes or more
/// (bjc/prosody:util-src/encodings.c, `stringprep_prep`: `if (len >= 1024) … return nil`), and RFC 6122
/// §2.4 caps a resourcepart at 1023 bytes. The nick rule ([`xmpp::nick`]) is ASCII, so bytes are characters.
pub const MAX_NICK_BYTES: usize = 1023;

/// The largest `token` override of one participant, in bytes of its JSON. A token travels in the
/// WebSocket or BOSH URL (`?token=…`, base64url: 4/3 of its size), and docker-jitsi-meet's web container
/// (nginx, `large_client_header_buffers 4 8k` by default, nginx.org/en/docs/http/ngx_http_core_module.html)
/// answers 414 to a request line over 8 KiB: 4 KiB of claims plus the header, the defaults and the
/// signature stays below it.
pub const MAX_TOKEN_OVERRIDE_BYTES: usize = 4096;

/// The longest `timeout` or `wait`. Anything longer is a typo (`10m` for `10s`): a scenario's steps
/// settle in seconds, and a run of the whole suite has to fit a CI job.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 60);

/// Checks `raw` and builds the scenario. Returns `None` if any problem was found (they are all in
/// `problems`, together with those of earlier stages).
pub(super) fn validate(
    raw: RawScenario,
    name: String,
    path: PathBuf,
    text: &str,
    variants: &Variants,
    problems: &mut Vec<Problem>,
) -> Option<Scenario> {
    let before = problems.len();
    let mut check = Checker {
        text,
        problems,
        known: raw.participants.iter().map(|p| p.name.clone()).collect(),
    };

    let header = check.header(&raw, variants);
    let requires = check.requires(&raw);
    let participants = check.participants(&raw, header.as_ref(), variants);
    let steps = check.steps(&raw);
    if let Some((_, _, names, _)) = &header {
        check.per_variant_keys(&raw, names);
    }
    let steps = match (steps, &header) {
        (Some(steps), Some((_, _, names, _))) => check.per_variant(&raw, steps, names),
        _ => None,
    };
    check.replay(&raw.steps);
    check.lobby_variants(&raw, variants);

    if problems.len() > before {
        return None;
    }
    let (description, source, variants, timeout) = header?;
    Some(Scenario {
        name,
        path,
        description,
        source,
        variants,
        timeout,
        participants: participants?,
        steps: steps?,
        explain: raw
            .header
            .as_ref()
            .and_then(|h| h.explain.as_ref())
            .is_some_and(|e| *e.get_ref()),
        requires: requires?,
    })
}

type Header = (String, Option<String>, Vec<String>, Duration);

struct Checker<'a> {
    text: &'a str,
    problems: &'a mut Vec<Problem>,
    /// Every declared participant name, including those whose body had a problem.
    known: Vec<String>,
}

impl Checker<'_> {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn header(&mut self, raw: &RawScenario, variants: &Variants) -> Option<Header> {
        // A top level that did not deserialize has been reported already.
        let header = raw.header.as_ref()?;
        let description = match &header.description {
            Some(d) => Some(d.get_ref().clone()),
            None => {
                self.push(
                    Problem::at(
                        "scenario::missing_key",
                        0..0,
                        "`description` missing",
                        "the scenario has no `description`",
                    )
                    .help(
                        "say what the scenario checks, in the words of its bug report:\n\
                         description = \"When the moderator leaves, exactly one of the others \
                         becomes moderator.\"",
                    ),
                );
                None
            }
        };
        let variants = self.variants(header.variants.as_ref(), variants);
        let timeout = match &header.timeout {
            None => Some(DEFAULT_TIMEOUT),
            Some(t) => self.deadline(t, "timeout"),
        };
        Some((
            description?,
            header.source.as_ref().map(|s| s.get_ref().clone()),
            variants?,
            timeout?,
        ))
    }

    fn variants(
        &mut self,
        given: Option<&Spanned<Vec<Spanned<String>>>>,
        variants: &Variants,
    ) -> Option<Vec<String>> {
        let known = variants.names();
        let known_list = if known.is_empty() {
            format!("`{}` defines none", variants.path.display())
        } else {
            format!("known variants: {}", quoted_list(known.iter().copied()))
        };
        let Some(given) = given else {
            self.push(
                Problem::at(
                    "scenario::missing_key",
                    0..0,
                    "`variants` missing",
                    "the scenario has no `variants`",
                )
                .help(format!(
                    "name the deployment profiles it runs under, e.g. variants = [\"jwt-auto-owner\"]; \
                     {known_list}"
                )),
            );
            return None;
        };
        if given.get_ref().is_empty() {
            self.push(
                Problem::at(
                    "scenario::no_variants",
                    given.span(),
                    "empty",
                    "`variants` is empty",
                )
                .help(format!(
                    "a scenario runs under at least one variant; {known_list}"
                )),
            );
            return None;
        }
        let before = self.problems.len();
        let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
        for v in given.get_ref() {
            let name = v.get_ref().as_str();
            if !variants.by_name.contains_key(name) {
                let mut help = String::new();
                if let Some(near) = closest(name, known.iter().copied()) {
                    help.push_str(&format!("did you mean `{near}`? "));
                }
                help.push_str(&known_list);
                help.push_str(&format!(" (in `{}`)", variants.path.display()));
                self.push(
                    Problem::at(
                        "scenario::unknown_variant",
                        v.span(),
                        "not in variants.toml",
                        format!("unknown variant `{name}`"),
                    )
                    .help(help),
                );
            } else if let Some(first) = seen.get(name) {
                self.push(
                    Problem::at(
                        "scenario::duplicate",
                        v.span(),
                        "listed again",
                        format!("variant `{name}` is listed twice"),
                    )
                    .also(first.clone(), "first listed here")
                    .help("list each variant once"),
                );
            } else {
                seen.insert(name, v.span());
            }
        }
        (self.problems.len() == before).then(|| {
            given
                .get_ref()
                .iter()
                .map(|v| v.get_ref().clone())
                .collect()
        })
    }

    /// A `timeout` (of the scenario or a step): a duration greater than zero.
    fn deadline(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        let d = self.duration(value, key)?;
        if d.is_zero() {
            self.push(
                Problem::at(
                    "scenario::invalid_duration",
                    value.span(),
                    "zero",
                    format!("`{key}` is zero"),
                )
                .help("a deadline of zero fails every step; leave it out for the default of 10s"),
            );
            return None;
        }
        Some(d)
    }

    fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(d) if d > MAX_DURATION => {
                self.push(
                    Problem::at(
                        "scenario::invalid_duration",
                        value.span(),
                        "too long",
                        format!(
                            "`{key}` of {} is longer than {}",
                            value.get_ref(),
                            super::duration::format_duration(MAX_DURATION)
                        ),
                    )
                    .help(format!(
                        "a step settles in seconds; did you mean seconds? e.g. {key} = \"10s\""
                    )),
                );
                None
            }
            Ok(d) => Some(d),
            Err(why) => {
                self.push(
                    Problem::at(
                        "scenario::invalid_duration",
                        value.span(),
                        "not a duration",
                        format!("invalid duration `{}` for `{key}`: {why}", value.get_ref()),
                    )
                    .help(format!(
                        "write whole numbers with units ms, s, m or h: {key} = \"2s\", \"500ms\", \"1m30s\""
                    )),
                );
                None
            }
        }
    }

    fn participants(
        &mut self,
        raw: &RawScenario,
        header: Option<&Header>,
        variants: &Variants,
    ) -> Option<Vec<ParticipantSpec>> {
        if raw.participants.is_empty() {
            let declared = raw.top_keys.iter().any(|k| k.name == "participants");
            match (&raw.participants_table, declared) {
                (Some(table), _) => self.push(
                    Problem::at(
                        "scenario::no_participants",
                        table.clone(),
                        "empty",
                        "`[participants]` is empty",
                    )
                    .help("declare them by name: alice = {}"),
                ),
                // Not a table: reported by `parse`.
                (None, true) => {}
                (None, false) => self.push(
                    Problem::at(
                        "scenario::no_participants",
                        0..0,
                        "no `[participants]`",
                        "the scenario declares no participants",
                    )
                    .help("declare them by name:\n[participants]\nalice = {}\nbob = {}"),
                ),
            }
            return None;
        }
        let before = self.problems.len();
        let mut specs = Vec::new();
        // nick → (where, participant)
        let mut nicks: BTreeMap<String, (Range<usize>, String)> = BTreeMap::new();
        for entry in &raw.participants {
            // The name names files (`NAME.xmpp.log`), whatever the nick.
            if let Err(e) = crate::paths::check_name(&entry.name) {
                self.push(
                    Problem::at(
                        "scenario::invalid_name",
                        entry.span.clone(),
                        "invalid name",
                        format!("invalid participant name: {e}"),
                    )
                    .help(format!(
                        "a participant's name names its transcript file (NAME.xmpp.log); use a plain \
                         name, e.g. {} = {{ nick = \"…\" }}",
                        xmpp::nick::suggest(&entry.name)
                            .chars()
                            .take(crate::paths::MAX_NAME_BYTES)
                            .collect::<String>()
                    )),
                );
            }
            let Some(body) = &entry.body else { continue };
            if let Some(token) = &body.token {
                let size = serde_json::to_string(token.get_ref()).map_or(0, |j| j.len());
                if size > MAX_TOKEN_OVERRIDE_BYTES {
                    self.push(
                        Problem::at(
                            "scenario::token_too_large",
                            key_span(&entry.keys, "token").unwrap_or_else(|| token.span()),
                            "too large",
                            format!(
                                "the `token` overrides of participant `{}` are {size} bytes, more than {MAX_TOKEN_OVERRIDE_BYTES}",
                                entry.name
                            ),
                        )
                        .help(
                            "a token travels in the connection URL, and Jitsi's web server refuses a request \
                             line over 8 KiB (nginx answers 414); keep the claims small",
                        ),
                    );
                }
            }
            if let (Some(login), Some((_, _, names, _))) = (&body.login, header) {
                let without: Vec<&str> = names
                    .iter()
                    .filter(|v| variants.by_name.get(*v).is_some_and(|v| !v.guests))
                    .map(String::as_str)
                    .collect();
                if *login.get_ref() == Login::Guest && !without.is_empty() {
                    self.push(
                        Problem::at(
                            "scenario::guest_without_guests",
                            login.span(),
                            "no guest domain",
                            format!(
                                "participant `{}` joins as a guest, but variant {} has no guests",
                                entry.name,
                                quoted_list(without.iter().copied())
                            ),
                        )
                        .help(format!(
                            "run the scenario only under variants with guests = true, or set guests = true \
                             in `{}`",
                            variants.path.display()
                        )),
                    );
                }
            }
            if let (Some(login), Some((_, _, names, _))) = (&body.login, header) {
                let without: Vec<&str> = names
                    .iter()
                    .filter(|v| variants.by_name.get(*v).is_some_and(|v| !v.internal_auth))
                    .map(String::as_str)
                    .collect();
                if *login.get_ref() == Login::Password && !without.is_empty() {
                    self.push(
                        Problem::at(
                            "scenario::password_without_internal_auth",
                            login.span(),
                            "no accounts",
                            format!(
                                "participant `{}` logs in with a password, but variant {} has no registered \
                                 accounts (internal_auth is off)",
                                entry.name,
                                quoted_list(without.iter().copied())
                            ),
                        )
                        .help(format!(
                            "run the scenario only under variants with internal_auth = true (AUTH_TYPE=internal), \
                             or set it in `{}`",
                            variants.path.display()
                        )),
                    );
                }
            }
            let (nick, nick_span, explicit) = match &body.nick {
                Some(n) => (n.get_ref().clone(), n.span(), true),
                None => (entry.name.clone(), entry.span.clone(), false),
            };
            self.nick(entry, &nick, nick_span.clone(), explicit);
            if let Some((first, owner)) = nicks.get(&nick) {
                let what = if explicit {
                    "nick"
                } else {
                    "default nick (the name)"
                };
                self.push(
                    Problem::at(
                        "scenario::duplicate_nick",
                        nick_span.clone(),
                        "same nick",
                        format!(
                            "participants `{owner}` and `{}` have the same nick `{nick}`",
                            entry.name
                        ),
                    )
                    .also(first.clone(), format!("nick of `{owner}`"))
                    .help(format!(
                        "two occupants cannot share a MUC nick; give `{}` another {what}, e.g. nick = \"{nick}_2\"",
                        entry.name
                    )),
                );
            } else {
                nicks.insert(nick.clone(), (nick_span, entry.name.clone()));
            }
            let login = body
                .login
                .as_ref()
                .map(|l| *l.get_ref())
                .unwrap_or_default();
            if let (Some(token), Login::Guest | Login::None | Login::Password) =
                (&body.token, login)
            {
                let login_name = match login {
                    Login::Guest => "guest",
                    Login::Password => "password",
                    _ => "none",
                };
                self.push(
                    Problem::at(
                        "scenario::token_without_login",
                        key_span(&entry.keys, "token").unwrap_or_else(|| token.span()),
                        "has no effect",
                        format!(
                            "participant `{}` has `token` overrides but logs in with login = \"{login_name}\" (no token)",
                            entry.name
                        ),
                    )
                    .help("remove `token`, or use login = \"token\" (the default)"),
                );
            }
            specs.push(ParticipantSpec {
                name: entry.name.clone(),
                nick,
                nick_explicit: explicit,
                transport: body.transport.unwrap_or_default(),
                login,
                token: body
                    .token
                    .as_ref()
                    .map(|t| t.get_ref().clone())
                    .unwrap_or_default(),
            });
        }
        let complete = raw.participants.iter().all(|p| p.body.is_some());
        (complete && self.problems.len() == before).then_some(specs)
    }

    /// Jitsi's MUC nick rule ([`xmpp::nick`], Prosody's `muc_resource_validate`). Checked for every
    /// release: a nick that passes it works on older ones too.
    fn nick(&mut self, entry: &ParticipantEntry, nick: &str, span: Range<usize>, explicit: bool) {
        if nick.len() > MAX_NICK_BYTES {
            self.push(
                Problem::at(
                    "scenario::invalid_nick",
                    span,
                    "too long",
                    format!(
                        "the nick of participant `{}` is {} bytes, more than {MAX_NICK_BYTES}",
                        entry.name,
                        nick.len()
                    ),
                )
                .help(
                    "Prosody refuses a JID resource of 1024 bytes or more (resourceprep, RFC 6122 §2.4); \
                     use a short nick, e.g. nick = \"alice_2\"",
                ),
            );
            return;
        }
        if xmpp::nick::is_valid(nick) {
            return;
        }
        let suggestion = xmpp::nick::suggest(nick);
        let (message, help) = if explicit {
            (
                format!("invalid nick `{nick}` for participant `{}`", entry.name),
                format!(
                    "MUC nicks are letters, digits and `_`, starting with a letter or digit \
                     (Prosody muc_resource_validate, docker-jitsi-meet stable-10978+), e.g. nick = \"{suggestion}\""
                ),
            )
        } else {
            (
                format!(
                    "participant name `{nick}` is not a valid MUC nick, and the nick defaults to the name"
                ),
                format!(
                    "MUC nicks are letters, digits and `_`, starting with a letter or digit \
                     (Prosody muc_resource_validate, docker-jitsi-meet stable-10978+): set nick = \"{suggestion}\" \
                     on this participant, or rename it to `{suggestion}`"
                ),
            )
        };
        self.push(Problem::at("scenario::invalid_nick", span, "invalid nick", message).help(help));
    }

    /// Reports a name that is not a declared participant; true if it is one.
    fn participant_name(&mut self, name: &Spanned<String>, place: &str) -> bool {
        let who = name.get_ref().as_str();
        if self.known.iter().any(|k| k == who) {
            return true;
        }
        let mut help = String::new();
        if let Some(near) = closest(who, self.known.iter().map(String::as_str)) {
            help.push_str(&format!("did you mean `{near}`? "));
        }
        if self.known.is_empty() {
            help.push_str("declare it under [participants]");
        } else {
            help.push_str(&format!(
                "participants: {} (declare others under [participants])",
                quoted_list(self.known.iter().map(String::as_str))
            ));
        }
        self.push(
            Problem::at(
                "scenario::unknown_participant",
                name.span(),
                "not a participant",
                format!("unknown participant `{who}` {place}"),
            )
            .help(help),
        );
        false
    }

    /// Checks each step on its own; `None` if some step was unreadable or had a problem.
    fn steps(&mut self, raw: &RawScenario) -> Option<Vec<Step>> {
        if raw.steps.is_empty() {
            if !raw.top_keys.iter().any(|k| k.name == "step") {
                let end = self.text.len();
                self.push(
                    Problem::at(
                        "scenario::no_steps",
                        end..end,
                        "no `[[step]]`",
                        "the scenario has no steps",
                    )
                    .help("add steps:\n[[step]]\njoin = [\"alice\"]\nmoderators = [\"alice\"]"),
                );
            }
            return None;
        }
        let mut checked = Vec::new();
        let mut complete = true;
        for (index, entry) in raw.steps.iter().enumerate() {
            match &entry.body {
                Some(body) => match self.step(index, entry, body) {
                    Some(step) => checked.push(step),
                    None => complete = false,
                },
                None => complete = false,
            }
        }
        complete.then_some(checked)
    }

    fn step(&mut self, index: usize, entry: &StepEntry, body: &RawStep) -> Option<Step> {
        let n = index + 1;
        let here = format!("in step {n}");
        let line = line_col(self.text, entry.span.start).0;

        let action = self.action(n, entry, body);

        // Names: every one must be declared (unknown ones are reported once, here).
        let mut names: Vec<(Spanned<String>, String)> = Vec::new();
        if let Some(join) = &body.join {
            if join.get_ref().is_empty() {
                self.push(
                    Problem::at(
                        "scenario::empty_list",
                        join.span(),
                        "nobody",
                        format!("`join` {here} names nobody"),
                    )
                    .help("join = [\"alice\"] or join = [\"bob\", \"carol\"]"),
                );
            }
            self.duplicates(join.get_ref(), "join", &here);
            names.extend(join.get_ref().iter().map(|n| (n.clone(), here.clone())));
        }
        for who in [&body.leave, &body.disconnect]
            .into_iter()
            .flatten()
            .filter_map(named)
        {
            names.push((who, here.clone()));
        }
        for who in [&body.rejoin, &body.reload].into_iter().flatten() {
            names.push((who.clone(), here.clone()));
        }
        if let Some(grant) = &body.grant {
            let place = format!("in `grant` of step {n}");
            names.extend(named(&grant.get_ref().by).map(|by| (by, place.clone())));
            names.push((grant.get_ref().to.clone(), place));
        }
        if let Some(kick) = &body.kick {
            let place = format!("in `kick` of step {n}");
            names.extend(named(&kick.get_ref().by).map(|by| (by, place.clone())));
            names.extend(named(&kick.get_ref().who).map(|who| (who, place.clone())));
        }
        if let Some(presence) = &body.presence {
            names.push((
                presence.get_ref().who.clone(),
                format!("in `presence` of step {n}"),
            ));
        }
        for per in &entry.per_variant {
            let place = format!("in `{}` of step {n}", per.key);
            for (_, list) in &per.lists {
                self.duplicates(list.get_ref(), &per.key, &here);
                names.extend(
                    list.get_ref()
                        .iter()
                        .map(|who| (who.clone(), place.clone())),
                );
            }
        }
        for (key, by) in [
            ("enable_lobby", &body.enable_lobby),
            ("disable_lobby", &body.disable_lobby),
        ] {
            if let Some(by) = by {
                names.push((by.get_ref().by.clone(), format!("in `{key}` of step {n}")));
            }
        }
        for (key, pair) in [("admit", &body.admit), ("deny", &body.deny)] {
            if let Some(pair) = pair {
                names.push((pair.get_ref().by.clone(), format!("in `{key}` of step {n}")));
                names.push((
                    pair.get_ref().who.clone(),
                    format!("in `{key}` of step {n}"),
                ));
            }
        }
        for (key, list) in [
            ("moderators", &body.moderators),
            ("moderators_one_of", &body.moderators_one_of),
            ("rejected", &body.rejected),
            ("waiting", &body.waiting),
        ] {
            if let Some(list) = list {
                self.duplicates(list.get_ref(), key, &here);
                let place = format!("in `{key}` of step {n}");
                names.extend(
                    list.get_ref()
                        .iter()
                        .map(|who| (who.clone(), place.clone())),
                );
            }
        }
        if let Some(affiliations) = &body.affiliations {
            let place = format!("in `affiliations` of step {n}");
            names.extend(
                affiliations
                    .get_ref()
                    .keys()
                    .map(|who| (who.clone(), place.clone())),
            );
        }
        let before = self.problems.len();
        for (name, place) in names {
            self.participant_name(&name, &place);
        }
        let names_ok = self.problems.len() == before;

        let expect = self.expect(n, entry, body);
        let timeout = match &body.timeout {
            Some(t) => self.deadline(t, "timeout").map(Some),
            None => Some(None),
        };
        let (action, expect, timeout) = (action?, expect?, timeout?);
        if !names_ok {
            return None;
        }
        Some(Step {
            index,
            line,
            action,
            expect,
            timeout,
            note: body.note.as_ref().map(|n| n.get_ref().clone()),
            per_variant: BTreeMap::new(),
        })
    }

    /// `requires = [...]`: features from [`crate::stack::FEATURES`], each once.
    fn requires(&mut self, raw: &RawScenario) -> Option<Vec<String>> {
        let Some(header) = raw.header.as_ref() else {
            return Some(Vec::new());
        };
        let Some(given) = &header.requires else {
            return Some(Vec::new());
        };
        let before = self.problems.len();
        let features = crate::stack::FEATURES;
        let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
        for f in given.get_ref() {
            let name = f.get_ref().as_str();
            if !features.iter().any(|(k, _)| *k == name) {
                let mut help = String::new();
                if let Some(near) = closest(name, features.iter().map(|(k, _)| *k)) {
                    help.push_str(&format!("did you mean `{near}`? "));
                }
                help.push_str(&format!(
                    "features: {}",
                    quoted_list(features.iter().map(|(k, _)| *k))
                ));
                self.push(
                    Problem::at(
                        "scenario::unknown_feature",
                        f.span(),
                        "not a feature",
                        format!("unknown feature `{name}` in `requires`"),
                    )
                    .help(help),
                );
            } else if let Some(first) = seen.get(name) {
                self.push(
                    Problem::at(
                        "scenario::duplicate",
                        f.span(),
                        "listed again",
                        format!("feature `{name}` is required twice"),
                    )
                    .also(first.clone(), "first listed here")
                    .help("list each feature once"),
                );
            } else {
                seen.insert(name, f.span());
            }
        }
        (self.problems.len() == before).then(|| names(given.get_ref()))
    }

    /// Per-variant expectations (`moderators = { jwt-auto-owner = [...] }`): each variant one of the
    /// scenario's, each list fits the rest of the step's expectations; the result is the whole
    /// expectation under each variant named.
    fn per_variant(
        &mut self,
        raw: &RawScenario,
        mut steps: Vec<Step>,
        variants: &[String],
    ) -> Option<Vec<Step>> {
        let before = self.problems.len();
        for (step, entry) in steps.iter_mut().zip(&raw.steps) {
            if entry.per_variant.is_empty() {
                continue;
            }
            let n = step.index + 1;
            for variant in variants {
                let mut expect = step.expect.clone();
                let mut any = false;
                for per in &entry.per_variant {
                    let Some((_, list)) = per.lists.iter().find(|(v, _)| v.get_ref() == variant)
                    else {
                        continue;
                    };
                    any = true;
                    let list = names(list.get_ref());
                    match per.key.as_str() {
                        "moderators" => expect.moderators = Some(list),
                        "moderators_one_of" => expect.moderators_one_of = Some(list),
                        _ => expect.rejected = list,
                    }
                }
                if !any {
                    continue;
                }
                if expect.moderators.is_some() && expect.moderators_one_of.is_some() {
                    let span = entry
                        .per_variant
                        .iter()
                        .map(|p| p.key_span.clone())
                        .next()
                        .unwrap_or(entry.span.clone());
                    self.push(
                        Problem::at(
                            "scenario::conflicting_expectations",
                            span,
                            "both under one variant",
                            format!(
                                "step {n} has both `moderators` and `moderators_one_of` under variant `{variant}`"
                            ),
                        )
                        .help("under each variant keep one of them"),
                    );
                }
                step.per_variant.insert(variant.clone(), expect);
            }
        }
        (self.problems.len() == before).then_some(steps)
    }

    /// Every per-variant expectation of every readable step: its variant one of the scenario's, its list
    /// fit for its key.
    fn per_variant_keys(&mut self, raw: &RawScenario, variants: &[String]) {
        for (index, entry) in raw.steps.iter().enumerate() {
            let Some(body) = &entry.body else { continue };
            for per in &entry.per_variant {
                self.per_variant_lists(per, body, index + 1, variants);
            }
        }
    }

    fn per_variant_lists(
        &mut self,
        per: &PerVariant,
        body: &RawStep,
        n: usize,
        variants: &[String],
    ) {
        for (variant, list) in &per.lists {
            let name = variant.get_ref().as_str();
            if !variants.iter().any(|v| v == name) {
                let mut help = String::new();
                if let Some(near) = closest(name, variants.iter().map(String::as_str)) {
                    help.push_str(&format!("did you mean `{near}`? "));
                }
                help.push_str(&format!(
                    "the scenario runs under {}; name those, or add the variant to `variants`",
                    quoted_list(variants.iter().map(String::as_str))
                ));
                self.push(
                    Problem::at(
                        "scenario::unknown_variant",
                        variant.span(),
                        "not a variant of this scenario",
                        format!("`{}` in step {n} names variant `{name}`, which the scenario does not run under", per.key),
                    )
                    .help(help),
                );
            }
            if per.key == "moderators_one_of" && list.get_ref().len() < 2 {
                self.push(
                    Problem::at(
                        "scenario::one_of_too_short",
                        list.span(),
                        "fewer than two",
                        format!("`moderators_one_of` for variant `{name}` in step {n} names fewer than two participants"),
                    )
                    .help("with one candidate there is no choice: use `moderators` for that variant"),
                );
            }
            if per.key == "rejected" {
                let joining = joining(body);
                for who in list.get_ref() {
                    let w = who.get_ref().as_str();
                    if self.is_known(w) && !joining.contains(&w) {
                        self.push(
                            Problem::at(
                                "scenario::rejected_not_joining",
                                who.span(),
                                "does not join here",
                                format!("`{w}` is expected to be rejected under `{name}` in step {n} but does not join in it"),
                            )
                            .help("`rejected` lists participants of the same step's `join` (or `rejoin`)"),
                        );
                    }
                }
            }
        }
    }

    fn duplicates(&mut self, list: &[Spanned<String>], key: &str, here: &str) {
        let mut seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
        for name in list {
            let who = name.get_ref().as_str();
            match seen.get(who) {
                Some(first) => self.push(
                    Problem::at(
                        "scenario::duplicate",
                        name.span(),
                        "listed again",
                        format!("`{who}` is listed twice in `{key}` {here}"),
                    )
                    .also(first.clone(), "first listed here")
                    .help("list each participant once"),
                ),
                None => {
                    seen.insert(who, name.span());
                }
            }
        }
    }

    /// The one action of a step.
    fn action(&mut self, n: usize, entry: &StepEntry, body: &RawStep) -> Option<Action> {
        let present: Vec<&Key> = entry
            .keys
            .iter()
            .filter(|k| ACTION_KEYS.contains(&k.name.as_str()))
            .collect();
        match present.as_slice() {
            [] => {
                self.push(
                    Problem::at(
                        "scenario::no_action",
                        entry.span.clone(),
                        "no action",
                        format!("step {n} has no action"),
                    )
                    .help(format!(
                        "a step does exactly one of {}; a step that only checks can `wait`, e.g. wait = \"1s\"",
                        quoted_list(ACTION_KEYS.iter().copied())
                    )),
                );
                return None;
            }
            [_] => {}
            [first, rest @ ..] => {
                for extra in rest {
                    self.push(
                        Problem::at(
                            "scenario::several_actions",
                            extra.key.clone(),
                            "second action",
                            format!(
                                "step {n} has more than one action (`{}` and `{}`)",
                                first.name, extra.name
                            ),
                        )
                        .also(first.key.clone(), "first action")
                        .help("a step does one thing, so each gets its own snapshot; split it into two [[step]]s"),
                    );
                }
                // Still check the duration, so the split step is right the first time.
                if let Some(wait) = &body.wait {
                    self.duration(wait, "wait");
                }
                return None;
            }
        }
        if let Some(join) = &body.join {
            return Some(Action::Join(names(join.get_ref())));
        }
        if let Some(who) = &body.leave {
            return match who.get_ref() {
                RawWho::Name(name) => Some(Action::Leave(name.clone())),
                RawWho::Role(role) => self
                    .role(role, who.span(), "leave", n)
                    .then_some(Action::Moderator(ModeratorAction::Leave)),
            };
        }
        if let Some(who) = &body.disconnect {
            return match who.get_ref() {
                RawWho::Name(name) => Some(Action::Disconnect(name.clone())),
                RawWho::Role(role) => self
                    .role(role, who.span(), "disconnect", n)
                    .then_some(Action::Moderator(ModeratorAction::Disconnect)),
            };
        }
        if let Some(who) = &body.rejoin {
            return Some(Action::Rejoin(who.get_ref().clone()));
        }
        if let Some(wait) = &body.wait {
            let d = self.duration(wait, "wait")?;
            if d.is_zero() {
                self.push(
                    Problem::at(
                        "scenario::invalid_duration",
                        wait.span(),
                        "zero",
                        format!("step {n} waits for nothing"),
                    )
                    .help("wait at least 1ms, or remove the step"),
                );
                return None;
            }
            return Some(Action::Wait(d));
        }
        if let Some(grant) = &body.grant {
            let grant = grant.get_ref();
            let to = grant.to.get_ref().clone();
            return match grant.by.get_ref() {
                RawWho::Name(by) => Some(Action::Grant { by: by.clone(), to }),
                RawWho::Role(role) => self
                    .role(role, grant.by.span(), "grant", n)
                    .then_some(Action::Moderator(ModeratorAction::Grants { to })),
            };
        }
        if let Some(kick) = &body.kick {
            let kick = kick.get_ref();
            return match (kick.by.get_ref(), kick.who.get_ref()) {
                (RawWho::Name(by), RawWho::Name(who)) => Some(Action::Kick {
                    by: by.clone(),
                    who: who.clone(),
                }),
                (RawWho::Role(role), RawWho::Name(who)) => self
                    .role(role, kick.by.span(), "kick", n)
                    .then(|| Action::Moderator(ModeratorAction::Kicks { who: who.clone() })),
                (RawWho::Name(by), RawWho::Role(role)) => self
                    .role(role, kick.who.span(), "kick", n)
                    .then(|| Action::Moderator(ModeratorAction::KickedBy { by: by.clone() })),
                (RawWho::Role(_), RawWho::Role(_)) => {
                    self.push(
                        Problem::at(
                            "scenario::invalid_value",
                            kick.who.span(),
                            "the moderator again",
                            format!("step {n}: the moderator cannot kick themself"),
                        )
                        .also(kick.by.span(), "the moderator kicks")
                        .help("name one side: kick = { by = { moderator = true }, who = \"bob\" }"),
                    );
                    None
                }
            };
        }
        if let Some(presence) = &body.presence {
            return self.presence(presence, n);
        }
        if let Some(who) = &body.reload {
            return Some(Action::Reload(who.get_ref().clone()));
        }
        if let Some(lobby) = &body.enable_lobby {
            return Some(Action::EnableLobby {
                by: lobby.get_ref().by.get_ref().clone(),
            });
        }
        if let Some(lobby) = &body.disable_lobby {
            return Some(Action::DisableLobby {
                by: lobby.get_ref().by.get_ref().clone(),
            });
        }
        if let Some(admit) = &body.admit {
            let admit = admit.get_ref();
            return Some(Action::Admit {
                by: admit.by.get_ref().clone(),
                who: admit.who.get_ref().clone(),
            });
        }
        if let Some(deny) = &body.deny {
            let deny = deny.get_ref();
            return Some(Action::Deny {
                by: deny.by.get_ref().clone(),
                who: deny.who.get_ref().clone(),
            });
        }
        self.fault_action(n, body)
    }

    /// `{ moderator = true }` where a step names a participant; `false` names nobody.
    fn role(&mut self, role: &RawRole, span: Range<usize>, key: &str, n: usize) -> bool {
        if role.moderator {
            return true;
        }
        self.push(
            Problem::at(
                "scenario::invalid_value",
                span,
                "names nobody",
                format!("`{key}` in step {n} says `moderator = false`, which names nobody"),
            )
            .help(
                "name a participant (\"alice\") or whoever is moderator now ({ moderator = true })",
            ),
        );
        false
    }

    /// `presence = { who, muted, raise_hand, nick }`: something must change, and a new display name is
    /// one a client could send.
    fn presence(
        &mut self,
        presence: &Spanned<super::parse::RawPresence>,
        n: usize,
    ) -> Option<Action> {
        let p = presence.get_ref();
        if p.muted.is_none() && p.raise_hand.is_none() && p.nick.is_none() {
            self.push(
                Problem::at(
                    "scenario::invalid_value",
                    presence.span(),
                    "changes nothing",
                    format!("`presence` in step {n} changes nothing"),
                )
                .help("set at least one of muted, raise_hand, nick: presence = { who = \"alice\", muted = true }"),
            );
            return None;
        }
        if let Some(nick) = &p.nick {
            let name = nick.get_ref();
            if name.trim().is_empty() || name.len() > MAX_NICK_BYTES {
                self.push(
                    Problem::at(
                        "scenario::invalid_nick",
                        nick.span(),
                        "not a display name",
                        format!(
                            "`nick` in `presence` of step {n} must be 1 to {MAX_NICK_BYTES} bytes and not blank"
                        ),
                    )
                    .help("nick = \"Alice B.\" (the display name others see)"),
                );
                return None;
            }
            if self.known.iter().any(|k| k == name) && name != p.who.get_ref() {
                self.push(
                    Problem::at(
                        "scenario::duplicate_nick",
                        nick.span(),
                        "another participant's name",
                        format!("`presence` in step {n} gives `{}` the display name of participant `{name}`", p.who.get_ref()),
                    )
                    .help("observers name participants by display name; choose a name no participant has"),
                );
                return None;
            }
        }
        Some(Action::Presence(PresenceUpdate {
            who: p.who.get_ref().clone(),
            muted: p.muted,
            raise_hand: p.raise_hand,
            nick: p.nick.as_ref().map(|n| n.get_ref().clone()),
        }))
    }

    /// `restart`, `stop` or `pause`: a service every backend can name, and for `pause` a duration.
    fn fault_action(&mut self, n: usize, body: &RawStep) -> Option<Action> {
        if let Some(service) = &body.restart {
            return self
                .service(service, "restart", n)
                .then(|| Action::Restart(service.get_ref().clone()));
        }
        if let Some(service) = &body.stop {
            return self
                .service(service, "stop", n)
                .then(|| Action::Stop(service.get_ref().clone()));
        }
        if let Some(pause) = &body.pause {
            let pause = pause.get_ref();
            let known = self.service(&pause.service, "pause", n);
            let duration = self.duration(&pause.duration, "for")?;
            if duration.is_zero() {
                self.push(
                    Problem::at(
                        "scenario::invalid_duration",
                        pause.duration.span(),
                        "zero",
                        format!("step {n} pauses for no time"),
                    )
                    .help("pause for at least 1ms, e.g. for = \"2s\""),
                );
                return None;
            }
            return known.then(|| Action::Pause {
                service: pause.service.get_ref().clone(),
                duration,
            });
        }
        None
    }

    /// Reports a service name no backend has; true if some backend has it.
    fn service(&mut self, service: &Spanned<String>, key: &str, n: usize) -> bool {
        let name = service.get_ref().as_str();
        if FAULT_SERVICES.contains(&name) {
            return true;
        }
        let mut help = String::new();
        if let Some(near) = closest(name, FAULT_SERVICES.iter().copied()) {
            help.push_str(&format!("did you mean `{near}`? "));
        }
        help.push_str(&format!(
            "services: {} (the fixture has `prosody` and `focus`; a Jitsi stack `prosody`, \
             `jicofo` (also `focus`), `jvb` and `web`)",
            quoted_list(FAULT_SERVICES.iter().copied())
        ));
        self.push(
            Problem::at(
                "scenario::unknown_service",
                service.span(),
                "not a service",
                format!("unknown service `{name}` in `{key}` of step {n}"),
            )
            .help(help),
        );
        false
    }

    /// The expectations of a step, checked against each other and against the step's action.
    fn expect(&mut self, n: usize, entry: &StepEntry, body: &RawStep) -> Option<Expect> {
        let before = self.problems.len();
        if let (Some(_), Some(one_of)) = (&body.moderators, &body.moderators_one_of) {
            let mut problem = Problem::at(
                "scenario::conflicting_expectations",
                key_span(&entry.keys, "moderators_one_of").unwrap_or_else(|| one_of.span()),
                "second expectation",
                format!("step {n} has both `moderators` and `moderators_one_of`"),
            )
            .help(
                "`moderators` is the exact set, `moderators_one_of` is \"exactly one of these\"; keep one",
            );
            if let Some(first) = key_span(&entry.keys, "moderators") {
                problem = problem.also(first, "exact set here");
            }
            self.push(problem);
        }
        if let Some(one_of) = &body.moderators_one_of {
            if one_of.get_ref().len() < 2 {
                let help = match one_of.get_ref().first() {
                    Some(only) => format!(
                        "with one candidate there is no choice: moderators = [\"{}\"]",
                        only.get_ref()
                    ),
                    None => "list the candidates, e.g. moderators_one_of = [\"bob\", \"carol\"]; \
                             for nobody write moderators = []"
                        .to_owned(),
                };
                self.push(
                    Problem::at(
                        "scenario::one_of_too_short",
                        one_of.span(),
                        "fewer than two",
                        format!(
                            "`moderators_one_of` in step {n} names fewer than two participants"
                        ),
                    )
                    .help(help),
                );
            }
        }
        if let Some(count) = &body.moderator_count {
            let count_value = *count.get_ref();
            let implied = match (&body.moderators, &body.moderators_one_of) {
                (Some(m), _) => Some((m.get_ref().len(), "moderators", m.span())),
                (None, Some(o)) => Some((1, "moderators_one_of", o.span())),
                (None, None) => None,
            };
            if let Some((implied, key, span)) = implied {
                if implied != count_value {
                    let help = if key == "moderators" {
                        format!("`moderators` lists {implied}; drop `moderator_count` (the list already fixes the count)")
                    } else {
                        "`moderators_one_of` means exactly one moderator; drop `moderator_count`"
                            .to_owned()
                    };
                    self.push(
                        Problem::at(
                            "scenario::conflicting_expectations",
                            count.span(),
                            format!("says {count_value}"),
                            format!(
                                "`moderator_count = {count_value}` in step {n} contradicts `{key}`"
                            ),
                        )
                        .also(span, format!("means {implied}"))
                        .help(help),
                    );
                }
            }
        }
        if let (Some(waiting), Some(moderators)) = (&body.waiting, &body.moderators) {
            for who in waiting.get_ref() {
                if let Some(also) = moderators
                    .get_ref()
                    .iter()
                    .find(|m| m.get_ref() == who.get_ref())
                {
                    self.push(
                        Problem::at(
                            "scenario::conflicting_expectations",
                            who.span(),
                            "waiting",
                            format!(
                                "`{}` is both waiting and moderator in step {n}",
                                who.get_ref()
                            ),
                        )
                        .also(also.span(), "moderator")
                        .help("a participant who waits is outside the room; it cannot be moderator there"),
                    );
                }
            }
        }
        if let Some(rejected) = &body.rejected {
            let joining = joining(body);
            for who in rejected.get_ref() {
                let name = who.get_ref().as_str();
                if self.is_known(name) && !joining.contains(&name) {
                    self.push(
                        Problem::at(
                            "scenario::rejected_not_joining",
                            who.span(),
                            "does not join here",
                            format!(
                                "`{}` is expected to be rejected in step {n} but does not join in it",
                                who.get_ref()
                            ),
                        )
                        .help(format!(
                            "`rejected` lists participants of the same step's `join` (or `rejoin`): \
                             join = [\"{0}\"] with rejected = [\"{0}\"]",
                            who.get_ref()
                        )),
                    );
                }
            }
        }
        let mut affiliations = BTreeMap::new();
        for (who, value) in body.affiliations.iter().flat_map(|a| a.get_ref()) {
            match value.get_ref().parse::<crate::xmpp::Affiliation>() {
                Ok(affiliation) => {
                    affiliations.insert(who.get_ref().clone(), affiliation);
                }
                Err(e) => self.push(
                    Problem::at(
                        "scenario::invalid_value",
                        value.span(),
                        "not an affiliation",
                        format!(
                            "`affiliations` of step {n}: `{}` is not a MUC affiliation",
                            value.get_ref()
                        ),
                    )
                    .help(format!(
                        "an affiliation is one of {}, e.g. affiliations = {{ {} = \"owner\" }}",
                        e.expected,
                        who.get_ref()
                    )),
                ),
            }
        }
        (self.problems.len() == before).then(|| Expect {
            affiliations,
            moderators: body.moderators.as_ref().map(|m| names(m.get_ref())),
            moderators_one_of: body.moderators_one_of.as_ref().map(|m| names(m.get_ref())),
            moderator_count: body.moderator_count.as_ref().map(|c| *c.get_ref()),
            rejected: body
                .rejected
                .as_ref()
                .map(|r| names(r.get_ref()))
                .unwrap_or_default(),
            no_flaps: body.no_flaps.as_ref().is_some_and(|f| *f.get_ref()),
            waiting: body.waiting.as_ref().map(|w| names(w.get_ref())),
        })
    }
}

fn key_span(keys: &[Key], name: &str) -> Option<Range<usize>> {
    keys.iter().find(|k| k.name == name).map(|k| k.key.clone())
}

fn names(list: &[Spanned<String>]) -> Vec<String> {
    list.iter().map(|n| n.get_ref().clone()).collect()
}

/// Who joins in a step, as written (`join`, or the one who `rejoin`s): whom `rejected` may name.
fn joining(body: &RawStep) -> Vec<&str> {
    match (&body.join, &body.rejoin) {
        (Some(join), _) => join
            .get_ref()
            .iter()
            .map(|n| n.get_ref().as_str())
            .collect(),
        (None, Some(who)) => vec![who.get_ref().as_str()],
        (None, None) => Vec::new(),
    }
}
