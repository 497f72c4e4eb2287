"""API calls that leave values out: the endpoint's defaults fill them, or a clear message says which are missing.

Gradio 6.31 refuses a call with fewer values than the endpoint has parameters (`{"data": ["吴淞…"]}` to
`/gradio_api/call/search`) with an English ValueError that quotes every value received, printed as a
traceback into the server log: the client saw `{"error": null}` and the log got the request body. `enable()`
makes a `gr.api` endpoint take the defaults of its function's signature for the values left out, as
gradio_client already does, and answers any other short call with a Chinese message naming the missing
parameters, never their values. It applies to the Gradio version it was checked against.
"""
from __future__ import annotations

import logging

CHECKED_GRADIO_VERSION = "6.31.0"
logger = logging.getLogger(__name__)
_enabled = False


def missing_defaults(block_fn, given: int) -> list | None:
    """The defaults of an API endpoint's parameters after the first `given`, or None when one of them has none
    (or the endpoint is not a `gr.api` function whose parameters are its inputs)."""
    from gradio.components.api_component import Api
    from gradio.utils import get_function_params

    if block_fn.fn is None or not all(isinstance(block, Api) for block in block_fn.inputs):
        return None
    params = get_function_params(block_fn.fn)
    if len(params) != len(block_fn.inputs) or not all(has_default for _, has_default, _, _ in params[given:]):
        return None
    return [default for _, _, default, _ in params[given:]]


def missing_message(block_fn, given: int) -> str:
    """Which parameters a call left out, by name and count; the values it did send are not repeated."""
    from gradio.utils import get_function_params

    wanted = len(block_fn.inputs)
    names = [name for name, *_ in get_function_params(block_fn.fn)] if block_fn.fn is not None else []
    endpoint = block_fn.api_name or block_fn.name or "这个接口"
    if len(names) == wanted:
        return (f"调用 {endpoint} 少了参数 {'、'.join(names[given:])}（需要 {wanted} 个值，收到 {given} 个）。"
                f"参数依次是 {', '.join(names)}。")
    return f"调用 {endpoint} 少了参数（需要 {wanted} 个值，收到 {given} 个）。"


def fill_or_refuse(block_fn, inputs: list) -> None:
    """Blocks.validate_inputs: extend a short `inputs` in place with the defaults, or raise gr.Error (no traceback)."""
    import gradio as gr

    given = len(inputs)
    if given >= len(block_fn.inputs):
        return
    defaults = missing_defaults(block_fn, given)
    if defaults is None:
        logger.info("call of %s with %d of %d values refused", block_fn.api_name or block_fn.name, given,
                    len(block_fn.inputs))
        raise gr.Error(missing_message(block_fn, given), print_exception=False)
    inputs.extend(defaults)


def enable() -> bool:
    """Patch gradio.Blocks.validate_inputs once; returns whether it applies (the checked Gradio version)."""
    global _enabled
    import gradio

    if _enabled:
        return True
    if gradio.__version__ != CHECKED_GRADIO_VERSION:
        logger.info("gradio %s (not %s): short API calls keep Gradio's own check", gradio.__version__,
                    CHECKED_GRADIO_VERSION)
        return False
    gradio.Blocks.validate_inputs = lambda self, block_fn, inputs: fill_or_refuse(block_fn, inputs)
    _enabled = True
    return True
