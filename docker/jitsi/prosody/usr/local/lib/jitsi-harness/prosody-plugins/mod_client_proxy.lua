-- jitsi-harness local prosody image: the `focus.DOMAIN` component that lets clients reach the focus user.
-- Written for this project after the documented behaviour of jitsi-meet's client proxy
-- (resources/prosody-plugins/mod_client_proxy.lua, declared by docker-jitsi-meet as
-- `Component "focus.DOMAIN" "client_proxy"` with `target_address = focus@AUTH`):
--
--   * the component knows the target's online sessions from the target's presence, which reaches it only
--     when focus@AUTH's roster has the component with a subscription (register-setup's
--     `roster subscribe_both`); on load it probes the target, so a reload after that step finds a focus
--     that is already online;
--   * an IQ get/set from a client goes to one known target session, `from` rewritten to
--     `focus.DOMAIN/<client full JID>`; with no known session the client gets `service-unavailable`;
--   * the target's IQ result/error to `focus.DOMAIN/<client full JID>` goes back to that client, `from`
--     rewritten to `focus.DOMAIN`;
--   * messages, and presence from anyone but the target, are refused.

if module:get_host_type() ~= "component" then
	error("client_proxy must be loaded as a component", 0);
end

local jid = require "prosody.util.jid";
local st = require "prosody.util.stanza";

local target = module:get_option_string("target_address");
if not target then
	error("client_proxy: target_address is not set", 0);
end
local host = module.host;

-- Online target resources, in the order they came online.
local online = {};

local function forget(resource)
	for i, r in ipairs(online) do
		if r == resource then table.remove(online, i); return; end
	end
end

local function target_presence(stanza)
	local resource = select(3, jid.split(stanza.attr.from));
	local t = stanza.attr.type;
	if t == nil then
		forget(resource);
		table.insert(online, resource);
		module:log("debug", "target session online: %s (%d known)", tostring(resource), #online);
	elseif t == "unavailable" then
		forget(resource);
		module:log("debug", "target session offline: %s (%d known)", tostring(resource), #online);
	elseif t == "error" then
		online = {};
		module:log("debug", "target presence error: forgetting every target session");
	end
end

local function to_target(origin, stanza)
	if stanza.name ~= "iq" then
		if stanza.attr.type ~= "error" then
			origin.send(st.error_reply(stanza, "cancel", stanza.name == "message" and "feature-not-implemented" or "bad-request"));
		end
		return;
	end
	local t = stanza.attr.type;
	if t ~= "get" and t ~= "set" then
		return;
	end
	if #online == 0 then
		module:log("debug", "no target session online: service-unavailable to %s", tostring(stanza.attr.from));
		origin.send(st.error_reply(stanza, "cancel", "service-unavailable"));
		return;
	end
	local forwarded = st.clone(stanza);
	forwarded.attr.from = host .. "/" .. stanza.attr.from;
	forwarded.attr.to = target .. "/" .. online[math.random(#online)];
	module:send(forwarded);
end

local function from_target(stanza)
	local client = jid.prep(select(3, jid.split(stanza.attr.to)) or "");
	if stanza.name ~= "iq" or (stanza.attr.type ~= "result" and stanza.attr.type ~= "error") or not client then
		if stanza.attr.type ~= "error" and stanza.attr.type ~= "result" then
			module:send(st.error_reply(stanza, "cancel", "feature-not-implemented"));
		end
		return;
	end
	local back = st.clone(stanza);
	back.attr.from = host;
	back.attr.to = client;
	module:send(back);
end

local function handle(event)
	local origin, stanza = event.origin, event.stanza;
	local from_target_user = jid.bare(stanza.attr.from) == target;
	local resource = select(3, jid.split(stanza.attr.to));
	if from_target_user and not resource then
		if stanza.name == "presence" then
			target_presence(stanza);
		elseif stanza.attr.type ~= "error" and stanza.attr.type ~= "result" then
			origin.send(st.error_reply(stanza, "cancel", "bad-request"));
		end
	elseif from_target_user then
		from_target(stanza);
	else
		to_target(origin, stanza);
	end
	return true;
end

for _, kind in ipairs({ "iq", "message", "presence" }) do
	for _, to in ipairs({ "bare", "full", "host" }) do
		module:hook(kind .. "/" .. to, handle, -1);
	end
end

-- Ask for the target's current presence (answered only when the target's roster lets us see it), and
-- ask to be subscribed, as a client proxy does on start.
module:send(st.presence({ type = "subscribe", from = host, to = target }));
module:send(st.presence({ type = "probe", from = host, to = target }));
module:log("info", "client proxy for %s loaded", target);
