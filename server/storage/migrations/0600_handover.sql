-- Handover to a person: who took a ticket and when, the notice sent when nobody took it in time,
-- and what the user gave a message (the author of a support message, the rating of an answer),
-- so every replica and every device shows the same record.

ALTER TABLE escalations
    ADD COLUMN claimed_by_id       text,           -- the agent who took the ticket (NULL: in the queue)
    ADD COLUMN claimed_at          timestamptz,
    ADD COLUMN unclaimed_notice_at timestamptz;    -- when the user was told nobody had taken it yet

-- the tickets the claim time-out sweep looks at
CREATE INDEX escalations_unclaimed_idx ON escalations (created_at)
    WHERE status = 'open' AND claimed_at IS NULL AND unclaimed_notice_at IS NULL;

ALTER TABLE messages
    ADD COLUMN author   text,                      -- support messages: the agent's name
    ADD COLUMN feedback text;                      -- assistant answers: up | down

UPDATE messages m SET author = r.agent_name FROM support_replies r WHERE r.message_id = m.id;
