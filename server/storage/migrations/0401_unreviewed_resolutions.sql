-- Resolutions saved before review existed went straight into the knowledge base, unreviewed. They
-- become pending proposals (support approves or rejects them in the console) and leave the
-- knowledge base, so no unreviewed user text is retrieved any more. Their stored text files are no
-- longer referenced by any version.
INSERT INTO resolution_proposals (session_id, user_id, machine_id, machine_model, lang, title, body, created_at)
SELECT s.id, s.user_id, s.machine_id, d.machine_models[1], d.lang, d.title,
       coalesce((SELECT string_agg(c.text, E'\n' ORDER BY c.ordinal) FROM kb_chunks c
                  WHERE c.version_id = d.current_version_id), ''),
       d.created_at
  FROM kb_documents d JOIN sessions s ON d.source = 'session:' || s.id
 WHERE d.kind = 'resolution'
ON CONFLICT DO NOTHING;

DELETE FROM kb_documents WHERE kind = 'resolution' AND source LIKE 'session:%'
   AND NOT EXISTS (SELECT 1 FROM resolution_proposals p WHERE p.entry_id = kb_documents.id);
