-- Manuals are loaded and replaced in bulk: a re-index or a replacement deletes a whole version's
-- rows at once. pgvector's HNSW indexes only drop deleted rows from their graphs (and repair the
-- neighbours' links) when the table is vacuumed, so dead rows are vacuumed away at 5 % of the table
-- instead of PostgreSQL's default 20 %. Inserts stay incremental: a manual adds a few hundred rows,
-- which the existing indexes take in a small share of an ingestion's time (bench/bench_ingest.py).
ALTER TABLE kb_chunks SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_insert_scale_factor = 0.05);
