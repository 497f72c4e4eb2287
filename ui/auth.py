"""App users from APP_USERS (name:password[:role]), their roles, and throttling of failed logins."""
from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass

EDITOR, READER = "editor", "reader"
ROLES = (EDITOR, READER)
DEFAULT_ROLE = EDITOR                # "name:password" without a role, as before roles existed
# Failed logins: at most this many per (user, address) and per address (any user) within the window.
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
FAILURE_WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class User:
    name: str
    password: str = ""
    role: str = DEFAULT_ROLE

    @property
    def can_edit(self) -> bool:
        return self.role == EDITOR


def parse_users(spec: str) -> list[User]:
    """APP_USERS "alice:pw1:editor,bob:pw2:reader,carol:pw3" -> users; no role means editor.

    A password may contain ':'; a last part that is exactly a role name is the role.

    Raises:
        ValueError: an entry without "name:password" or a repeated name, naming the entry's position
            (never the password).
    """
    users: dict[str, User] = {}
    for position, entry in enumerate((part.strip() for part in spec.split(",")), start=1):
        if not entry:
            continue
        name, colon, rest = entry.partition(":")
        password, role = rest, DEFAULT_ROLE
        head, colon_role, last = rest.rpartition(":")
        if colon_role and last.strip() in ROLES:
            password, role = head, last.strip()
        if not colon or not name.strip() or not password:
            raise ValueError(f"APP_USERS entry {position} is not name:password[:editor|reader]; "
                             "write APP_USERS=\"alice:secret:editor,bob:secret2:reader\"")
        if name.strip() in users:
            raise ValueError(f"APP_USERS entry {position} repeats the user name {name.strip()!r}; give each user one entry")
        users[name.strip()] = User(name.strip(), password, role)
    if not users:
        raise ValueError("APP_USERS is set but names no user; write APP_USERS=\"alice:secret\" or unset it")
    return list(users.values())


class LoginThrottle:
    """Counts failed logins per (user, address) and per address; refuses further tries while over the limit."""

    def __init__(self, per_user: int = MAX_FAILURES_PER_USER, per_address: int = MAX_FAILURES_PER_ADDRESS,
                 window_seconds: float = FAILURE_WINDOW_SECONDS, clock=time.monotonic):
        self.per_user, self.per_address, self.window = per_user, per_address, window_seconds
        self._clock = clock
        self._failures: dict[tuple, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple, now: float) -> deque:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until this user may try again from this address; 0 when a try is allowed now."""
        now = self._clock()
        with self._lock:
            waits = []
            for key, limit in (((user, address), self.per_user), (("*", address), self.per_address)):
                failures = self._recent(key, now)
                if len(failures) >= limit:
                    waits.append(failures[len(failures) - limit] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, user: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent((user, address), now).append(now)
            self._recent(("*", address), now).append(now)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._failures.pop((user, address), None)


class Authenticator:
    """The login check given to Gradio: right password, and not while throttled (then an HTTP 429)."""

    def __init__(self, users: list[User], throttle: LoginThrottle | None = None, address_of=lambda: "unknown"):
        self.users = {user.name: user for user in users}
        self.throttle = throttle or LoginThrottle()
        self.address_of = address_of        # the client address of the request being handled

    def role_of(self, name: str | None) -> str | None:
        user = self.users.get(name or "")
        return user.role if user else None

    def __call__(self, username: str, password: str) -> bool:
        address = self.address_of()
        wait = self.throttle.retry_after(username, address)
        if wait > 0:
            raise LoginThrottled(wait)
        user = self.users.get(username)
        # Compare even for an unknown name, so timing does not tell which names exist.
        expected = user.password if user else "\0" * 16
        ok = hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8")) and user is not None
        if ok:
            self.throttle.succeeded(username, address)
        else:
            self.throttle.failed(username, address)
        return ok


class LoginThrottled(Exception):
    """Too many failed logins for this user from this address (or from this address at all)."""

    def __init__(self, retry_after: float):
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"登录失败次数过多，请 {self.retry_after} 秒后再试。")
