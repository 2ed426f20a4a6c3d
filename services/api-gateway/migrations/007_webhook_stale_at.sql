-- When a claimed webhook delivery must have ended, by the settings of the
-- api-gateway that claimed it (twice its attempts' timeouts and backoffs,
-- plus a minute). The sweep (webhook.c) records a claim past it with no
-- outcome as interrupted; judging by the claimer's settings, not the
-- sweeper's, keeps an instance with shorter timeouts from failing a delivery
-- another instance is still retrying. NULL for claims made before this
-- column: those are judged by the sweeper's settings.
ALTER TABLE calls ADD COLUMN webhook_stale_at timestamptz;
