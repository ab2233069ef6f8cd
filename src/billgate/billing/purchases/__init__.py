"""Purchases: what a customer owns and how it got it (checkout, server grant, included by
default), with the catalog's rules and the item grants that follow."""
