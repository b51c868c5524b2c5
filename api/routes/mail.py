"""The console's mail page: the last messages the mail catcher of `gridtalk run` caught (core.notices.mailcatcher),
newest first — so that on a machine without a mail server the notices and the web chat's email codes can
still be read. The catcher is on when GRIDTALK_MAIL_CATCHER_DIR is set (`gridtalk run` sets it for its
children when GRIDTALK_SMTP_HOST is unset); otherwise the page says where email goes instead.

Emails carry customers' addresses and codes: the page is for those who may read the audit log.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.console.render import render
from api.deps import SettingsDep, StaffContext, require_page
from core.notices.mailcatcher import KEEP, MailFolder
from core.staff.permissions import Permission

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("/mail")
async def mail_page(
    request: Request,
    settings: SettingsDep,
    staff: Annotated[StaffContext, Depends(require_page(Permission.AUDIT_READ))],
    limit: Annotated[int, Query(ge=1, le=KEEP)] = 50,
) -> Response:
    folder = settings.mail_catcher_dir
    if folder is None:
        return render(request, "mail", staff, on=False, mails=[], keep=KEEP)
    mails = await asyncio.to_thread(MailFolder(folder).latest, limit)
    return render(request, "mail", staff, on=True, mails=mails, keep=KEEP)
