-- Bounded full-text candidates. ts_rank over every chunk matching an OR of the query's words is what
-- made hybrid search slow on a large corpus; search now ranks only a capped set taken from the GIN
-- index, chunks matching two of the words first (they are the ones ts_rank puts on top), then
-- chunks matching one.

-- The query's distinct lexemes under every supported configuration, without the corpus's common
-- words (all kept when every word is common), in the order they first appear in the query.
CREATE FUNCTION kb_query_lexemes(q text, skip text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH lex AS (
        SELECT t.lexeme, min(p) AS first
        FROM unnest(ARRAY['english', 'spanish', 'norwegian', 'greek', 'arabic', 'turkish', 'simple']::regconfig[]) AS cfg,
             LATERAL unnest(to_tsvector(cfg, q)) AS t, LATERAL unnest(t.positions) AS p
        GROUP BY t.lexeme
    ), kept AS (
        SELECT lexeme, first FROM lex WHERE lexeme <> ALL (coalesce(skip, '{}'::text[]))
    )
    SELECT coalesce(array_agg(lexeme ORDER BY first, lexeme), '{}'::text[])
    FROM (SELECT lexeme, first FROM kept UNION ALL SELECT lexeme, first FROM lex WHERE NOT EXISTS (SELECT 1 FROM kept)) words
$$;

-- An OR of the lexemes (the same query as kb_tsquery(q, skip)).
CREATE FUNCTION kb_tsquery_any(lexemes text[]) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery FROM unnest(lexemes) AS l
$$;

-- Chunks containing at least two of the first ``width`` lexemes: an OR of every pair (at most
-- width * (width - 1) / 2 pairs, so the GIN check per row stays cheap). NULL for a single lexeme.
CREATE FUNCTION kb_tsquery_pairs(lexemes text[], width integer) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(coalesce(string_agg('(' || quote_literal(a) || ' & ' || quote_literal(b) || ')', ' | '), ''), '')::tsquery
    FROM unnest(lexemes[1:width]) WITH ORDINALITY x(a, i)
    JOIN unnest(lexemes[1:width]) WITH ORDINALITY y(b, j) ON i < j
$$;
