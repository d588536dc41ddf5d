CREATE TABLE email_tokens (
    token_hash bytea PRIMARY KEY,
    purpose text NOT NULL,
    email_key text COLLATE "C" NOT NULL,
    email text NOT NULL,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    role text,
    expires_at timestamptz NOT NULL
);

CREATE INDEX email_tokens_email ON email_tokens (purpose, email_key);
