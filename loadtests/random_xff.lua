-- wrk: each request from another visitor address (X-Forwarded-For, a random public-looking
-- IPv4), so per-address work (IP_ANONYMIZE's truncation) is measured uncached.
math.randomseed(os.time())
request = function()
  local ip = math.random(1, 223) .. "." .. math.random(0, 255) .. "."
    .. math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip })
end
