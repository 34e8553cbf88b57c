//! Jitsi's MUC nick rule, once for everything that names an occupant: scenario validation, the bot and
//! the browser participant. Prosody's `muc_resource_validate`
//! (jitsi/jitsi-meet:resources/prosody-plugins/mod_muc_resource_validate.lua, on by default in
//! docker-jitsi-meet since stable-10978) refuses any other nick; a nick that passes it works on older
//! releases too.

/// The rule as a regular expression, for messages.
pub const RULE: &str = "^[a-zA-Z0-9][a-zA-Z0-9_]*$";

/// Whether `nick` matches [`RULE`]: ASCII letters, digits and `_`, starting with a letter or digit.
pub fn is_valid(nick: &str) -> bool {
    let mut chars = nick.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The nearest valid nick: other characters become `_`, and a nick not starting with a letter or digit
/// gets a `p` before it.
pub fn suggest(nick: &str) -> String {
    let mut out: String = nick
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'p');
    }
    out
}

/// The nick lib-jitsi-meet joins with for anonymous and token logins: the first 8 characters of its own
/// JID's local part, lower-cased (Prosody gives those logins a UUID); a random 8-hex-digit nick when that
/// is not 8 hex digits (jitsi/lib-jitsi-meet `JitsiConference` `resourceCreator`, `JitsiConference.ts`
/// and `modules/xmpp/xmpp.ts` @master). With Prosody's `anonymous_strict` (jitsi/jitsi-meet
/// `resources/prosody-plugins/mod_muc_resource_validate.lua`) any other nick is refused.
pub fn from_login(local_part: &str) -> String {
    let nick: String = local_part
        .chars()
        .take(8)
        .collect::<String>()
        .to_lowercase();
    if nick.len() == 8 && nick.chars().all(|c| c.is_ascii_hexdigit()) {
        nick
    } else {
        format!("{:08x}", rand::random::<u32>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_nick_is_the_login_uuid_prefix_as_lib_jitsi_meet_takes_it() {
        assert_eq!(
            from_login("3BC4A1F0-aaaa-4bbb-8ccc-0123456789ab"),
            "3bc4a1f0"
        );
        for odd in ["alice", "focus", "", "zzzzzzzzzz"] {
            let nick = from_login(odd);
            assert_eq!(nick.len(), 8, "{odd}: {nick}");
            assert!(nick.chars().all(|c| c.is_ascii_hexdigit()), "{odd}: {nick}");
            assert!(is_valid(&nick));
        }
    }

    #[test]
    fn nick_rule_is_muc_resource_validate() {
        for ok in ["alice", "Bob2", "a", "carol_2", "B0b", "1st", "8abcdef0"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "_alice", "_x", "bob-1", "c d", "a b", "é", "a.b"] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert_eq!(suggest("bob-1"), "bob_1");
        assert_eq!(suggest("-x"), "p_x");
        assert_eq!(suggest(""), "p");
        assert!(is_valid(&suggest("é-ö")));
    }
}
