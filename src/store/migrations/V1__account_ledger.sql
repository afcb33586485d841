-- The account ledger: what several outdial processes on several hosts share (issue 13).
-- Times are the database's own (clock_timestamp()) wherever hosts must agree on them.

-- Who holds each campaign's advisory lock. The lock itself is a session advisory lock; this row
-- only names its holder, and counts only while `backend_pid` still holds the lock.
CREATE TABLE campaign_locks (
    campaign    text PRIMARY KEY,
    host        text NOT NULL,
    pid         bigint NOT NULL,
    since       timestamptz NOT NULL,
    backend_pid integer NOT NULL
);

-- The account's start-rate schedule (GCRA): the theoretical arrival time of the next start.
CREATE TABLE start_schedules (
    account text PRIMARY KEY,
    tat     timestamptz NOT NULL
);

-- One row per account, locked (FOR UPDATE) to admit one live-call lease at a time.
CREATE TABLE lease_accounts (
    account text PRIMARY KEY
);

-- Live calls: a lease holds a slot until released or until it expires unrenewed.
CREATE TABLE leases (
    id         bigserial PRIMARY KEY,
    account    text NOT NULL REFERENCES lease_accounts (account),
    holder     text NOT NULL,
    taken_at   timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX leases_by_account ON leases (account, expires_at);

-- One row per caller ID, locked (FOR UPDATE) to check and record its starts in one transaction.
CREATE TABLE caller_ids (
    number text PRIMARY KEY
);

-- Every call started from a caller ID, for the daily cap and the cooldown.
CREATE TABLE caller_id_starts (
    number text NOT NULL REFERENCES caller_ids (number),
    at     timestamptz NOT NULL
);
CREATE INDEX caller_id_starts_by_number ON caller_id_starts (number, at);
