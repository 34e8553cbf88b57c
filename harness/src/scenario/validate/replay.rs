//! The replay of a scenario's steps during validation: who is in the room after each step, so that an
//! action on someone absent, a join of someone present, or an expectation about someone absent is a
//! problem at its `file:line:col`.

use std::collections::BTreeMap;
use std::ops::Range;

use super::super::diagnostic::Problem;
use super::super::parse::StepEntry;
use super::*;

impl Checker<'_> {
    /// Replays the steps, tracking who is in the room, and reports actions on someone absent,
    /// joins of someone present, and expectations about someone absent.
    ///
    /// Works on the raw steps, so a step whose expectations or duration had a problem still
    /// counts; it needs every step readable with exactly one action (else it reports nothing,
    /// as a missing step would make later ones look wrong). Names that are not participants were
    /// reported already and are skipped.
    pub(super) fn replay(&mut self, entries: &[StepEntry]) {
        let mut steps = Vec::new();
        for entry in entries {
            let Some(body) = &entry.body else { return };
            let actions = entry
                .keys
                .iter()
                .filter(|k| ACTION_KEYS.contains(&k.name.as_str()));
            if actions.count() != 1 {
                return;
            }
            steps.push((body, entry));
        }
        let mut room: BTreeMap<&str, Presence> = BTreeMap::new();
        // Who may or may not be in the room, depending on the variant (a per-variant `rejected`) or on
        // whom a step on "whoever is moderator now" met: their presence is not checked any more, and
        // after such a departure the head count is unknown.
        let mut maybe: BTreeSet<&str> = BTreeSet::new();
        let mut uncounted = false;
        for (index, (body, entry)) in steps.into_iter().enumerate() {
            let n = index + 1;
            let rejected: BTreeSet<&str> = body
                .rejected
                .iter()
                .flat_map(|r| r.get_ref())
                .map(|r| r.get_ref().as_str())
                .collect();
            let rejected_somewhere: BTreeSet<&str> = entry
                .per_variant
                .iter()
                .filter(|p| p.key == "rejected")
                .flat_map(|p| p.lists.iter().flat_map(|(_, l)| l.get_ref()))
                .map(|r| r.get_ref().as_str())
                .collect();
            maybe.extend(rejected_somewhere.iter().copied());
            if !rejected_somewhere.is_empty() {
                uncounted = true;
            }

            if let Some(join) = &body.join {
                let mut seen = BTreeSet::new();
                for who in join.get_ref() {
                    let name = who.get_ref().as_str();
                    if !seen.insert(name) || !self.is_known(name) {
                        continue; // a duplicate or an unknown name: reported already
                    }
                    match presence(&room, name) {
                        _ if maybe.contains(name) => {
                            room.insert(name, Presence::In { since: n });
                        }
                        Presence::Never => {
                            if !rejected.contains(name) {
                                room.insert(name, Presence::In { since: n });
                            }
                        }
                        Presence::In { since } => self.push(
                            Problem::at(
                                "scenario::order",
                                who.span(),
                                "already in the room",
                                format!(
                                    "`{name}` joins in step {n} but is already in the room (joined in step {since})"
                                ),
                            )
                            .help(format!(
                                "`{name}` must leave or disconnect before joining again, with `rejoin`"
                            )),
                        ),
                        Presence::Out { joined, left } => self.push(
                            Problem::at(
                                "scenario::order",
                                who.span(),
                                "joined before",
                                format!("`{name}` joins in step {n} but already joined in step {joined}"),
                            )
                            .help(format!(
                                "`join` is a first join; `{name}` left in step {left}, so write rejoin = \"{name}\""
                            )),
                        ),
                    }
                }
            } else if let Some(who) = &body.rejoin {
                let name = who.get_ref().as_str();
                match presence(&room, name) {
                    _ if !self.is_known(name) => {}
                    _ if maybe.contains(name) => {
                        room.insert(name, Presence::In { since: n });
                    }
                    Presence::Out { .. } => {
                        if !rejected.contains(name) {
                            room.insert(name, Presence::In { since: n });
                        }
                                    }
                    Presence::Never => self.push(
                        Problem::at(
                            "scenario::order",
                            who.span(),
                            "never joined",
                            format!("`{name}` rejoins in step {n} but never joined"),
                        )
                        .help(format!("a first join is join = [\"{name}\"]")),
                    ),
                    Presence::In { since } => self.push(
                        Problem::at(
                            "scenario::order",
                            who.span(),
                            "still in the room",
                            format!(
                                "`{name}` rejoins in step {n} but is still in the room (joined in step {since})"
                            ),
                        )
                        .help(format!(
                            "leave = \"{name}\" or disconnect = \"{name}\" in an earlier step"
                        )),
                    ),
                }
            } else if let Some((who, verb)) = body
                .leave
                .as_ref()
                .map(|w| (w, "leaves"))
                .or_else(|| body.disconnect.as_ref().map(|w| (w, "disconnects")))
            {
                let Some(name) = who.get_ref().name() else {
                    // Whoever is moderator leaves: anyone in the room now may be gone after it.
                    moderator_departs(&room, &mut maybe, &mut uncounted);
                    continue;
                };
                if self.present_or_maybe(
                    &room,
                    &maybe,
                    name,
                    who.span(),
                    &format!("{verb} in step {n}"),
                ) {
                    leaves(&mut room, name, n);
                }
            } else if let Some(grant) = &body.grant {
                let grant = grant.get_ref();
                if let Some(by) = grant.by.get_ref().name() {
                    self.present_or_maybe(
                        &room,
                        &maybe,
                        by,
                        grant.by.span(),
                        &format!("grants in step {n}"),
                    );
                }
                self.present_or_maybe(
                    &room,
                    &maybe,
                    grant.to.get_ref(),
                    grant.to.span(),
                    &format!("is granted owner in step {n}"),
                );
            } else if let Some(who) = &body.reload {
                self.present_or_maybe(
                    &room,
                    &maybe,
                    who.get_ref(),
                    who.span(),
                    &format!("reloads in step {n}"),
                );
            } else if let Some(p) = &body.presence {
                let who = &p.get_ref().who;
                self.present_or_maybe(
                    &room,
                    &maybe,
                    who.get_ref(),
                    who.span(),
                    &format!("sends a presence update in step {n}"),
                );
            } else if let Some(service) = body.restart.as_ref().or(body.stop.as_ref()) {
                if service.get_ref() == "prosody" {
                    ends_every_session(&mut room, n);
                }
            } else if let Some(by) = body.enable_lobby.as_ref().or(body.disable_lobby.as_ref()) {
                let by = &by.get_ref().by;
                self.present(
                    &room,
                    by.get_ref(),
                    by.span(),
                    &format!("switches the lobby in step {n}"),
                );
            } else if let Some(admit) = &body.admit {
                let admit = admit.get_ref();
                self.present(
                    &room,
                    admit.by.get_ref(),
                    admit.by.span(),
                    &format!("admits in step {n}"),
                );
                // A participant who joined and waits counts as joined here; whether it waits is the run's.
                self.present(
                    &room,
                    admit.who.get_ref(),
                    admit.who.span(),
                    &format!("is admitted in step {n}"),
                );
            } else if let Some(deny) = &body.deny {
                let deny = deny.get_ref();
                self.present(
                    &room,
                    deny.by.get_ref(),
                    deny.by.span(),
                    &format!("denies in step {n}"),
                );
                let who = deny.who.get_ref().as_str();
                if self.present(
                    &room,
                    who,
                    deny.who.span(),
                    &format!("is denied in step {n}"),
                ) {
                    leaves(&mut room, who, n);
                }
            } else if let Some(kick) = &body.kick {
                let kick = kick.get_ref();
                if let Some(by) = kick.by.get_ref().name() {
                    self.present_or_maybe(
                        &room,
                        &maybe,
                        by,
                        kick.by.span(),
                        &format!("kicks in step {n}"),
                    );
                }
                let Some(who) = kick.who.get_ref().name() else {
                    moderator_departs(&room, &mut maybe, &mut uncounted);
                    continue;
                };
                // The replay assumes the kick succeeds; a refused kick is a finding of the run. Where the
                // step's expectations differ by variant, so may the kick's success.
                if !entry.per_variant.is_empty() {
                    maybe.insert(who);
                    uncounted = true;
                } else if self.present_or_maybe(
                    &room,
                    &maybe,
                    who,
                    kick.who.span(),
                    &format!("is kicked in step {n}"),
                ) {
                    leaves(&mut room, who, n);
                }
            }

            let mut lists: Vec<(&str, &Spanned<Vec<Spanned<String>>>)> = Vec::new();
            lists.extend(body.moderators.iter().map(|l| ("moderators", l)));
            lists.extend(
                body.moderators_one_of
                    .iter()
                    .map(|l| ("moderators_one_of", l)),
            );
            lists.extend(body.waiting.iter().map(|l| ("waiting", l)));
            for per in entry.per_variant.iter().filter(|p| p.key != "rejected") {
                lists.extend(per.lists.iter().map(|(_, l)| (per.key.as_str(), l)));
            }
            for (key, list) in lists {
                for who in list.get_ref() {
                    let name = who.get_ref().as_str();
                    let why = match presence(&room, name) {
                        _ if !self.is_known(name) || maybe.contains(name) => continue,
                        Presence::In { .. } => continue,
                        Presence::Out { left, .. } if left == n => {
                            format!("`{name}` leaves the room in this step")
                        }
                        Presence::Out { left, .. } => format!("`{name}` left in step {left}"),
                        Presence::Never if rejected.contains(name) => {
                            format!("`{name}` is rejected in this step")
                        }
                        Presence::Never => format!("`{name}` has not joined yet"),
                    };
                    let only = if key == "waiting" {
                        "only a participant that joined can wait"
                    } else {
                        "only occupants can be moderators"
                    };
                    self.push(
                        Problem::at(
                            "scenario::not_in_room",
                            who.span(),
                            "not in the room",
                            format!("`{key}` of step {n} names `{name}`, who is not in the room after the step"),
                        )
                        .help(format!("{why}; {only}")),
                    );
                }
            }
            for who in body.affiliations.iter().flat_map(|a| a.get_ref().keys()) {
                let name = who.get_ref().as_str();
                let why = match presence(&room, name) {
                    _ if !self.is_known(name) => continue,
                    Presence::In { .. } => continue,
                    Presence::Out { left, .. } if left == n => {
                        format!("`{name}` leaves the room in this step")
                    }
                    Presence::Out { left, .. } => format!("`{name}` left in step {left}"),
                    Presence::Never if rejected.contains(name) => {
                        format!("`{name}` is rejected in this step")
                    }
                    Presence::Never => format!("`{name}` has not joined yet"),
                };
                self.push(
                    Problem::at(
                        "scenario::not_in_room",
                        who.span(),
                        "not in the room",
                        format!("`affiliations` of step {n} names `{name}`, who is not in the room after the step"),
                    )
                    .help(format!("{why}; only occupants have an affiliation the room shows")),
                );
            }
            if let Some(count) = body.moderator_count.as_ref().filter(|_| !uncounted) {
                let present = room
                    .values()
                    .filter(|p| matches!(p, Presence::In { .. }))
                    .count();
                if *count.get_ref() > present {
                    self.push(
                        Problem::at(
                            "scenario::not_in_room",
                            count.span(),
                            format!("only {present} in the room"),
                            format!(
                                "`moderator_count = {}` in step {n}, but only {present} participants are in the room after it",
                                count.get_ref()
                            ),
                        )
                        .help("count only participants that have joined and not left"),
                    );
                }
            }
        }
    }

    /// [`Self::present`], except for someone who may or may not be in the room (true, unreported).
    fn present_or_maybe(
        &mut self,
        room: &BTreeMap<&str, Presence>,
        maybe: &BTreeSet<&str>,
        name: &str,
        span: Range<usize>,
        what: &str,
    ) -> bool {
        maybe.contains(name) || self.present(room, name, span, what)
    }

    pub(super) fn is_known(&self, name: &str) -> bool {
        self.known.iter().any(|k| k == name)
    }

    /// Reports `name` if it is not in the room; true if it is. Unknown names were reported
    /// already: false, without a second report.
    fn present(
        &mut self,
        room: &BTreeMap<&str, Presence>,
        name: &str,
        span: Range<usize>,
        what: &str,
    ) -> bool {
        if !self.is_known(name) {
            return false;
        }
        let help = match presence(room, name) {
            Presence::In { .. } => return true,
            Presence::Never => {
                format!("`{name}` has not joined yet; join = [\"{name}\"] in an earlier step")
            }
            Presence::Out { left, .. } => {
                format!("`{name}` left in step {left}; rejoin = \"{name}\" in an earlier step")
            }
        };
        self.push(
            Problem::at(
                "scenario::order",
                span,
                "not in the room",
                format!("`{name}` {what} but is not in the room"),
            )
            .help(help),
        );
        false
    }
}

