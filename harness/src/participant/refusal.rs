//! A refused join as a stable category. The raw refusal text differs per deployment (the fixture's token
//! module words it one way, Jitsi's `mod_auth_token` / `token_verification` another) and per run (Jitsi's
//! expired-token text carries the seconds since expiry), so snapshots show only the [`Refusal`] category;
//! the raw text stays in the JSON report and the transcripts.
//!
//! Jitsi's texts, from jitsi/jitsi-meet `resources/prosody-plugins/token/util.lib.lua` (`process_and_verify_token`,
//! `verify_room`) and `mod_auth_token.lua`:
//! `Invalid token` (an unsigned, `alg: none` token), `Not acceptable by exp` and
//! `Not acceptable by exp (3600.0 sec since expired, valid for:-3600.0 sec)` (luajwtjitsi's expiry check),
//! `Invalid signature`, `Room and token mismatched` / `Room does not match the room from token`, and
//! `not-allowed (token required)` when `allow_empty_token` is off. The fixture's token module
//! (`docker/fixture/`) says `token has expired`, `token signature verification failed (…)`,
//! `token algorithm 'none' is not accepted`, `Room and token mismatched`, `token required`.

use std::fmt;

/// Why a join was refused, as snapshots show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// The token's `exp` has passed.
    Expired,
    /// The token is signed with another key or secret.
    BadSignature,
    /// The token cannot be used at all (unsigned `alg: none`, malformed).
    InvalidToken,
    /// The token names another room.
    RoomMismatch,
    /// No token was given where one is required.
    TokenRequired,
    /// The MUC nick was refused: jitsi-meet's `mod_muc_resource_validate.lua` answers `Invalid resource`
    /// (the nick rule) or `Invalid anonymous user ID` (anonymous-strict: not the first 8 characters of the
    /// login).
    InvalidNick,
    /// The server refused authentication or the join without saying why in words we know
    /// (`not-authorized`, `forbidden`, …).
    NotAuthorized,
    /// The focus (jicofo, or the fixture's focus) refused the conference request for a reason other
    /// than `not-authorized` (e.g. `service-unavailable` with the focus down).
    FocusRefused,
    /// Any other refusal; the raw text is in the JSON report.
    Other,
}

impl Refusal {
    /// Maps a refusal's raw text (a participant error's message: condition and text) to its category.
    pub fn of(raw: &str) -> Refusal {
        // `WHO refused …: condition (text)`: the words are judged after the first `: `, so that a
        // nick (`expired-bob was refused at the login: …`) cannot choose the category.
        let lower = raw.to_ascii_lowercase();
        let (head, text) = lower.split_once(": ").unwrap_or(("", lower.as_str()));
        let has = |needle: &str| text.contains(needle);
        if has("expired") || has("not acceptable by exp") {
            Refusal::Expired
        } else if has("signature") {
            Refusal::BadSignature
        } else if has("room and token mismatched") || has("room does not match") {
            Refusal::RoomMismatch
        } else if has("token required") {
            Refusal::TokenRequired
        } else if has("invalid anonymous user id") || has("invalid resource") {
            Refusal::InvalidNick
        } else if has("invalid token") || has("algorithm") || has("malformed") {
            Refusal::InvalidToken
        } else if has("not-authorized") {
            Refusal::NotAuthorized
        } else if head.contains("focus refused") {
            Refusal::FocusRefused
        } else if has("not-allowed") || has("forbidden") || has("registration-required") {
            Refusal::NotAuthorized
        } else {
            Refusal::Other
        }
    }

    /// The category's stable name: `expired`, `bad-signature`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Expired => "expired",
            Refusal::BadSignature => "bad-signature",
            Refusal::InvalidToken => "invalid-token",
            Refusal::RoomMismatch => "room-mismatch",
            Refusal::TokenRequired => "token-required",
            Refusal::InvalidNick => "invalid-nick",
            Refusal::NotAuthorized => "not-authorized",
            Refusal::FocusRefused => "focus-refused",
            Refusal::Other => "other",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_texts_map_to_their_categories() {
        for (raw, want) in [
            (
                "authentication refused: not-allowed (token algorithm 'none' is not accepted)",
                Refusal::InvalidToken,
            ),
            (
                "authentication refused: not-allowed (token has expired)",
                Refusal::Expired,
            ),
            (
                "the room refused the join: not-allowed (Room and token mismatched)",
                Refusal::RoomMismatch,
            ),
            (
                "authentication refused: not-allowed (token signature verification failed (signature-mismatch))",
                Refusal::BadSignature,
            ),
            (
                "authentication refused: not-allowed (token required)",
                Refusal::TokenRequired,
            ),
            (
                "the focus refused the conference request: not-allowed",
                Refusal::FocusRefused,
            ),
            (
                "the focus refused the conference request: not-authorized (not authorized user domain: a guest cannot create the room)",
                Refusal::NotAuthorized,
            ),
            (
                "mallory was refused at the login: not-authorized",
                Refusal::NotAuthorized,
            ),
            ("something else entirely", Refusal::Other),
        ] {
            assert_eq!(Refusal::of(raw), want, "{raw}");
        }
    }

    #[test]
    fn jitsi_texts_map_to_the_same_categories() {
        for (raw, want) in [
            (
                "the room refused the join: not-allowed (Invalid anonymous user ID)",
                Refusal::InvalidNick,
            ),
            (
                "the room refused the join: not-allowed (Invalid resource)",
                Refusal::InvalidNick,
            ),
            (
                "authentication refused: not-allowed (Invalid token)",
                Refusal::InvalidToken,
            ),
            (
                "authentication refused: not-allowed (Not acceptable by exp)",
                Refusal::Expired,
            ),
            (
                "authentication refused: not-allowed (Not acceptable by exp (3600.0 sec since expired, valid for:-3600.0 sec))",
                Refusal::Expired,
            ),
            (
                "authentication refused: not-allowed (Not acceptable by exp (3601.0 sec since expired, valid for:-3601.0 sec))",
                Refusal::Expired,
            ),
            (
                "authentication refused: not-allowed (Invalid signature)",
                Refusal::BadSignature,
            ),
            (
                "the room refused the join: not-allowed (Room and token mismatched)",
                Refusal::RoomMismatch,
            ),
            (
                "the room refused the join: not-allowed (Room does not match the room from token)",
                Refusal::RoomMismatch,
            ),
            (
                "authentication refused: not-allowed (token required)",
                Refusal::TokenRequired,
            ),
            ("authentication refused: not-authorized", Refusal::NotAuthorized),
        ] {
            assert_eq!(Refusal::of(raw), want, "{raw}");
        }
    }

    #[test]
    fn a_nick_does_not_choose_the_category() {
        assert_eq!(
            Refusal::of("expired-signature was refused at the login: not-allowed (token required)"),
            Refusal::TokenRequired
        );
        assert_eq!(
            Refusal::of("signature was refused at the login: not-authorized"),
            Refusal::NotAuthorized
        );
    }

    #[test]
    fn names_are_stable() {
        assert_eq!(Refusal::Expired.to_string(), "expired");
        assert_eq!(Refusal::BadSignature.as_str(), "bad-signature");
        assert_eq!(Refusal::RoomMismatch.as_str(), "room-mismatch");
        assert_eq!(Refusal::TokenRequired.as_str(), "token-required");
        assert_eq!(Refusal::NotAuthorized.as_str(), "not-authorized");
    }
}
