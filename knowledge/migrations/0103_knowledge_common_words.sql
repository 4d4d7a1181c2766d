-- Full-text query without the corpus's most common words (given by the caller from pg_stats): an OR
-- of words found in a third of all chunks ranks a third of the table for nothing (1.4 s at 100k
-- chunks). When every word is common, all are kept.
CREATE FUNCTION kb_tsquery(q text, skip text[]) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH lex AS (
        SELECT DISTINCT t.lexeme
        FROM unnest(ARRAY['english', 'spanish', 'norwegian', 'greek', 'arabic', 'turkish', 'simple']::regconfig[]) AS cfg,
             LATERAL unnest(to_tsvector(cfg, q)) AS t
    ), kept AS (
        SELECT lexeme FROM lex WHERE lexeme <> ALL (coalesce(skip, '{}'::text[]))
    )
    SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery
    FROM (SELECT lexeme FROM kept UNION ALL SELECT lexeme FROM lex WHERE NOT EXISTS (SELECT 1 FROM kept)) words
$$;
