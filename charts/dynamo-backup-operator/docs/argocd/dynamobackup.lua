-- Argo CD health check for dynamobackup.io/DynamoBackup, read from the operator's kstatus
-- conditions; the mapping and how to install it: charts/dynamo-backup-operator/docs/argocd.md.
-- Written for Argo CD's default Lua sandbox: Lua 5.1 with only the base and table libraries.
local hs = {}
local generation = obj.metadata.generation

local function condition(status, wanted)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

-- A condition written for an older spec says nothing about the current one.
local function is_current(c)
  return c.observedGeneration == nil or generation == nil or c.observedGeneration >= generation
end

-- "Reason: message", or whichever of the two is there.
local function explain(c)
  local reason, message = c.reason or "", c.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  return message
end

local status = obj.status or {}
local observed = status.observedGeneration

-- Until the operator has seen the current spec, nothing else in status is about it.
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

local reconciling = condition(status, "Reconciling")
local stalled = condition(status, "Stalled")
local ready = condition(status, "Ready")

-- kstatus reads Reconciling before Stalled; the operator never sets both.
if is_true(reconciling) then
  -- Creating (DynamoDB is still making the snapshot), Deleting, or an AWS error being retried.
  hs.status = "Progressing"
  hs.message = explain(reconciling)
elseif is_true(stalled) then
  -- TableNotFound, AccessDenied, InvalidSpec, BackupNotFound, ...: phase Failed.
  hs.status = "Degraded"
  hs.message = explain(stalled)
elseif is_true(ready) and is_current(ready) then
  -- phase Available: the snapshot exists in DynamoDB.
  hs.status = "Healthy"
  hs.message = explain(ready)
else
  hs.status = "Progressing"
  if ready ~= nil then
    hs.message = explain(ready)
  else
    hs.message = "waiting for the controller to report conditions"
  end
end
return hs
