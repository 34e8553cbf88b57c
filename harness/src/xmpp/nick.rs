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

#[cfg(test)]
mod tests {
    use super::*;

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
