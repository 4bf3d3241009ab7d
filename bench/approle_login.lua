-- AppRole login with one role-id/secret-id pair (unlimited uses), as a fleet of services would.
local role_id = os.getenv("ROLE_ID")
local secret_id = os.getenv("SECRET_ID")
wrk.method = "POST"
wrk.path = "/v1/auth/approle/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"role_id":"' .. role_id .. '","secret_id":"' .. secret_id .. '"}'
