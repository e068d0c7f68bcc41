-- +goose Up
-- Every write of a session says which version it was based on, and only
-- lands if that is still the stored version: a request that was in flight
-- while its session was revoked, logged out or changed by another request
-- can no longer write the old state back.
--
-- renewed_to marks a session whose token was renewed (at login, at a
-- password change): the row stays, without data, for a short while, so
-- that a request of the old token that is still in flight learns which
-- account the session went to (and moves what it added to the guest cart
-- there) instead of writing the old session back.
ALTER TABLE sessions
    ADD COLUMN version    bigint NOT NULL DEFAULT 1,
    ADD COLUMN renewed_to text;

-- +goose Down
ALTER TABLE sessions DROP COLUMN version, DROP COLUMN renewed_to;
