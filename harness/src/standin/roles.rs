//! jicofo's role managers as pure decisions, shared by the fixture focus and the jicofo stand-in.
//!
//! jicofo picks one manager per conference (`JitsiMeetConferenceImpl.java` @ jicofo
//! `stable/jitsi-meet_11146`): an [`RoleManager::Authentication`] manager when an authentication
//! authority exists (`jicofo.authentication.enabled`, type XMPP or JWT), else an
//! [`RoleManager::AutoOwner`] manager when `conference.enable-auto-owner` (default true), else none.
//! The managers themselves are `ChatRoomRoleManager.kt` at the same tag:
//!
//! * `AuthenticationRoleManager`: owner for every member with an authentication session, on join and when a
//!   session appears; nobody else is ever granted anything;
//! * `AutoOwnerRoleManager`: one remembered owner; when there is none, adopt a member that already has
//!   owner rights, else grant the first member that is not a visitor. "First" is the order of jicofo's
//!   member map, a hash order, not the join order: here a seeded hash of room and nick ([`hash_rank`]).

use std::hash::{Hash, Hasher};

use crate::xmpp::{Affiliation, Role};

/// Which of jicofo's role managers a conference uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleManager {
    /// `AuthenticationRoleManager`.
    Authentication,
    /// `AutoOwnerRoleManager`.
    AutoOwner,
    /// No role manager: nobody is granted anything.
    None,
}

impl RoleManager {
    /// jicofo's choice: authentication first, then auto-owner.
    pub fn select(authentication: bool, auto_owner: bool) -> Self {
        if authentication {
            RoleManager::Authentication
        } else if auto_owner {
            RoleManager::AutoOwner
        } else {
            RoleManager::None
        }
    }

    /// The class name jicofo reports in `chat_room_role_manager.class`.
    pub fn class(self) -> Option<&'static str> {
        match self {
            RoleManager::Authentication => Some("AuthenticationRoleManager"),
            RoleManager::AutoOwner => Some("AutoOwnerRoleManager"),
            RoleManager::None => None,
        }
    }

    /// A short name for log lines.
    pub fn mode(self) -> &'static str {
        match self {
            RoleManager::Authentication => "authentication",
            RoleManager::AutoOwner => "auto-owner",
            RoleManager::None => "none",
        }
    }
}

/// jicofo's `MemberRole` for a MUC affiliation and role (`OWNER`, `MODERATOR`, `PARTICIPANT`, `VISITOR`).
pub fn member_role(affiliation: &Affiliation, role: &Role) -> &'static str {
    match (affiliation, role) {
        (Affiliation::Owner, _) => "OWNER",
        (Affiliation::Admin, _) | (_, Role::Moderator) => "MODERATOR",
        (_, Role::Visitor) => "VISITOR",
        _ => "PARTICIPANT",
    }
}

/// The position of a member in the successor order: a hash of the room and nick, seeded so that a run
/// can be reproduced.
pub fn hash_rank(seed: u64, room: &str, nick: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    room.hash(&mut h);
    nick.hash(&mut h);
    h.finish()
}

/// A member as the auto-owner election sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The MUC nick.
    pub nick: String,
    /// [`hash_rank`] of the nick.
    pub rank: u64,
    /// Whether the member already has owner rights.
    pub owner: bool,
    /// Whether the member is a visitor (never elected).
    pub visitor: bool,
}

/// What `AutoOwnerRoleManager.electNewOwner` decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Election {
    /// An owner is remembered: nothing to do.
    Keep,
    /// Remember this member, which already has owner rights.
    Adopt(String),
    /// Grant owner to this member and remember it.
    Grant(String),
    /// Nobody is eligible.
    Nobody,
}

/// `AutoOwnerRoleManager.electNewOwner` over `members` (any order; sorted here by hash rank, then nick).
pub fn elect(current_owner: Option<&str>, mut members: Vec<Candidate>) -> Election {
    if current_owner.is_some() {
        return Election::Keep;
    }
    members.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.nick.cmp(&b.nick)));
    if let Some(owner) = members.iter().find(|m| m.owner) {
        return Election::Adopt(owner.nick.clone());
    }
    match members.into_iter().find(|m| !m.visitor) {
        Some(m) => Election::Grant(m.nick),
        None => Election::Nobody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(nick: &str, rank: u64, owner: bool, visitor: bool) -> Candidate {
        Candidate {
            nick: nick.into(),
            rank,
            owner,
            visitor,
        }
    }

    #[test]
    fn selection_follows_jicofo_precedence() {
        assert_eq!(RoleManager::select(true, true), RoleManager::Authentication);
        assert_eq!(
            RoleManager::select(true, false),
            RoleManager::Authentication
        );
        assert_eq!(RoleManager::select(false, true), RoleManager::AutoOwner);
        assert_eq!(RoleManager::select(false, false), RoleManager::None);
        assert_eq!(RoleManager::AutoOwner.class(), Some("AutoOwnerRoleManager"));
        assert_eq!(RoleManager::None.class(), None);
    }

    #[test]
    fn election_keeps_adopts_grants_in_rank_order() {
        let members = vec![
            candidate("carol", 3, false, false),
            candidate("vis", 0, false, true),
            candidate("bob", 2, false, false),
        ];
        assert_eq!(elect(Some("alice"), members.clone()), Election::Keep);
        assert_eq!(elect(None, members.clone()), Election::Grant("bob".into()));
        let mut with_owner = members;
        with_owner.push(candidate("dave", 9, true, false));
        assert_eq!(elect(None, with_owner), Election::Adopt("dave".into()));
        assert_eq!(
            elect(None, vec![candidate("vis", 0, false, true)]),
            Election::Nobody
        );
    }

    #[test]
    fn member_roles_as_jicofo_names_them() {
        assert_eq!(member_role(&Affiliation::Owner, &Role::Moderator), "OWNER");
        assert_eq!(
            member_role(&Affiliation::None, &Role::Moderator),
            "MODERATOR"
        );
        assert_eq!(
            member_role(&Affiliation::None, &Role::Participant),
            "PARTICIPANT"
        );
        assert_eq!(member_role(&Affiliation::None, &Role::Visitor), "VISITOR");
    }
}
