-- What the policy engine judges a version by, besides its rules and the
-- vulnerability database: the licenses detected in its zip, and when this
-- modvault first saw it.

-- The license files detected in the version's recorded zip, as JSON
-- ([{"path": "LICENSE", "types": ["MIT"], "coverage": 100}], [] for a zip
-- without one); NULL: not detected (yet). They belong to the zip: recording
-- another zip (a different zip_sha256) sets them back to NULL.
ALTER TABLE versions ADD COLUMN licenses TEXT;

-- The earliest time this modvault saw each version: in an upstream's list
-- or @latest answer, or by storing it. A table of its own, not a column of
-- versions: most versions seen in lists are never stored, and the time must
-- outlive a reindex (Reset, Sweep) and a version's removal, so that a
-- version's clock never starts again.
CREATE TABLE first_seen (
	module  TEXT COLLATE "C" NOT NULL, -- the module path, not case-encoded
	version TEXT COLLATE "C" NOT NULL,
	at      BIGINT NOT NULL,
	PRIMARY KEY (module, version)
);
-- Versions stored before this table existed were first seen when their
-- .info was stored, as far as this modvault knows.
INSERT INTO first_seen (module, version, at) SELECT module, version, stored_at FROM versions;
