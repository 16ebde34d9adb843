-- Chat deliveries already handled (issue: a redelivered Slack event must not be a second deploy
-- request). `id` is `<platform>:<the platform's delivery id>`. This is bookkeeping, not the
-- deploy log: rows older than a week are pruned (platforms redeliver within minutes).
CREATE TABLE deliveries (
    id TEXT    PRIMARY KEY,
    at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX deliveries_at ON deliveries (at);
