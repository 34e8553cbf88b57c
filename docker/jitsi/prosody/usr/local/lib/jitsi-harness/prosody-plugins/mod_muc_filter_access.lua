-- jitsi-harness local prosody image: only users of the whitelisted domains may enter the rooms of this MUC
-- component. Written for this project; docker-jitsi-meet puts such a filter on the internal MUC (the
-- brewery) with `muc_filter_whitelist = XMPP_AUTH_DOMAIN`
-- (prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-11146), so only focus, jvb and the other
-- service accounts can join. Others get a presence error `not-allowed`.

local jid = require "prosody.util.jid";
local st = require "prosody.util.stanza";

local whitelist = module:get_option_inherited_set("muc_filter_whitelist", {});

module:hook("muc-occupant-pre-join", function(event)
	local origin, stanza = event.origin, event.stanza;
	local _, from_host = jid.split(stanza.attr.from);
	if from_host and whitelist:contains(from_host) then
		return;
	end
	module:log("info", "refusing %s in %s: its domain is not in muc_filter_whitelist", tostring(stanza.attr.from), event.room.jid);
	origin.send(st.error_reply(stanza, "cancel", "not-allowed"));
	return true;
end, 100);
