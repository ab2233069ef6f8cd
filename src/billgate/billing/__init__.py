"""The billing engine: plain async services over an ``AsyncSession``.

No GraphQL, HTTP or Stripe types in here: callers map ``errors.BillgateError`` to their
own error shapes.
"""
