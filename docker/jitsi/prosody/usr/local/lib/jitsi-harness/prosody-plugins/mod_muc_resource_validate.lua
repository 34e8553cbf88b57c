-- jitsi-harness local prosody image: MUC nick (resource) validation, written for this project after the
-- behaviour of jitsi-meet's module of the same name (resources/prosody-plugins/mod_muc_resource_validate.lua,
-- enabled by docker-jitsi-meet from stable-11031 unless PROSODY_ENABLE_MUC_RESOURCE_VALIDATE is false):
--
--   * a joining user's nick must match ^[a-zA-Z0-9][a-zA-Z0-9_]*$, else `not-allowed` "Invalid resource";
--   * with `anonymous_strict`, a user whose host authenticates anonymously must use the first 8 characters
--     of its own (server-generated) username as nick, else `not-allowed` "Invalid anonymous user ID";
--     "anonymous" is decided at join time from the host's auth provider name and `anonymous_auth_methods`
--     (default anonymous, jitsi-anonymous, token; this image's token provider is named fixture_token);
--   * an occupant may not change its nick: `not-allowed` "Nick changes are not allowed".
-- Component sessions (no node in the sender) are not checked.

local jid = require "prosody.util.jid";
local st = require "prosody.util.stanza";

local NICK = "^[a-zA-Z0-9][a-zA-Z0-9_]*$";

local strict = module:get_option_boolean("anonymous_strict", false);
local anonymous_methods = module:get_option_set("anonymous_auth_methods",
	{ "anonymous", "jitsi-anonymous", "token", "fixture_token" });

local function authenticates_anonymously(host)
	local h = prosody.hosts[host];
	return h ~= nil and h.users ~= nil and anonymous_methods:contains(h.users.name);
end

local function refuse(event, text)
	module:log("info", "refusing %s in %s: %s", tostring(event.stanza.attr.from), event.room.jid, text);
	event.origin.send(st.error_reply(event.stanza, "cancel", "not-allowed", text));
	return true;
end

module:hook("muc-occupant-pre-join", function(event)
	local node, host = jid.split(event.stanza.attr.from);
	if not node then return; end
	local nick = select(3, jid.split(event.stanza.attr.to));
	if not nick or not nick:match(NICK) then
		return refuse(event, "Invalid resource");
	end
	if strict and authenticates_anonymously(host) and nick ~= node:sub(1, 8) then
		return refuse(event, "Invalid anonymous user ID");
	end
end, 11);

module:hook("muc-occupant-pre-change", function(event)
	local old = event.orig_occupant;
	if not old then return; end
	local old_nick = select(3, jid.split(old.nick));
	local new_nick = select(3, jid.split(event.stanza.attr.to));
	if old_nick ~= new_nick then
		return refuse(event, "Nick changes are not allowed");
	end
end, 11);

module:log("info", "nick validation on (anonymous_strict=%s)", tostring(strict));
