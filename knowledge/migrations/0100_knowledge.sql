-- Knowledge base: documents (manuals and short expert entries), their versions, and chunks.
-- A document is visible to search only through kb_documents.current_version_id, which is switched in
-- one transaction when a version is fully indexed: half-indexed or failed versions are never seen.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE kb_documents (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL DEFAULT 'manual' CHECK (kind IN ('manual', 'expert', 'correction', 'resolution')),
    title               text NOT NULL,
    filename            text NOT NULL DEFAULT '',
    machine_models      text[] NOT NULL DEFAULT '{}',
    lang                text,
    source              text,
    current_version_id  bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_documents_kind_idx ON kb_documents (kind);

CREATE TABLE kb_versions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     bigint NOT NULL REFERENCES kb_documents(id) ON DELETE CASCADE,
    sha256          text NOT NULL,
    content_type    text NOT NULL,
    byte_size       bigint NOT NULL,
    storage_key     text NOT NULL,
    filename        text NOT NULL DEFAULT '',
    title           text NOT NULL,
    machine_models  text[] NOT NULL DEFAULT '{}',
    lang            text,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'processing', 'ready', 'failed', 'superseded')),
    pages_total     integer,
    pages_done      integer NOT NULL DEFAULT 0,
    chunks          integer NOT NULL DEFAULT 0,
    error           text,
    embedder        text,
    embedding_dim   integer,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX kb_versions_document_idx ON kb_versions (document_id, id DESC);
CREATE INDEX kb_versions_sha_idx ON kb_versions (sha256);
CREATE INDEX kb_versions_open_idx ON kb_versions (status) WHERE status IN ('queued', 'processing');

ALTER TABLE kb_documents ADD CONSTRAINT kb_documents_current_fk
    FOREIGN KEY (current_version_id) REFERENCES kb_versions(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

-- The embedding column has no fixed dimension so another embedder can be adopted by a re-index;
-- each dimension gets its own partial HNSW index on an expression cast (384 is the default model's).
CREATE TABLE kb_chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version_id      bigint NOT NULL REFERENCES kb_versions(id) ON DELETE CASCADE,
    document_id     bigint NOT NULL,
    ordinal         integer NOT NULL,
    page            integer,
    section         text NOT NULL DEFAULT '',
    text            text NOT NULL,
    codes           text[] NOT NULL DEFAULT '{}',
    dim             integer NOT NULL,
    embedding       vector NOT NULL,
    tsv             tsvector NOT NULL
);
CREATE INDEX kb_chunks_version_idx ON kb_chunks (version_id);
CREATE INDEX kb_chunks_tsv_idx ON kb_chunks USING gin (tsv);
CREATE INDEX kb_chunks_codes_idx ON kb_chunks USING gin (codes);
CREATE INDEX kb_chunks_hnsw_384 ON kb_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dim = 384;

-- Text-search configuration per document language (stemming and stop words); 'simple' otherwise.
CREATE FUNCTION kb_ts_config(lang text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(coalesce(lang, ''))
        WHEN 'en' THEN 'english'::regconfig
        WHEN 'es' THEN 'spanish'::regconfig
        WHEN 'no' THEN 'norwegian'::regconfig
        WHEN 'nb' THEN 'norwegian'::regconfig
        WHEN 'nn' THEN 'norwegian'::regconfig
        WHEN 'el' THEN 'greek'::regconfig
        WHEN 'ar' THEN 'arabic'::regconfig
        WHEN 'tr' THEN 'turkish'::regconfig
        ELSE 'simple'::regconfig
    END
$$;

-- A query in an unknown language: OR of its words stemmed by each supported language (a word only
-- matches documents stemmed the same way), so natural questions match without needing every word.
CREATE FUNCTION kb_tsquery(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        nullif(string_agg(part, ' | '), ''),
        ''
    )::tsquery
    FROM (
        SELECT nullif(replace(plainto_tsquery(cfg, q)::text, ' & ', ' | '), '') AS part
        FROM unnest(ARRAY['english', 'spanish', 'norwegian', 'greek', 'arabic', 'turkish', 'simple']::regconfig[]) AS cfg
    ) parts
    WHERE part IS NOT NULL
$$;
