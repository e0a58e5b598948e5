-- The first schema of modvault's index (SQLite). Times are Unix
-- nanoseconds in UTC; text compares byte by byte (SQLite's default BINARY
-- collation), which the keyset paging relies on.

-- One row per module that has at least one version in versions.
CREATE TABLE modules (
	id      INTEGER PRIMARY KEY,
	path    TEXT NOT NULL UNIQUE, -- the module path, not case-encoded
	esc_key TEXT NOT NULL UNIQUE  -- the case-encoded path followed by "/@v/": the store's key order
);
-- Substring search on paths (SearchModules): a trigram index of them,
-- kept in step with modules by triggers.
CREATE VIRTUAL TABLE modules_fts USING fts5(path, tokenize = 'trigram', content = 'modules', content_rowid = 'id');
CREATE TRIGGER modules_fts_insert AFTER INSERT ON modules BEGIN
	INSERT INTO modules_fts (rowid, path) VALUES (new.id, new.path);
END;
CREATE TRIGGER modules_fts_delete AFTER DELETE ON modules BEGIN
	INSERT INTO modules_fts (modules_fts, rowid, path) VALUES ('delete', old.id, old.path);
END;

-- One row per stored version: a version whose .info is stored.
CREATE TABLE versions (
	esc_key         TEXT    NOT NULL, -- the module's modules.esc_key
	module          TEXT    NOT NULL,
	version         TEXT    NOT NULL,
	vsort           TEXT    NOT NULL, -- sorts as the versions do; ends with " " and the version
	stored_at       INTEGER NOT NULL, -- when the .info was stored
	recorded_at     INTEGER NOT NULL, -- when this row was last written from the store
	source_kind     TEXT    NOT NULL, -- "upstream" or "direct"
	source_upstream TEXT    NOT NULL DEFAULT '',
	origin_vcs      TEXT    NOT NULL DEFAULT '',
	origin_url      TEXT    NOT NULL DEFAULT '',
	origin_ref      TEXT    NOT NULL DEFAULT '',
	origin_hash     TEXT    NOT NULL DEFAULT '',
	info_size       INTEGER NOT NULL,
	info_sha256     TEXT    NOT NULL,
	mod_size        INTEGER NOT NULL,
	mod_sha256      TEXT    NOT NULL,
	mod_h1          TEXT    NOT NULL,
	zip_size        INTEGER,          -- NULL: no zip stored (yet)
	zip_sha256      TEXT,
	zip_h1          TEXT,
	sumdb_name      TEXT,             -- NULL: not verified
	sumdb_record    INTEGER,
	sumdb_tree_size INTEGER,
	private         INTEGER NOT NULL DEFAULT 0,
	downloads       INTEGER NOT NULL DEFAULT 0, -- zips served
	hits            INTEGER NOT NULL DEFAULT 0, -- .info and .mod files served
	last_download   INTEGER,                    -- when a file was last served
	PRIMARY KEY (esc_key, vsort)      -- /catalog: a module's versions in order, modules in the store's order
);
-- /index: versions in stored order.
CREATE INDEX versions_by_time ON versions (stored_at, module, vsort);

-- The audit trail: zip downloads, fills and refusals.
CREATE TABLE events (
	id          INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	user_name   TEXT    NOT NULL, -- '' is anonymous
	client_addr TEXT    NOT NULL,
	replica     TEXT    NOT NULL,
	module      TEXT    NOT NULL,
	version     TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	result      TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	bytes       INTEGER NOT NULL
);
-- Each index ends with the rowid (id): newest first is (at, id) descending.
CREATE INDEX events_by_time ON events (at);
CREATE INDEX events_by_module ON events (module, at);
CREATE INDEX events_by_user ON events (user_name, at);
CREATE INDEX events_by_result ON events (result, at);

-- .info and .mod files served, counted per version, user and day (UTC).
CREATE TABLE hit_counts (
	day       TEXT    NOT NULL, -- YYYY-MM-DD
	module    TEXT    NOT NULL,
	version   TEXT    NOT NULL,
	user_name TEXT    NOT NULL,
	count     INTEGER NOT NULL,
	PRIMARY KEY (day, module, version, user_name)
) WITHOUT ROWID;
