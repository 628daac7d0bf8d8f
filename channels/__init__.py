"""Provider adapters: parse inbound payloads into `Inbound`, render a `Reply`, send, parse receipts."""
