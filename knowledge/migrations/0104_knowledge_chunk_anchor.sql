-- The anchor of a chunk's section in the original file (the id of an HTML heading), so that a
-- citation opens the cited section there; '' when the format or the page has none.
ALTER TABLE kb_chunks ADD COLUMN anchor text NOT NULL DEFAULT '';
