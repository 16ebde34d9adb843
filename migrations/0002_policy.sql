-- Policy state (product.md §5): approvals and denials, locks, one-off freezes. Like the rest of
-- the log nothing is deleted: a withdrawn approval, a released lock and an ended freeze keep
-- their row with the time (and who) ended it.

-- One approve or deny by one user on one deploy, through one channel: a reaction (`via` is the
-- emoji, canonical Unicode) or the command (`via` = 'command'). A user counts once however
-- many ways they approved; removing one reaction withdraws only that row.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    deploy_id    INTEGER NOT NULL REFERENCES deploys (id),
    user         TEXT    NOT NULL,
    verdict      TEXT    NOT NULL CHECK (verdict IN ('approve', 'deny')),
    via          TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    withdrawn_at INTEGER
);
CREATE INDEX approvals_by_deploy ON approvals (deploy_id, id);

-- A hold on an app in an env (`app` set) or on a whole env (`app` NULL).
CREATE TABLE locks (
    id          INTEGER PRIMARY KEY,
    app         TEXT,
    env         TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    reason      TEXT,
    at          INTEGER NOT NULL,
    released_at INTEGER,
    released_by TEXT
);
CREATE INDEX locks_held ON locks (env, app) WHERE released_at IS NULL;

-- A freeze typed in chat (`freeze prod for 2h`); configured windows live in the config.
CREATE TABLE freezes (
    id        INTEGER PRIMARY KEY,
    env       TEXT    NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at   INTEGER NOT NULL,
    reason    TEXT,
    by_user   TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    ended_at  INTEGER,
    ended_by  TEXT
);
CREATE INDEX freezes_open ON freezes (env, ends_at) WHERE ended_at IS NULL;
