-- Privacy and accountability: consents looked up by user, saved-resolution proposals awaiting
-- review, and an audit log that cannot be changed and is hash-chained.

CREATE INDEX IF NOT EXISTS user_consents_user_idx ON user_consents (user_id, purpose, created_at DESC);

-- "Problem solved" proposes a resolution; it reaches the knowledge base only when support or an
-- admin approves it (possibly edited). Pending and rejected proposals are never searched.
CREATE TABLE resolution_proposals (
    id              bigserial PRIMARY KEY,
    session_id      text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    machine_id      text,
    machine_model   text,
    lang            text,
    title           text NOT NULL,                        -- sealed with CONVERSATION_ENCRYPTION_KEY
    body            text NOT NULL,                        -- sealed with CONVERSATION_ENCRYPTION_KEY
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reviewer        text,
    entry_id        bigint,                               -- the kb_documents row of an approved proposal
    created_at      timestamptz NOT NULL DEFAULT now(),
    reviewed_at     timestamptz
);
CREATE INDEX resolution_proposals_status_idx ON resolution_proposals (status, created_at);
CREATE INDEX resolution_proposals_user_idx ON resolution_proposals (user_id);
-- one proposal per session that is still open for review
CREATE UNIQUE INDEX resolution_proposals_pending_idx ON resolution_proposals (session_id) WHERE status = 'pending';

-- The audit log: each row carries the hash of the row before it, so removing or changing a row
-- (with the triggers below dropped by someone with the rights to) breaks the chain, which
-- `python -m server audit-verify` detects.
ALTER TABLE audit_log ADD COLUMN prev_hash text NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash text NOT NULL DEFAULT '';

-- The text a row's hash is computed over: every field, length-prefixed, then the previous hash.
-- server/storage/audit.py computes the same text to verify the chain.
CREATE FUNCTION audit_log_canonical(id bigint, actor text, action text, target text, data jsonb,
                                    created_at timestamptz, prev_hash text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(length(part)::text || ':' || part, '' ORDER BY n)
    FROM unnest(ARRAY[
        id::text, actor, action, coalesce(target, ''), data::text,
        to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), prev_hash
    ]) WITH ORDINALITY AS t(part, n)
$$;

-- Chain the existing rows first, in id order.
DO $$
DECLARE
    r record;
    prev text := '';
    h text;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        h := encode(sha256(convert_to(audit_log_canonical(r.id, r.actor, r.action, r.target, r.data, r.created_at, prev), 'UTF8')), 'hex');
        UPDATE audit_log SET prev_hash = prev, hash = h WHERE id = r.id;
        prev := h;
    END LOOP;
END
$$;

-- Each new row: take the chain's lock, number the row after the last one, link and hash it.
CREATE FUNCTION audit_log_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    prev text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('audit_log_chain'));
    NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    NEW.created_at := clock_timestamp();
    NEW.data := coalesce(NEW.data, '{}'::jsonb);
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.prev_hash := coalesce(prev, '');
    NEW.hash := encode(sha256(convert_to(audit_log_canonical(NEW.id, NEW.actor, NEW.action, NEW.target, NEW.data,
                                                             NEW.created_at, NEW.prev_hash), 'UTF8')), 'hex');
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

-- Append-only: no row is changed or removed, and the table is not emptied.
CREATE FUNCTION audit_log_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
