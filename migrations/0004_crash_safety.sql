-- Crash safety: a deploy never outlives its bot unnoticed (docs/reliability.md).

-- This deploy log's own mark, random and made once. Every process of a deploy's steps carries
-- `deckhand#<id>@<tag>` in its command line, so recovery can find what is left of a deploy on
-- a host without mistaking another deckhand's deploy #<id> (ids repeat across logs) for it.
CREATE TABLE log_identity (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    tag TEXT    NOT NULL
);
INSERT INTO log_identity (id, tag) VALUES (1, lower(hex(randomblob(6))));

-- When the hold of an interrupted deploy on its target was released: once recovery made sure
-- nothing of it still runs on its hosts (or handed the hold to a lock a lead can release).
-- NULL while that is not known: such a deploy keeps its target until a start checks its hosts.
ALTER TABLE deploys ADD COLUMN released_at INTEGER;
-- Interrupted deploys of earlier versions were released when they were marked.
UPDATE deploys SET released_at = coalesce(finished_at, created_at) WHERE state = 'interrupted';
CREATE INDEX deploys_unreleased ON deploys (id) WHERE state = 'interrupted' AND released_at IS NULL;
