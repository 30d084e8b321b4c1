"""Recording analysed messages and their delivery failures in the database.

The daemon uses :class:`Store` (``await Store.open(config.database)``) and hands it
:class:`ToRecord` batches; reports and health checks read the same tables.
"""

from bouncer.store.store import MailboxState, Store, ToRecord

__all__ = ["MailboxState", "Store", "ToRecord"]
