"""The SQL in docs/reporting.md runs, against a SuiteCRM-shaped campaign_log, and answers right."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from store_helpers import analysis, fetched, item, recipient

from bouncer.analysis.taxonomy import Kind, Reason
from bouncer.config import DatabaseConfig
from bouncer.store import Store
from bouncer.store.migrate import upgrade

DOC = Path(__file__).parents[2] / "docs" / "reporting.md"

CAMPAIGN_LOG = """
CREATE TABLE campaign_log (
    id varchar(36) PRIMARY KEY, campaign_id varchar(36), target_tracker_key varchar(36), target_id varchar(36),
    target_type varchar(100), activity_type varchar(100), activity_date timestamp, related_id varchar(36),
    related_type varchar(100), archived boolean DEFAULT false, hits int DEFAULT 0, list_id varchar(36),
    deleted boolean DEFAULT false, date_modified timestamp, more_information varchar(100), marketing_id varchar(36)
)"""


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def pg_database(new_pg_url: Callable[[], str]) -> DatabaseConfig:
    return DatabaseConfig(url=new_pg_url())


async def test_the_documented_campaign_queries(pg_database: DatabaseConfig) -> None:
    database = pg_database
    await upgrade(database)
    store = await Store.open(database)
    try:
        await store.record(
            [
                item(fetched(), analysis(Kind.BOUNCE, recipient("a@x.org", Reason.MAILBOXFULL), tracker_key="t-a")),
                item(fetched(), analysis(Kind.BOUNCE, recipient("a@x.org"), tracker_key="t-a")),
                item(fetched(), analysis(Kind.BOUNCE, recipient("b@x.org", Reason.BLOCKED), tracker_key="t-b")),
                item(fetched(), analysis(Kind.DELAY, recipient("c@x.org", Reason.EXPIRED), tracker_key="t-c")),
                item(fetched(tenant="other"), analysis(Kind.BOUNCE, recipient("d@x.org"), tracker_key="t-d")),
            ]
        )
        async with store.engine.begin() as connection:
            await connection.execute(text(CAMPAIGN_LOG))
            for n, key in enumerate(["t-a", "t-b", "t-c", "t-d", "t-e"]):
                await connection.execute(
                    text(
                        "INSERT INTO campaign_log (id, campaign_id, target_tracker_key, target_id, target_type,"
                        " activity_type, activity_date, deleted) VALUES (:id, 'camp-1', :key, :target, 'Contacts',"
                        " 'targeted', now(), :deleted)"
                    ),
                    {"id": f"log-{n}", "key": key, "target": f"contact-{n}", "deleted": key == "t-e"},
                )
            # the doc writes `deleted = 0` (SuiteCRM on MySQL); here deleted is boolean
            queries = [q.replace("deleted = 0", "deleted = false") for q in doc_queries()]
            assert len(queries) == 3
            binds = {"tenant": "acme", "campaign_id": "camp-1"}
            targets = (await connection.execute(text(queries[0]), binds)).mappings().all()
            totals = (await connection.execute(text(queries[1]), binds)).mappings().one()
            suppress = (await connection.execute(text(queries[2]), {"tenant": "acme"})).mappings().all()
    finally:
        await store.close()

    outcome = {row["target_tracker_key"]: (row["bounce_outcome"], row["crm_activity"]) for row in targets}
    assert outcome == {
        "t-a": ("hard", "invalid email"),
        "t-b": ("soft", "send error"),
        "t-c": ("delay", None),
        "t-d": ("none", None),  # another tenant's failure is not this CRM's
    }
    assert dict(totals) == {
        "campaign_id": "camp-1",
        "targeted": 4,
        "invalid_email": 1,
        "send_error": 1,
        "still_delayed": 1,
        "complaints": 0,
        "not_bounced": 2,
    }
    assert [row["recipient"] for row in suppress] == ["a@x.org"]
