"""Who may change the corpus: the role of a user of the app (readers ask, editors also change documents)."""
from __future__ import annotations

import logging

from ui.auth import EDITOR, READER
from ui.requests import UserFacingError

logger = logging.getLogger(__name__)


class Roles:
    """Roles of the app's users; `users` is name -> role when login is on, None when it is off (all edit)."""

    users: dict[str, str] | None

    def role_of(self, user: str | None) -> str:
        if self.users is None:
            return EDITOR
        return self.users.get(user or "", READER)

    def can_edit(self, user: str | None) -> bool:
        return self.role_of(user) == EDITOR

    def require_editor(self, user: str | None) -> None:
        if not self.can_edit(user):
            logger.info("user %r (reader) tried to change the corpus", user)
            raise UserFacingError("你的账号只能提问和评估（只读），不能上传、替换、删除、恢复文档或修改别名年份。需要修改请联系管理员。")
