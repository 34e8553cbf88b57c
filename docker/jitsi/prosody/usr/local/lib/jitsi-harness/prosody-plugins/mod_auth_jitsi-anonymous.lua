-- jitsi-harness local prosody image: the `jitsi-anonymous` authentication provider, written for this project.
--
-- docker-jitsi-meet renders `authentication = "jitsi-anonymous"` for the main host when ENABLE_AUTH is off
-- and for the guest host (PROSODY_GUEST_AUTH_TYPE's default; prosody/rootfs/defaults/conf.d/
-- jitsi-meet.cfg.lua@stable-11146). Jitsi's provider differs from Prosody's own anonymous one in the name
-- it gives the session: a UUID (jitsi-meet resources/prosody-plugins/mod_auth_jitsi-anonymous.lua), whose
-- first 8 characters are hex digits. lib-jitsi-meet uses those 8 characters as its MUC nick, which the
-- nick validation (`^[a-zA-Z0-9][a-zA-Z0-9_]*$`) accepts; Prosody's own random names may hold `-`, which it
-- refuses. Every SASL ANONYMOUS login is accepted.

local sasl = require "prosody.util.sasl";
local generate_uuid = require "prosody.util.uuid".generate;

-- SASL ANONYMOUS naming the session with a UUID (registered under the standard mechanism name; the token
-- provider of this image registers the same behaviour).
local function anonymous(self, message) -- luacheck: ignore 212/message
	local username = generate_uuid():lower();
	local ok, condition, text = self.profile.anonymous(self, username, self.realm);
	if ok == true then
		self.username = username;
		return "success";
	end
	return "failure", condition or "not-allowed", text;
end
sasl.registerMechanism("ANONYMOUS", { "anonymous" }, anonymous);

local provider = {};

function provider.test_password() return nil, "Password based auth not supported"; end
function provider.get_password() return nil, "Password not available"; end
function provider.set_password() return nil, "Password based auth not supported"; end
function provider.user_exists() return nil, "Only anonymous users are supported"; end
function provider.create_user() return nil, "Account creation/modification not supported"; end
function provider.delete_user() return nil, "Account deletion not supported"; end
function provider.users() return next, prosody.hosts[module.host].sessions, nil; end

function provider.get_sasl_handler()
	return sasl.new(module.host, { anonymous = function() return true; end });
end

module:provides("auth", provider);
