-- A team's own Prosody module, as jitsi_stack.rs's `custom_prosody_modules_load` stands one in: it logs its
-- loading and every occupant that joins a room of the host it is enabled on (XMPP_MUC_MODULES).
module:log("info", "jh_occupant_log: loaded on %s", module.host);

module:hook("muc-occupant-joined", function(event)
	module:log("info", "jh_occupant_log: %s joined %s", tostring(event.occupant.nick), tostring(event.room.jid));
end);
