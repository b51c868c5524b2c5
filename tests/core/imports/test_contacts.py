"""The contacts file: a key account's contacts upserted by (account number, name), and its manager; every bad
row reported (account numbers masked), nothing of a bad file stored."""

from __future__ import annotations

from sqlalchemy import select

from core.clock import FrozenClock
from core.imports import ImportKind
from core.models import KeyAccountContact, KeyAccountProfile
from core.models.enums import Language
from tests.core.imports.importing import Maker, counts, example, load_examples, rows, run, snapshot, where
from tests.support.staff import make_staff

CONTACTS = ImportKind.CONTACTS
HOSPITAL = "3309000004"


async def contacts(sessionmaker: Maker) -> dict[str, KeyAccountContact]:
    async with sessionmaker() as session:
        return {c.name: c for c in await session.scalars(select(KeyAccountContact).order_by(KeyAccountContact.id))}


async def test_the_example_creates_the_contacts_and_a_second_import_changes_nothing(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.ACCOUNTS)
    report = await run(sessionmaker, clock, CONTACTS, example(CONTACTS))
    assert counts(report) == {"contacts": (3, 0, 0), "account managers": (0, 0, 1)}  # the accounts file named him
    found = await contacts(sessionmaker)
    assert list(found) == ["沈建华", "Laura Chen", "医院总值班室"]  # told in the file's order
    laura, desk = found["Laura Chen"], found["医院总值班室"]
    assert (laura.title, laura.phone, laura.email, laura.language) == (
        "Facilities Manager",
        None,
        "laura.chen@example.com",
        Language.EN,
    )
    assert (desk.phone, desk.email, desk.telegram_chat_id) == ("057182109999", None, None)
    assert desk.created_at == clock.now()

    stored = await snapshot(sessionmaker)
    again = await run(sessionmaker, clock, CONTACTS, example(CONTACTS))
    assert counts(again) == {"contacts": (0, 0, 3), "account managers": (0, 0, 1)}
    assert await snapshot(sessionmaker) == stored


async def test_a_new_manager_and_changed_contacts_are_updates(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, CONTACTS)
    he = await make_staff(sessionmaker, clock, "manager.he", "account_manager")
    head = "account_number,name,telegram_chat_id,account_manager"  # no phone or email column: both kept
    changed = rows(CONTACTS, f"{HOSPITAL},沈建华,720000123,manager.he", f"{HOSPITAL},Laura Chen,,manager.he", head=head)
    report = await run(sessionmaker, clock, CONTACTS, changed)
    assert counts(report) == {"contacts": (0, 1, 1), "account managers": (0, 1, 0)}
    shen = (await contacts(sessionmaker))["沈建华"]
    assert (shen.telegram_chat_id, shen.phone, shen.email) == (720000123, "13905719001", "shen.jianhua@example.com")
    async with sessionmaker() as session:
        managers = list(await session.scalars(select(KeyAccountProfile.account_manager_id)))
    assert managers == [he.id]


async def test_every_bad_row_is_reported_with_numbers_masked_and_nothing_is_stored(
    sessionmaker: Maker, clock: FrozenClock
) -> None:
    await load_examples(sessionmaker, clock, ImportKind.ACCOUNTS)
    before = await snapshot(sessionmaker)
    bad = rows(
        CONTACTS,
        f"{HOSPITAL},沈建华,电气主管,13905719001,shen.jianhua@example.com,,zh,manager.xu",
        f"{HOSPITAL},沈建华,电气主管,13905719001,,,zh,manager.xu",  # the same contact twice
        f"{HOSPITAL},冯涛,值班长,,,,zh,manager.zhao",  # nowhere to reach; another manager
        "3309000099,孙倩,行政主管,13905719003,,,zh,",  # no such account
        "3309000001,陈晓明,,13905710001,,,zh,",  # not a key account
        "3309000005,何静,,,he.jing@,telegram,jp,nobody",  # bad email, chat id, language
    )
    report = await run(sessionmaker, clock, CONTACTS, bad)
    assert where(report) == [
        (3, "name"),
        (4, "account_manager"),
        (4, "phone"),
        (5, "account_number"),
        (6, "account_number"),
        (7, "email"),
        (7, "telegram_chat_id"),
        (7, "language"),
    ]
    messages = [error.message for error in report.errors]
    assert (
        messages[0]
        == "the same contact of this account with this name already on line 2: each may appear once in a file"
    )
    assert messages[1] == "account 33******04 is given another account manager on line 2"
    assert messages[2] == "a contact needs a phone, an email or a Telegram chat id"
    assert messages[3] == "account 33******99 is not in the database: load it first with `gridtalk import accounts`"
    assert messages[4] == "account 33******01 is not a key account: import it with segment key_account first"
    assert not any("3309" in message for message in messages)
    assert await snapshot(sessionmaker) == before


async def test_an_unknown_manager_is_reported_once_per_account(sessionmaker: Maker, clock: FrozenClock) -> None:
    await load_examples(sessionmaker, clock, ImportKind.ACCOUNTS)
    bad = rows(CONTACTS, f"{HOSPITAL},沈建华,,13905719001,,,,nobody", f"{HOSPITAL},刘海,,13905719002,,,,nobody")
    report = await run(sessionmaker, clock, CONTACTS, bad)
    assert where(report) == [(2, "account_manager")]
    assert report.errors[0].message.startswith("staff user 'nobody' does not exist or is disabled")
