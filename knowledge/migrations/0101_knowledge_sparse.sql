-- Sparse "latent term" vectors from the local embedder's sparse head: a third retriever that matches
-- across languages better than the dense vectors do (measured in docs/retrieval.md). Optional: NULL
-- for embedders without a sparse head.
ALTER TABLE kb_chunks ADD COLUMN sparse sparsevec;
ALTER TABLE kb_chunks ADD COLUMN sparse_dim integer;
CREATE INDEX kb_chunks_sparse_16384 ON kb_chunks
    USING hnsw ((sparse::sparsevec(16384)) sparsevec_ip_ops) WHERE sparse_dim = 16384;
