CREATE TABLE email_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    email_key TEXT NOT NULL,
    email TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    role TEXT,
    expires_at INTEGER NOT NULL
);

CREATE INDEX email_tokens_email ON email_tokens (purpose, email_key);
