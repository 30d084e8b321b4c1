"""Recording analysed messages and their delivery failures in the database.

The daemon uses :class:`Store` (``await Store.open(config.database)``) and hands it
:class:`ToRecord` batches; reports and health checks read the same tables.
"""

from bouncer.store.store import ForwardInDoubt, MailboxState, PendingForward, Store, ToRecord

__all__ = ["ForwardInDoubt", "MailboxState", "PendingForward", "Store", "ToRecord"]
