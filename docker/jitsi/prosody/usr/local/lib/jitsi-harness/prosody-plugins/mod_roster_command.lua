-- jitsi-harness local prosody image: the `roster subscribe_both` admin shell command, written for this
-- project.
--
-- docker-jitsi-meet's register-setup runs `prosodyctl shell roster subscribe_both focus@AUTH focus.DOMAIN`
-- after creating the accounts (prosody/rootfs/etc/s6-overlay/scripts/register-setup@stable-11146): the
-- user's roster gets the contact with subscription `both`, so the user's presence reaches the contact (the
-- client proxy component learns the focus sessions from it) and the contact's probes are answered.
-- Usage: prosodyctl shell roster subscribe_both USER_JID CONTACT_JID

local jid = require "prosody.util.jid";
local rostermanager = require "prosody.core.rostermanager";
local usermanager = require "prosody.core.usermanager";

module:set_global();

module:add_item("shell-command", {
	section = "roster";
	section_desc = "Edit user rosters";
	name = "subscribe_both";
	desc = "Make USER_JID and CONTACT_JID subscribed to each other's presence";
	args = { { name = "user_jid"; type = "string" }, { name = "contact_jid"; type = "string" } };
	handler = function(self, user_jid, contact_jid) --luacheck: ignore 212/self
		local username, host = jid.prepped_split(user_jid);
		local contact = jid.prep(contact_jid);
		if not username or not host or not contact then
			return false, "Invalid JID (expected: roster subscribe_both USER_JID CONTACT_JID)";
		end
		if not prosody.hosts[host] then
			return false, "No such host: " .. host;
		end
		if not usermanager.user_exists(username, host) then
			return false, "No such user: " .. user_jid;
		end
		local roster = rostermanager.load_roster(username, host);
		if not roster then
			return false, "Could not load the roster of " .. user_jid;
		end
		local item = roster[contact] or { groups = {} };
		item.subscription = "both";
		item.ask = nil;
		roster[contact] = item;
		local ok, err = rostermanager.save_roster(username, host, roster, contact);
		if not ok then
			return false, "Could not save the roster of " .. user_jid .. ": " .. tostring(err);
		end
		-- Tell the user's online sessions, as a roster push would.
		rostermanager.roster_push(username, host, contact);
		return true, ("%s and %s are subscribed to each other"):format(user_jid, contact);
	end;
});
