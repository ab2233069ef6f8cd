"""Auto top-up: a customer's standing order to buy a product when a balance runs low.

``settings`` (``setAutoTopUp`` and its reads), ``purchase`` (the scheduler's buying of each
crossing: claim -> charge -> record, and recovery of a run that died). Crossings are noted
on the ledger's side, in the balance change's own transaction
(``billing/items/top_up_crossings.py``).
"""
