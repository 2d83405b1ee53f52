-- Edge: run one write program atomically (the ops are documented in edge/writes.py).
-- KEYS: every key the program touches. ARGV[1]: JSON [[[code, key_index, arg, ...], ...], ...],
-- one inner list per group. Returns {duplicate_groups, tag, ...}: the tags of N ops whose key
-- did not exist yet. Every op is checked before the first write, so a malformed program writes nothing.
local program = cjson.decode(ARGV[1])
local KNOWN = {G = 1, N = 1, X = 1, I = 1, F = 1, S = 1, SNX = 1, MAX = 1, LA = 1, LR = 1, LM = 1,
               TIER = 1, HD = 1, SA = 1, E = 1, D = 1, CD = 1,
               XK = 1, XE = 1, XM = 1, XC = 1}  -- the last four: attribution (edge/attribution.py)
local RANK = {bronze = 1, silver = 2, gold = 3, platinum = 4}
-- loyalty ops (edge/ledger.py): LP appends a JSON value to a list field, BONUS credits points once
KNOWN.LP = 1
KNOWN.BONUS = 1

-- [issue 9] event-id guard `GI key`: skip the rest of the group when key exists (no write). A `G`
-- op may carry a fingerprint of the call (op[4]): a stored guard with another fingerprint is a
-- reused Idempotency-Key with a different body, refused before anything is written.
KNOWN.GI = 1

-- [issue 9] consent gate `W key n`: skip the next n ops of the group when the hash says
-- personalization consent is withdrawn (edge/consent.py)
KNOWN.W = 1
local function withdrawn(key)
  local consent = redis.call('HGET', key, 'e:consent') or redis.call('HGET', key, 'consent')
  if consent then return consent == '0' end
  local raw = redis.call('HGET', key, 'p')
  if not raw then return false end
  local ok, doc = pcall(cjson.decode, raw)
  return ok and type(doc) == 'table' and type(doc.consent) == 'table' and doc.consent.personalization == false
end

for _, group in ipairs(program) do
  for _, op in ipairs(group) do
    if not KNOWN[op[1]] or not KEYS[op[2]] then
      return redis.error_reply('edge: bad op ' .. tostring(op[1]))
    end
  end
end

-- [issue 9] reused Idempotency-Key with another body: refuse the whole program, nothing written
for _, group in ipairs(program) do
  for _, op in ipairs(group) do
    if op[1] == 'G' and op[4] then
      local stored = redis.call('GET', KEYS[op[2]])
      if stored and stored ~= op[4] and stored ~= '1' then return redis.error_reply('edge: conflict') end
    end
  end
end

local function read_list(key, field)
  local raw = redis.call('HGET', key, field)
  if not raw then return {} end
  local ok, list = pcall(cjson.decode, raw)
  if ok and type(list) == 'table' then return list end
  return {}
end

