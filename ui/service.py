"""Old home of the app's operations, kept importable for one release: import from ui.operations (EngineService),
ui.chat, ui.listings, ui.corpus_admin, ui.roles and ui.requests instead."""
from ui.chat import CITATIONS_SHOWN, AnswerCache, Turn  # noqa: F401
from ui.corpus_admin import UploadOutcome  # noqa: F401
from ui.listings import AUDIT_SHOWN  # noqa: F401
from ui.operations import EngineService  # noqa: F401
from ui.requests import (BACKEND_DOWN_MESSAGE, DEFAULT_K, YEAR_RANGE, UserFacingError, check_request,  # noqa: F401
                         parse_aliases, parse_years)
