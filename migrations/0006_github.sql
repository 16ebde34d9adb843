-- GitHub (issue 12). A deploy of an app whose recipe names a `repo` is pinned to a commit
-- (0001's `commit_sha`, set before approval); `deploy!` skipping the CI gate is 0001's `force`
-- plus a `gate_skipped` event. Added here: the GitHub deployment each deploy created, so the
-- next one can mark it inactive, and an index for `search sha:<prefix>` and the changelog's
-- "what is live" lookups.
ALTER TABLE deploys ADD COLUMN github_deployment_id INTEGER;
CREATE INDEX deploys_commit_sha ON deploys (commit_sha) WHERE commit_sha IS NOT NULL;
