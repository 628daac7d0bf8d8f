"""Provider adapters: parse inbound payloads into `Inbound`, render a `Reply`, send, parse receipts.

Every provider module has the same shape, in the same order as a webhook is handled:

- `parse_*(form_or_json, default_country)` -> `Inbound` / `StatusUpdate` (pure; raise
  `InvalidPayload(field, problem)` for anything missing or malformed);
- a `STATUS` table mapping the provider's receipt states onto `MessageStatus`;
- an adapter class with `provider` and `send(Outgoing) -> SendResult`, raising
  `SendError(retryable=..., retry_after=..., opted_out=...)`; built once per process
  from the Settings by `registry.adapter_for(provider)`.

Signature checks live in `gateway.security` (they need the HTTP request); rendering is
`render.render_for(channel, reply, ...)`, the same for every provider, so the console
shows exactly what a phone would. Modules: `africastalking` (SMS + USSD), `twilio`
(SMS + WhatsApp), `meta` (WhatsApp Cloud API), `console`; `sms` (GSM-7 maths), `ussd`,
`whatsapp` (rendering), `outbound` (storing replies), `jobs` (the send job),
`receipts` (delivery receipts and opt-outs).
"""
