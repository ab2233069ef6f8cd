#: Follows billgate's own version (tests/test_clients_agree.py checks they agree).
__version__ = "0.1.0"
