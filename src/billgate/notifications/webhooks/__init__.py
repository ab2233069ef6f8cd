"""Outgoing webhooks: signed, retried, per-customer ordered events to the app's backend.

By role: ``events`` (the outbox: ``record_event`` in the caller's transaction),
``payloads`` (one builder per event type), ``signing`` (Standard Webhooks headers and
``whsec_`` secrets), ``url_policy`` (which URLs may be called: https or allowed http hosts,
never private addresses unless allowed), ``backoff`` (the retry schedule), ``sender`` (one
HTTP attempt), ``delivery`` (the scheduler's ``webhook.deliver`` job: claim with a lease,
send, record), ``endpoints`` (endpoint management and delivery reads, own transactions).
"""
