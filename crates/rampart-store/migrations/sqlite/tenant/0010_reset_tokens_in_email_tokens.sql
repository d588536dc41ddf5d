-- Password-reset codes now live in email_tokens (purpose 'password_reset').
DROP TABLE password_resets;
