-- Core schema of the chat hub: sessions, messages and the records around them.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE sessions (
    id              text PRIMARY KEY,
    user_id         text NOT NULL,
    user_name       text NOT NULL DEFAULT '',
    lang            text NOT NULL DEFAULT 'en',
    machine_id      text,
    status          text NOT NULL DEFAULT 'open',       -- open | resolved | unresolved | escalated | closed
    state           jsonb NOT NULL DEFAULT '{}'::jsonb,  -- diagnostic state, flags
    last_seq        bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_idx ON sessions (user_id, updated_at DESC);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    session_id      text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role            text NOT NULL,                      -- user | assistant | support | system
    client_id       text,
    text            text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'complete',   -- streaming | complete | cancelled | failed
    mode            text,                               -- llm | retrieval_only | support
    lang            text,
    reply_to        text,
    citations       jsonb NOT NULL DEFAULT '[]'::jsonb,
    steps           jsonb NOT NULL DEFAULT '[]'::jsonb,
    model           text,
    prompt_tokens   integer,
    completion_tokens integer,
    cost_usd        numeric(12, 6),
    error_code      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX messages_session_idx ON messages (session_id, created_at);
CREATE UNIQUE INDEX messages_client_id_idx ON messages (session_id, client_id) WHERE client_id IS NOT NULL;

CREATE TABLE escalations (
    id              bigserial PRIMARY KEY,
    ticket_number   text UNIQUE,
    session_id      text NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    machine_id      text,
    trigger         text NOT NULL,                      -- user | failed_steps | not_covered | feedback | safety
    reason          text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'open',       -- open | in_progress | closed
    snapshot        jsonb NOT NULL DEFAULT '{}'::jsonb, -- transcript, machine, steps and answers at creation
    assignee        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escalations_status_idx ON escalations (status, created_at);

CREATE TABLE analytics_events (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL,                      -- session_started, turn, feedback, escalation, resolved, ...
    session_id      text,
    message_id      text,
    user_id         text,
    machine_model   text,
    lang            text,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_kind_time_idx ON analytics_events (kind, created_at);

CREATE TABLE user_consents (
    user_id         text NOT NULL,
    purpose         text NOT NULL,                      -- e.g. conversation_storage, voice_processing
    granted         boolean NOT NULL,
    version         text NOT NULL DEFAULT '1',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, purpose, created_at)
);

CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    actor           text NOT NULL,
    action          text NOT NULL,
    target          text,
    data            jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_time_idx ON audit_log (created_at);
