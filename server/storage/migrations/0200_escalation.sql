-- Escalation: one open ticket per session, support replies, and the delivery record of every
-- support notification (e-mail, webhook) so a retried job never sends a delivered one again.

-- At most one ticket per session that is not closed: a second escalate returns the same ticket.
CREATE UNIQUE INDEX escalations_open_session_idx ON escalations (session_id) WHERE status <> 'closed';

CREATE TABLE support_replies (
    message_id      text PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    escalation_id   bigint NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    agent_id        text NOT NULL,
    agent_name      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_replies_escalation_idx ON support_replies (escalation_id, created_at);

CREATE TABLE notification_deliveries (
    id              text PRIMARY KEY,                     -- X-ABParts-Delivery header, e-mail Message-ID
    escalation_id   bigint NOT NULL REFERENCES escalations(id) ON DELETE CASCADE,
    event           text NOT NULL,                        -- escalation.created
    channel         text NOT NULL,                        -- email | webhook
    target          text NOT NULL,                        -- e-mail address or URL
    payload         jsonb NOT NULL,                       -- {"sealed": ...}: frozen at creation (encrypted with CONVERSATION_ENCRYPTION_KEY)
    status          text NOT NULL DEFAULT 'pending',      -- pending | sending | failed (will retry) | sent | abandoned
    attempts        integer NOT NULL DEFAULT 0,
    uncertain       boolean NOT NULL DEFAULT false,       -- an attempt failed after the receiver may have accepted
    claimed_until   timestamptz,                          -- lease of the attempt in progress
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notification_deliveries_escalation_idx ON notification_deliveries (escalation_id);
CREATE INDEX notification_deliveries_status_idx ON notification_deliveries (status) WHERE status <> 'sent';

CREATE INDEX analytics_session_kind_idx ON analytics_events (session_id, kind);
