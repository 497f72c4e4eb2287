"""Text of scanned PDF pages by OCR: staff often keep the stamped, scanned copy of a plan, a PDF of page images
with no text layer.

A page is rendered by PDFium (PyPI's pypdfium2) and read by RapidOCR (PyPI's rapidocr-onnxruntime: PP-OCRv4
text detection and Chinese recognition on ONNX Runtime, its models inside the wheel, so nothing is fetched).
The boxes it finds are put back into lines, top to bottom and left to right, as the page shows them; the lines
then go through the same cleaning as any other text.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence

__all__ = ["OcrUnavailable", "ocr_available", "ocr_pages", "lines_from_boxes", "RENDER_SCALE"]

log = logging.getLogger(__name__)

RENDER_SCALE = 2.5            # PDF points → pixels: 180 dpi, enough for body text of 10.5 pt and up
MIN_CONFIDENCE = 0.5          # boxes the recogniser is less sure of are noise (stamps, specks, table rules)
_engine = None
_engine_lock = threading.Lock()
_inherited: list = []                 # recognisers a forked worker inherited (see _forget_in_child)


def _forget_in_child() -> None:
    """A forked build worker makes its own recogniser: ONNX Runtime's threads do not survive a fork. The
    inherited one is kept, never freed: its destructor would wait for those threads and hang the worker."""
    global _engine, _engine_lock
    if _engine is not None:
        _inherited.append(_engine)
    _engine, _engine_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


class OcrUnavailable(RuntimeError):
    """The OCR packages are not installed (they are in requirements.txt)."""


def ocr_available() -> bool:
    """True when the OCR packages are installed (looked up, not imported: ONNX Runtime and OpenCV load slowly)."""
    return all(importlib.util.find_spec(name) is not None for name in ("pypdfium2", "rapidocr_onnxruntime"))


def _recogniser():
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as error:
                raise OcrUnavailable(f"OCR needs rapidocr-onnxruntime: {error}") from error
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)
            _engine = RapidOCR()
        return _engine


def lines_from_boxes(boxes: Sequence[tuple[Sequence[Sequence[float]], str, float]]) -> list[str]:
    """Text lines from OCR boxes ([4 corner points], text, confidence), in reading order.

    A box belongs to the line whose vertical centre it shares (within half the line's height); the boxes of a
    line are joined left to right, with a space only between two Latin letters or digits.
    """
    placed = []
    for corners, text, confidence in boxes:
        if not text or not text.strip() or float(confidence) < MIN_CONFIDENCE:
            continue
        ys = [point[1] for point in corners]
        xs = [point[0] for point in corners]
        placed.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text.strip()))
    placed.sort()
    lines: list[list[tuple[float, str]]] = []
    line_centre = line_height = 0.0
    for centre, height, left, text in placed:
        if lines and abs(centre - line_centre) <= max(line_height, height) / 2:
            lines[-1].append((left, text))
        else:
            lines.append([(left, text)])
            line_centre, line_height = centre, height
    joined = []
    for line in lines:
        pieces = [text for _, text in sorted(line)]
        out = pieces[0]
        for piece in pieces[1:]:
            spaced = out[-1].isascii() and out[-1].isalnum() and piece[0].isascii() and piece[0].isalnum()
            out += (" " if spaced else "") + piece
        joined.append(out)
    return joined


def ocr_pages(data: bytes, page_numbers: Sequence[int]) -> dict[int, str]:
    """Page number (0-based) → the text OCR reads on it, for the given pages of the PDF in `data`."""
    try:
        import numpy as np
        import pypdfium2
    except ImportError as error:
        raise OcrUnavailable(f"OCR needs pypdfium2: {error}") from error
    recogniser = _recogniser()
    document = pypdfium2.PdfDocument(data)
    texts = {}
    try:
        for number in page_numbers:
            page = document[number]
            try:
                image = page.render(scale=RENDER_SCALE).to_pil().convert("RGB")
            finally:
                page.close()
            boxes, _ = recogniser(np.asarray(image))
            texts[number] = "\n".join(lines_from_boxes(boxes or []))
    finally:
        document.close()
    log.info("OCR read %d page(s)", len(texts))
    return texts