/// Where a participant is, during the replay. Step numbers are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Never,
    In { since: usize },
    Out { joined: usize, left: usize },
}

fn presence(room: &BTreeMap<&str, Presence>, name: &str) -> Presence {
    room.get(name).copied().unwrap_or(Presence::Never)
}

/// A Prosody restart or stop ends every session: everyone in the room is out after step `n` and joins
/// again with `rejoin`.
fn ends_every_session(room: &mut BTreeMap<&str, Presence>, n: usize) {
    for presence in room.values_mut() {
        if let Presence::In { since } = *presence {
            *presence = Presence::Out {
                joined: since,
                left: n,
            };
        }
    }
}

/// Whoever is moderator leaves (or is kicked): everyone in the room may be the one gone.
fn moderator_departs<'a>(
    room: &BTreeMap<&'a str, Presence>,
    maybe: &mut BTreeSet<&'a str>,
    uncounted: &mut bool,
) {
    for (name, p) in room {
        if matches!(p, Presence::In { .. }) {
            maybe.insert(name);
        }
    }
    *uncounted = true;
}

/// `name` is out of the room from step `n` on, having joined when it did.
fn leaves<'a>(room: &mut BTreeMap<&'a str, Presence>, name: &'a str, n: usize) {
    let joined = since_of(room, name);
    room.insert(name, Presence::Out { joined, left: n });
}

fn since_of(room: &BTreeMap<&str, Presence>, name: &str) -> usize {
    match room.get(name) {
        Some(Presence::In { since }) => *since,
        Some(Presence::Out { joined, .. }) => *joined,
        _ => 0,
    }
}
