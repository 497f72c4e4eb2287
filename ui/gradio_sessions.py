"""Cheaper Gradio sessions: each component's config is built when a session first needs it, not all at its start.

Gradio 6.31 builds the config of every component of the app (here about 70, each through inspect.signature)
whenever a new session starts, and every API call without a session hash (`/gradio_api/call/search` with
curl, say) is a new session: under load that was about 40 % of the server's time. Only deep links read the
whole set; an API call needs none of it. `enable()` makes the mapping fill itself on first use, with the
same content. It applies to the Gradio version it was checked against and changes nothing on another one.
"""
from __future__ import annotations

import logging
from types import SimpleNamespace

CHECKED_GRADIO_VERSION = "6.31.0"
logger = logging.getLogger(__name__)
_enabled = False


class ConfigsOnDemand(dict):
    """block id -> its config, computed on first access; iterating computes whatever is still missing."""

    def __init__(self, blocks_config, ids):
        super().__init__()
        self._blocks_config = blocks_config
        self._ids = list(ids)

    def _compute(self, key):
        config = self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
        dict.__setitem__(self, key, config)
        return config

    def __missing__(self, key):
        if key in self._ids and key in self._blocks_config.blocks:
            return self._compute(key)
        raise KeyError(key)

    def _fill(self):
        for key in self._ids:
            if not dict.__contains__(self, key) and key in self._blocks_config.blocks:
                self._compute(key)

    def items(self):
        self._fill()
        return super().items()

    def values(self):
        self._fill()
        return super().values()

    def keys(self):
        self._fill()
        return super().keys()

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def __len__(self):
        self._fill()
        return super().__len__()


def enable() -> bool:
    """Patch gradio.state_holder.SessionState once; returns whether it applies (the checked Gradio version)."""
    global _enabled
    import gradio
    from gradio import state_holder

    if _enabled:
        return True
    if gradio.__version__ != CHECKED_GRADIO_VERSION:
        logger.info("gradio %s (not %s): sessions keep Gradio's own config building", gradio.__version__,
                    CHECKED_GRADIO_VERSION)
        return False
    original_init = state_holder.SessionState.__init__

    def init(self, blocks):
        # Gradio's own __init__ over an empty component list sets every other attribute as it always does.
        original_init(self, SimpleNamespace(default_config=blocks.default_config, blocks={}))
        self.config_values = ConfigsOnDemand(self.blocks_config,
                                             [key for key in self.blocks_config.blocks if key in blocks.blocks])

    state_holder.SessionState.__init__ = init
    _enabled = True
    return True
