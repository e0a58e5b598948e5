-- The first schema of modvault's index (PostgreSQL). Times are Unix
-- nanoseconds in UTC (BIGINT: a timestamptz keeps only microseconds, and
-- the store's times have nanoseconds). Text that is ordered or paged on is
-- COLLATE "C", so that it compares byte by byte whatever the database's
-- collation: the keyset paging relies on it.

-- One row per module that has at least one version in versions.
CREATE TABLE modules (
	path    TEXT COLLATE "C" NOT NULL PRIMARY KEY, -- the module path, not case-encoded
	esc_key TEXT COLLATE "C" NOT NULL UNIQUE       -- the case-encoded path followed by "/@v/": the store's key order
);
-- Substring search on paths (SearchModules).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX modules_path_trgm ON modules USING gin (path gin_trgm_ops);

-- One row per stored version: a version whose .info is stored.
CREATE TABLE versions (
	esc_key         TEXT COLLATE "C" NOT NULL, -- the module's modules.esc_key
	module          TEXT COLLATE "C" NOT NULL,
	version         TEXT    NOT NULL,
	vsort           TEXT COLLATE "C" NOT NULL, -- sorts as the versions do; ends with " " and the version
	stored_at       BIGINT  NOT NULL, -- when the .info was stored
	recorded_at     BIGINT  NOT NULL, -- when this row was last written from the store
	source_kind     TEXT    NOT NULL, -- 'upstream' or 'direct'
	source_upstream TEXT    NOT NULL DEFAULT '',
	origin_vcs      TEXT    NOT NULL DEFAULT '',
	origin_url      TEXT    NOT NULL DEFAULT '',
	origin_ref      TEXT    NOT NULL DEFAULT '',
	origin_hash     TEXT    NOT NULL DEFAULT '',
	info_size       BIGINT  NOT NULL,
	info_sha256     TEXT    NOT NULL,
	mod_size        BIGINT  NOT NULL,
	mod_sha256      TEXT    NOT NULL,
	mod_h1          TEXT    NOT NULL,
	zip_size        BIGINT,          -- NULL: no zip stored (yet)
	zip_sha256      TEXT,
	zip_h1          TEXT,
	sumdb_name      TEXT,            -- NULL: not verified
	sumdb_record    BIGINT,
	sumdb_tree_size BIGINT,
	private         BOOLEAN NOT NULL DEFAULT false,
	downloads       BIGINT  NOT NULL DEFAULT 0, -- zips served
	hits            BIGINT  NOT NULL DEFAULT 0, -- .info and .mod files served
	last_download   BIGINT,                     -- when a file was last served
	PRIMARY KEY (esc_key, vsort)             -- /catalog: a module's versions in order, modules in the store's order
);
-- /index: versions in stored order.
CREATE INDEX versions_by_time ON versions (stored_at, module, vsort);

-- The audit trail: zip downloads, fills and refusals.
CREATE TABLE events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          BIGINT NOT NULL,
	user_name   TEXT   NOT NULL, -- '' is anonymous
	client_addr TEXT   NOT NULL,
	replica     TEXT   NOT NULL,
	module      TEXT   NOT NULL,
	version     TEXT   NOT NULL,
	kind        TEXT   NOT NULL,
	result      TEXT   NOT NULL,
	reason      TEXT   NOT NULL,
	bytes       BIGINT NOT NULL
);
-- Newest first is (at, id) descending.
CREATE INDEX events_by_time ON events (at, id);
CREATE INDEX events_by_module ON events (module, at, id);
CREATE INDEX events_by_user ON events (user_name, at, id);
CREATE INDEX events_by_result ON events (result, at, id);

-- .info and .mod files served, counted per version, user and day (UTC).
CREATE TABLE hit_counts (
	day       TEXT COLLATE "C" NOT NULL, -- YYYY-MM-DD
	module    TEXT COLLATE "C" NOT NULL,
	version   TEXT COLLATE "C" NOT NULL,
	user_name TEXT COLLATE "C" NOT NULL,
	count     BIGINT NOT NULL,
	PRIMARY KEY (day, module, version, user_name)
);
