"""The customer portal (``/portal``): a customer manages its own billing."""
