"""The IMAP source: one client module (:mod:`.connection`, also used by ``bouncer check``)
and one watcher per (account, folder) (:mod:`.watcher`)."""

from bouncer.sources.imap.connection import ImapError, ImapSession, Step, open_imap
from bouncer.sources.imap.watcher import FolderWatcher, WatcherOptions, WatcherStatus

__all__ = ["FolderWatcher", "ImapError", "ImapSession", "Step", "WatcherOptions", "WatcherStatus", "open_imap"]
