-- A webhook claimed but given no outcome: the api-gateway delivering it was
-- killed mid-delivery. The sweep (webhook.c) finds such calls by this index
-- and records them as failed, never sending again (at most once).
CREATE INDEX calls_webhook_inflight ON calls (webhook_claimed_at)
    WHERE webhook_claimed_at IS NOT NULL AND webhook_status IS NULL;
