-- Search that stays fast on tens of millions of lines (issue 2, "Performance").
--
-- 0001's `log_fts` indexed the text alone, in log order: a search with `app:`, `env:` or
-- `user:` joined every match to its deploy and filtered there, and walked the index backwards.
-- `log_search` replaces it:
-- - `tags` holds, for a line of a deploy, its app, its env, the app+env pair and its requester,
--   each one token (`appx…`, `envx…`, `pairx…x…`, `userx…`: the value hex-encoded, so `-`,
--   `.` or anything in a user name stay inside the token), so those filters are FTS terms (no
--   tag token is `none`: search uses `NOT tags : "none"` to group terms, see store/search.rs);
-- - its rowid is MINUS the line's id, so the index's natural (ascending) order is newest first
--   and a `LIMIT` stops the walk early;
-- - contentless (content = ''): the text is stored once, in log_lines.
-- There is no insert trigger: the writers (`Store::append_output`, events) index their lines
-- in the same transaction, a whole batch in one statement in ascending rowid order. (A trigger
-- would index the rows of a multi-row insert in descending rowid order, and FTS5 flushes its
-- pending terms into a new segment whenever a rowid goes down.)

DROP TRIGGER log_lines_fts_insert;
DROP TRIGGER log_lines_fts_delete;
DROP TRIGGER log_lines_fts_update;
DROP TABLE log_fts;

-- The tag tokens of each deploy. app, env and requested_by never change once filed.
CREATE VIEW deploy_tags (id, tags) AS
SELECT id,
       'appx' || hex(app) || ' envx' || hex(env) || ' pairx' || hex(app) || 'x' || hex(env)
       || ' userx' || hex(requested_by)
FROM deploys;

-- What `log_search` holds for each line: rowid -id, its text, its deploy's tags ('' for lines
-- of no deploy, which every deploy filter therefore excludes).
CREATE VIEW log_search_rows (id, text, tags) AS
SELECT l.id, l.text, coalesce(t.tags, '')
FROM log_lines l LEFT JOIN deploy_tags t ON t.id = l.deploy_id;

-- columnsize = 0 and detail = full as in 0001 (no bm25; positions for phrases).
CREATE VIRTUAL TABLE log_search USING fts5 (text, tags, content = '', columnsize = 0);

-- The existing log, newest first (ascending rowids: one segment per flush, no re-sorting).
INSERT INTO log_search (rowid, text, tags)
SELECT -id, text, tags FROM log_search_rows ORDER BY id DESC;

-- The log is append-only and the API has no update or delete path; these keep the index
-- consistent should an operator edit lines by hand (a contentless table forgets a row only
-- when told its exact old values).
CREATE TRIGGER log_lines_search_delete AFTER DELETE ON log_lines BEGIN
    INSERT INTO log_search (log_search, rowid, text, tags)
    VALUES ('delete', -old.id, old.text,
            coalesce((SELECT tags FROM deploy_tags WHERE id = old.deploy_id), ''));
END;
CREATE TRIGGER log_lines_search_update AFTER UPDATE OF text, deploy_id ON log_lines BEGIN
    INSERT INTO log_search (log_search, rowid, text, tags)
    VALUES ('delete', -old.id, old.text,
            coalesce((SELECT tags FROM deploy_tags WHERE id = old.deploy_id), ''));
    INSERT INTO log_search (rowid, text, tags)
    SELECT -id, text, tags FROM log_search_rows WHERE id = new.id;
END;
