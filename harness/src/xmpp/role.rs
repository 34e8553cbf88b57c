//! MUC roles and affiliations (XEP-0045 §5) as the harness carries them: from the roster through what a
//! participant sees, the timeline's seats, to snapshots and JSON (serde writes them lower case, as
//! Prosody puts them on the wire).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xmpp_parsers::muc::user as wire;

/// An occupant's role in the room (XEP-0045 §5.1). Jitsi's "moderator" is this role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May kick and grant (what Jitsi's UI and `isModerator()` show).
    Moderator,
    /// An ordinary occupant.
    Participant,
    /// Present without voice (Jitsi's visitors).
    Visitor,
    /// No role: not in the room, or unknown.
    None,
}

/// An occupant's long-lived affiliation with the room (XEP-0045 §5.2). jicofo grants `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Affiliation {
    /// Owns the room (what jicofo grants its chosen moderator).
    Owner,
    /// Administers the room.
    Admin,
    /// A member of the room.
    Member,
    /// Banned from the room.
    Outcast,
    /// No affiliation.
    None,
}

/// A role or affiliation name that XEP-0045 does not define.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a MUC {what} (expected one of {expected})")]
pub struct UnknownName {
    /// `role` or `affiliation`.
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The names defined.
    pub expected: &'static str,
}

impl Role {
    /// Every role, in XEP-0045's order.
    pub const ALL: [Role; 4] = [
        Role::Moderator,
        Role::Participant,
        Role::Visitor,
        Role::None,
    ];

    /// `moderator`, `participant`, `visitor`, `none`: the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Participant => "participant",
            Role::Visitor => "visitor",
            Role::None => "none",
        }
    }
}

impl Affiliation {
    /// Every affiliation, in XEP-0045's order.
    pub const ALL: [Affiliation; 5] = [
        Affiliation::Owner,
        Affiliation::Admin,
        Affiliation::Member,
        Affiliation::Outcast,
        Affiliation::None,
    ];

    /// `owner`, `admin`, `member`, `outcast`, `none`: the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Affiliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "role",
                value: s.to_owned(),
                expected: "moderator, participant, visitor, none",
            })
    }
}

impl FromStr for Affiliation {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Affiliation::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "affiliation",
                value: s.to_owned(),
                expected: "owner, admin, member, outcast, none",
            })
    }
}

impl From<wire::Role> for Role {
    fn from(r: wire::Role) -> Self {
        match r {
            wire::Role::Moderator => Role::Moderator,
            wire::Role::Participant => Role::Participant,
            wire::Role::Visitor => Role::Visitor,
            wire::Role::None => Role::None,
        }
    }
}

impl From<wire::Affiliation> for Affiliation {
    fn from(a: wire::Affiliation) -> Self {
        match a {
            wire::Affiliation::Owner => Affiliation::Owner,
            wire::Affiliation::Admin => Affiliation::Admin,
            wire::Affiliation::Member => Affiliation::Member,
            wire::Affiliation::Outcast => Affiliation::Outcast,
            wire::Affiliation::None => Affiliation::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_serde_and_the_wire_types() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(r.to_string(), r.as_str());
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
            let wire: wire::Role = r.as_str().parse().unwrap();
            assert_eq!(Role::from(wire), r);
        }
        for a in Affiliation::ALL {
            assert_eq!(a.as_str().parse::<Affiliation>(), Ok(a));
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
            let wire: wire::Affiliation = a.as_str().parse().unwrap();
            assert_eq!(Affiliation::from(wire), a);
        }
        let e = "Moderator".parse::<Role>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Moderator` is not a MUC role (expected one of moderator, participant, visitor, none)"
        );
        assert!("king".parse::<Affiliation>().is_err());
    }
}
