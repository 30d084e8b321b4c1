"""`bouncer report`: what has been recorded, per tenant."""

from __future__ import annotations

import argparse
from typing import TextIO

from bouncer.config import Config
from bouncer.errors import BouncerError


async def print_report(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    raise BouncerError("reports are not built yet")
