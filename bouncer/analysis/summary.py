"""A readable one-message summary, for `bouncer parse` without --json.

emails/lhost-postfix-01.eml: bounce, decoded as RFC3464
  kijitora@example.jp  failed  5.1.1 550  userunknown  HARD (invalid email)
    550 5.1.1 <kijitora@example.jp>: Recipient address rejected: User unknown
  tracker key: 0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9   original: <abc@example.com>
"""

from __future__ import annotations

from bouncer.analysis.result import Analysis

_KIND_WORDS = {
    "bounce": "bounce",
    "delay": "delay (still being retried)",
    "complaint": "complaint",
    "autoreply": "automatic reply",
    "delivered": "delivered",
    "not_bounce": "not a bounce",
}
DIAGNOSTIC_WIDTH = 110


def summarise(source: str, analysis: Analysis) -> str:
    head = f"{source}: {_KIND_WORDS.get(str(analysis.kind), str(analysis.kind))}"
    if analysis.mail_system:
        head += f", decoded as {analysis.mail_system}"
    if analysis.feedback_type:
        head += f", feedback type {analysis.feedback_type}"
    lines = [head]
    for r in analysis.recipients:
        verdict = "HARD" if r.hard else "soft"
        code = " ".join(x for x in (r.status, r.reply_code) if x) or "-"
        action = r.action or "-"
        lines.append(f"  {r.address}  {action}  {code}  {r.reason}  {verdict} ({r.crm_activity})")
        if r.diagnostic:
            diagnostic = (
                r.diagnostic if len(r.diagnostic) <= DIAGNOSTIC_WIDTH else r.diagnostic[:DIAGNOSTIC_WIDTH] + "..."
            )
            lines.append(f"    {diagnostic}")
    if analysis.tracker_key or analysis.original_message_id:
        key = analysis.tracker_key or "none found"
        original = f"   original: {analysis.original_message_id}" if analysis.original_message_id else ""
        lines.append(f"  tracker key: {key}{original}")
    if analysis.error:
        lines.append(f"  could not finish: {analysis.error}")
    return "\n".join(lines)
