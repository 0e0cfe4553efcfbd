DROP TABLE mail_outbox;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
