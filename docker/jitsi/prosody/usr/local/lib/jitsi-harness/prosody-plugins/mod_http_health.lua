-- jitsi-harness local prosody image: GET /health, written for this project.
--
-- Behaves as docker-jitsi-meet's health endpoint is documented to (prosody/rootfs/prosody-plugins/
-- mod_http_health.lua@stable-11146, loaded globally by prosody/rootfs/defaults/prosody.cfg.lua): 200
-- `OK\n` while no loaded module is in an error state, 500 `HAS ERRORS\n` otherwise, and 403 to any caller
-- that is not the loopback address. register-setup polls it before creating accounts.

local modulemanager = require "prosody.core.modulemanager";

local function loopback(ip)
	return ip == "127.0.0.1" or ip == "::1" or ip == "::ffff:127.0.0.1";
end

local function any_module_failed()
	for host in pairs(prosody.hosts) do
		for name, mod in pairs(modulemanager.get_modules(host)) do
			if mod.module and mod.module.status_type == "error" then
				return name .. "@" .. host;
			end
		end
	end
	return nil;
end

local function health(event)
	local request, response = event.request, event.response;
	response.headers.content_type = "text/plain";
	if not loopback(request.ip) then
		response.status_code = 403;
		return "FORBIDDEN\n";
	end
	local failed = any_module_failed();
	if failed then
		module:log("warn", "health: module %s is in an error state", failed);
		response.status_code = 500;
		return "HAS ERRORS\n";
	end
	return "OK\n";
end

module:depends("http");
module:provides("http", {
	default_path = "/health";
	route = { ["GET"] = health; ["GET /"] = health; };
});
