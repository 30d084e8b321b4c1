"""bouncer: turns the bounce inboxes of CRM email campaigns into delivery-failure records."""

__version__ = "0.1.0"
