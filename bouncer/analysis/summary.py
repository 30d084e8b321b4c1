"""A readable one-message summary, for `bouncer parse` without --json."""

from __future__ import annotations

from bouncer.analysis.result import Analysis


def summarise(source: str, analysis: Analysis) -> str:
    lines = [f"{source}: {analysis.kind}" + (f" ({analysis.mail_system})" if analysis.mail_system else "")]
    for r in analysis.recipients:
        verdict = "hard" if r.hard else "soft"
        code = " ".join(x for x in (r.status, r.reply_code) if x) or "-"
        lines.append(f"  {r.address}  {r.action}  {code}  {r.reason} ({verdict}, {r.crm_activity})")
    if analysis.tracker_key:
        lines.append(f"  tracker key: {analysis.tracker_key}")
    if analysis.error:
        lines.append(f"  could not finish: {analysis.error}")
    return "\n".join(lines)