local function write_list(key, field, list, cap)
  local n = #list
  if n == 0 then
    redis.call('HDEL', key, field)
    return
  end
  local first = 1
  if cap and n > cap then first = n - cap + 1 end
  local kept = {}
  for i = first, n do kept[#kept + 1] = list[i] end
  redis.call('HSET', key, field, cjson.encode(kept))
end

local function without(list, value)
  local out = {}
  for _, v in ipairs(list) do
    if v ~= value then out[#out + 1] = v end
  end
  return out
end

local function tier_for(spend, s, g, p)
  if spend >= p then return 'platinum' end
  if spend >= g then return 'gold' end
  if spend >= s then return 'silver' end
  return 'bronze'
end

-- attribution (edge/attribution.py has the same ops on dicts) ------------------------------------
local METRICS = {'conversion', 'revenue', 'add_to_cart', 'click', 'redemption'}
local ALL = '*'

local function split(text)
  local parts = {}
  for part in string.gmatch(text .. '|', '([^|]*)|') do parts[#parts + 1] = part end
  return parts
end

local function add(key, field, by, float)
  if float then redis.call('HINCRBYFLOAT', key, field, by) else redis.call('HINCRBY', key, field, by) end
end

local function exposure(record, base, op)
  local track, arm, segment, day = op[3], op[4], op[7], op[8]
  local value = table.concat({arm, op[5], op[6], segment, '0', '0', '0', '0', '0'}, '|')
  if redis.call('HSETNX', record, track, value) == 1 then
    local agg = base .. ':' .. track
    add(agg, arm .. '|' .. ALL .. '|n', 1)
    if segment ~= '' then add(agg, arm .. '|' .. segment .. '|n', 1) end
    add(agg, arm .. '|#|' .. day .. '|n', 1)
  end
  redis.call('EXPIRE', record, op[9])
end

local function metric_event(record, base, op)
  local ts, day = tonumber(op[3]), op[4]
  local flat = redis.call('HGETALL', record)
  for i = 1, #flat, 2 do
    local track, parts = flat[i], split(flat[i + 1])
    local start, window = tonumber(parts[2]), tonumber(parts[3])
    if ts >= start and ts <= start + window then
      local arm, segment, agg = parts[1], parts[4], base .. ':' .. flat[i]
      local changed = false
      for m = 1, 5 do
        local delta = tonumber(op[4 + m])
        if delta > 0 then
          local old = tonumber(parts[4 + m])
          local revenue = METRICS[m] == 'revenue'
          local new = revenue and (old + delta) or 1
          if new ~= old then
            changed = true
            parts[4 + m] = revenue and string.format('%.17g', new) or '1'
            local segments = {ALL}
            if segment ~= '' then segments[2] = segment end
            for _, seg in ipairs(segments) do
              add(agg, arm .. '|' .. seg .. '|' .. METRICS[m] .. '|s', revenue and string.format('%.17g', new - old) or 1, revenue)
              if revenue then  -- of 0/1 values the sum of squares is the sum: no `q`
                add(agg, arm .. '|' .. seg .. '|' .. METRICS[m] .. '|q', string.format('%.17g', new * new - old * old), true)
              end
            end
            if m == 1 then add(agg, arm .. '|#|' .. day .. '|c', 1) end
          end
        end
      end
      if changed then redis.call('HSET', record, track, table.concat(parts, '|')) end
    end
  end
end

local created = {}
local duplicates = 0
for _, group in ipairs(program) do
  local skip = 0  -- [issue 9] ops left to skip after a W op
  local bound = nil  -- the unit record the attribution ops of this group work on (XK)
  for _, op in ipairs(group) do
    local code, key = op[1], KEYS[op[2]]
    if skip > 0 then
      skip = skip - 1
    elseif code == 'W' then
      if withdrawn(key) then skip = tonumber(op[3]) end
    elseif code == 'XK' then
      bound = key
    elseif code == 'XE' then
      exposure(bound, key, op)
    elseif code == 'XM' then
      metric_event(bound, key, op)
    elseif code == 'XC' then
      local amount = tonumber(op[4])
      for i = 5, #op do
        redis.call('HINCRBY', key, op[i] .. '|' .. op[3], 1)
        if amount > 0 then redis.call('HINCRBYFLOAT', key, op[i] .. '|revenue', op[4]) end
      end
    elseif code == 'G' then
      if not redis.call('SET', key, op[4] or '1', 'NX', 'EX', op[3]) then
        duplicates = duplicates + 1
        break
      end
    elseif code == 'GI' then  -- [issue 9] event-id guard
      if redis.call('EXISTS', key) == 1 then
        duplicates = duplicates + 1
        break
      end
    elseif code == 'N' then
      if redis.call('EXISTS', key) == 0 then created[#created + 1] = op[3] end
    elseif code == 'X' then
      redis.call('XADD', key, 'MAXLEN', '~', op[3], '*', unpack(op, 4))
    elseif code == 'I' then
      redis.call('HINCRBY', key, op[3], op[4])
    elseif code == 'F' then
      redis.call('HINCRBYFLOAT', key, op[3], op[4])
    elseif code == 'S' then
      redis.call('HSET', key, op[3], op[4])
    elseif code == 'SNX' then
      redis.call('HSETNX', key, op[3], op[4])
    elseif code == 'MAX' then
      local old = redis.call('HGET', key, op[3])
      -- an unreadable old value (not a four-digit-year stamp) is repaired, never pinned
      if not old or old < op[4] or not old:match('^%d%d%d%d%-') then redis.call('HSET', key, op[3], op[4]) end
    elseif code == 'LA' then
      local list = without(read_list(key, op[3]), op[4])
      list[#list + 1] = op[4]
      write_list(key, op[3], list, tonumber(op[5]))
    elseif code == 'LR' then
      local list = read_list(key, op[3])
      local kept = without(list, op[4])
      if #kept ~= #list then write_list(key, op[3], kept, nil) end
    elseif code == 'LM' then
      local all = cjson.decode(op[4])
      for _, v in ipairs(read_list(key, op[3])) do all[#all + 1] = v end
      local seen, backwards, list = {}, {}, {}
      for i = #all, 1, -1 do
        if not seen[all[i]] then
          seen[all[i]] = true
          backwards[#backwards + 1] = all[i]
        end
      end
      for i = #backwards, 1, -1 do list[#list + 1] = backwards[i] end
      write_list(key, op[3], list, tonumber(op[5]))
    elseif code == 'TIER' then
      local delta, s, g, p = tonumber(op[3]), tonumber(op[4]), tonumber(op[5]), tonumber(op[6])
      local base_spend, base_tier = 0, nil
      local raw = redis.call('HGET', key, 'p')
      if raw then
        local ok, doc = pcall(cjson.decode, raw)
        if ok and type(doc) == 'table' then
          base_spend = tonumber(doc.spend) or 0
          if type(doc.tier) == 'string' then base_tier = doc.tier end
        end
      end
      local after = base_spend + (tonumber(redis.call('HGET', key, 'e:spend')) or 0)
      local reached = tier_for(after, s, g, p)
      local current = redis.call('HGET', key, 'e:tier') or base_tier
      if RANK[reached] > RANK[tier_for(after - delta, s, g, p)] and RANK[reached] > (RANK[current] or 0) then
        redis.call('HSET', key, 'e:tier', reached)
      end
    elseif code == 'HD' then
      redis.call('HDEL', key, unpack(op, 3))
    elseif code == 'SA' then
      redis.call('SADD', key, op[3])
    elseif code == 'E' then
      redis.call('EXPIRE', key, op[3])
    elseif code == 'D' then
      redis.call('DEL', key)
    elseif code == 'CD' then
      if redis.call('HGET', key, op[3]) == op[4] then redis.call('DEL', key) end
    -- loyalty (edge/ledger.py) ---------------------------------------------------------------
    elseif code == 'LP' then
      local list = read_list(key, op[3])
      list[#list + 1] = cjson.decode(op[4])
      write_list(key, op[3], list, tonumber(op[5]))
    elseif code == 'BONUS' then
      if redis.call('HSETNX', key, op[3], op[4]) == 1 then
        redis.call('HINCRBY', key, 'e:points', op[5])
        local list = read_list(key, 'e:ledger')
        list[#list + 1] = cjson.decode(op[6])
        write_list(key, 'e:ledger', list, tonumber(op[7]))
      end
    end
  end
end
table.insert(created, 1, duplicates)
return created
