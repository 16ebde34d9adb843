-- The deploy log (product.md §4, §9). Nothing is ever deleted or rewritten except a deploy's
-- current state and its timestamps; every change of state is also an `events` row and a
-- searchable `log_lines` row. Times are INTEGER unix milliseconds (UTC).
--
-- States and names are validated by the Rust types on write and on read; there is deliberately
-- no CHECK on `state`, so a new state never forces a table rebuild (SQLite cannot alter CHECKs).

-- One deploy request. `id` is the `#N` users see; AUTOINCREMENT so an id is never reused.
CREATE TABLE deploys (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    app              TEXT    NOT NULL,
    env              TEXT    NOT NULL,
    git_ref          TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    commit_sha       TEXT,
    host             TEXT,               -- limit to one host or host group; NULL = all hosts
    task             TEXT    NOT NULL DEFAULT 'deploy',
    kind             TEXT    NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    force            INTEGER NOT NULL DEFAULT 0 CHECK (force IN (0, 1)),
    emergency_reason TEXT,
    requested_by     TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    status_msg       TEXT,               -- chat id of the progress message deckhand edits
    approval_msg     TEXT,               -- chat id of the approval request (reactions land here)
    state            TEXT    NOT NULL,
    reason           TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);

-- "What's live": newest succeeded per (app, env), read with a loose index scan.
CREATE INDEX deploys_live ON deploys (app, env, state, finished_at);
-- History of one target, newest first.
CREATE INDEX deploys_history ON deploys (app, env, id);
-- Pending and in-flight deploys: a handful of rows among millions. The WHERE clause must stay
-- identical to the one in the `active` query so the planner can use this partial index.
CREATE INDEX deploys_active ON deploys (id)
    WHERE state IN ('awaiting_approval', 'approved', 'queued', 'running', 'verifying');
-- Reactions arrive with a message id; find the deploy they are about.
CREATE INDEX deploys_approval_msg ON deploys (approval_msg) WHERE approval_msg IS NOT NULL;

-- Every transition and every noteworthy decision (policy, approval, info). `deploy_id` is NULL
-- for events that belong to no deploy (a lock, a freeze).
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    deploy_id  INTEGER REFERENCES deploys (id),
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    text       TEXT    NOT NULL
);
CREATE INDEX events_by_deploy ON events (deploy_id, id);

-- One step of a task on one host.
CREATE TABLE steps (
    id          INTEGER PRIMARY KEY,
    deploy_id   INTEGER NOT NULL REFERENCES deploys (id),
    host        TEXT    NOT NULL,
    task        TEXT    NOT NULL,
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    name        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    exit_code   INTEGER,
    outcome     TEXT    NOT NULL
);
CREATE INDEX steps_by_deploy ON steps (deploy_id, id);

-- Versions that failed their health check in an env; `rollback` never picks them.
CREATE TABLE bad_versions (
    id        INTEGER PRIMARY KEY,
    app       TEXT    NOT NULL,
    env       TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    deploy_id INTEGER NOT NULL REFERENCES deploys (id),
    at        INTEGER NOT NULL,
    reason    TEXT    NOT NULL
);
CREATE INDEX bad_versions_by_target ON bad_versions (app, env, version);

-- Everything searchable: command output and the text of every event. The table that grows
-- (tens of millions of rows), so it has no secondary index: search walks it by rowid, newest
-- first, and rowid order is time order.
CREATE TABLE log_lines (
    id        INTEGER PRIMARY KEY,
    deploy_id INTEGER REFERENCES deploys (id),
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('output', 'event')),
    host      TEXT,
    stream    TEXT    CHECK (stream IN ('stdout', 'stderr')),
    text      TEXT    NOT NULL
);

-- Full-text index over log_lines.text. External content: the text is stored once, in
-- log_lines; the index holds only the terms. columnsize = 0: no per-row token counts (used only
-- by bm25 ranking, and search orders by time), which saves a b-tree insert per line of output.
-- Positions are kept (detail = full): each search word is a phrase, and phrases need them.
CREATE VIRTUAL TABLE log_fts USING fts5 (
    text, content = 'log_lines', content_rowid = 'id', columnsize = 0
);

CREATE TRIGGER log_lines_fts_insert AFTER INSERT ON log_lines BEGIN
    INSERT INTO log_fts (rowid, text) VALUES (new.id, new.text);
END;

-- The log is append-only and the API has no update or delete path; these two keep the index
-- consistent should an operator ever edit rows by hand.
CREATE TRIGGER log_lines_fts_delete AFTER DELETE ON log_lines BEGIN
    INSERT INTO log_fts (log_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER log_lines_fts_update AFTER UPDATE OF text ON log_lines BEGIN
    INSERT INTO log_fts (log_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO log_fts (rowid, text) VALUES (new.id, new.text);
END;
