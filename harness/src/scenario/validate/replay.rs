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
            steps.push(body);
        }
        let mut room: BTreeMap<&str, Presence> = BTreeMap::new();
        for (index, body) in steps.into_iter().enumerate() {
            let n = index + 1;
            let rejected: BTreeSet<&str> = body
                .rejected
                .iter()
                .flat_map(|r| r.get_ref())
                .map(|r| r.get_ref().as_str())
                .collect();

            if let Some(join) = &body.join {
                let mut seen = BTreeSet::new();
                for who in join.get_ref() {
                    let name = who.get_ref().as_str();
                    if !seen.insert(name) || !self.is_known(name) {
                        continue; // a duplicate or an unknown name: reported already
                    }
                    match presence(&room, name) {
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
                let name = who.get_ref().as_str();
                if self.present(&room, name, who.span(), &format!("{verb} in step {n}")) {
                    room.insert(
                        name,
                        Presence::Out {
                            joined: since_of(&room, name),
                            left: n,
                        },
                    );
                }
            } else if let Some(grant) = &body.grant {
                let grant = grant.get_ref();
                self.present(
                    &room,
                    grant.by.get_ref(),
                    grant.by.span(),
                    &format!("grants in step {n}"),
                );
                self.present(
                    &room,
                    grant.to.get_ref(),
                    grant.to.span(),
                    &format!("is granted owner in step {n}"),
                );
            } else if let Some(service) = body.restart.as_ref().or(body.stop.as_ref()) {
                if service.get_ref() == "prosody" {
                    ends_every_session(&mut room, n);
                }
            } else if let Some(kick) = &body.kick {
                let kick = kick.get_ref();
                self.present(
                    &room,
                    kick.by.get_ref(),
                    kick.by.span(),
                    &format!("kicks in step {n}"),
                );
                let who = kick.who.get_ref().as_str();
                // The replay assumes the kick succeeds; a refused kick is a finding of the run.
                if self.present(
                    &room,
                    who,
                    kick.who.span(),
                    &format!("is kicked in step {n}"),
                ) {
                    room.insert(
                        who,
                        Presence::Out {
                            joined: since_of(&room, who),
                            left: n,
                        },
                    );
                }
            }

            for (key, list) in [
                ("moderators", &body.moderators),
                ("moderators_one_of", &body.moderators_one_of),
            ] {
                for who in list.iter().flat_map(|l| l.get_ref()) {
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
                            format!("`{key}` of step {n} names `{name}`, who is not in the room after the step"),
                        )
                        .help(format!("{why}; only occupants can be moderators")),
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
            if let Some(count) = &body.moderator_count {
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

fn since_of(room: &BTreeMap<&str, Presence>, name: &str) -> usize {
    match room.get(name) {
        Some(Presence::In { since }) => *since,
        Some(Presence::Out { joined, .. }) => *joined,
        _ => 0,
    }
}
