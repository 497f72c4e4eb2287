"""The fitted weights of the fact step: a linear scorer over the candidates' named features, a calibration of
its top choice into a probability of being right, and the thresholds under which no fact is shown.

The weights live in retrieval/resources/fact_weights.json, made by `python -m eval train-facts` (eval/facts.py)
from the gold facts of the visible sets (and silver questions generated from the corpus). The file is versioned
and checksummed; a missing, damaged or stale file raises FactModelError naming the file and the remedy.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from retrieval.errors import RetrievalError

WEIGHTS_FILE = Path(__file__).resolve().parents[1] / "resources" / "fact_weights.json"
FORMAT = "fact-weights"
VERSION = 1


class FactModelError(RetrievalError):
    """The fact weights cannot be used: missing, damaged, of another version or for other features."""


@dataclass(frozen=True)
class FactModel:
    """score(features) = Σ coef·(x − mean)/scale + intercept; the probability that the top candidate is right is
    σ(a·top + b·margin + d·sentence + c), from its score, its lead over the runner-up and the confidence of the
    sentence it stands in (retrieval.answer.select)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    calibration: tuple[float, float, float, float]   # a, b, d, c
    thresholds: Mapping[str, float]                 # gate family → least probability to show a fact
    trained_on: Mapping[str, object]

    def score(self, values: Mapping[str, float]) -> float:
        total = self.intercept
        for name, mean, scale, coef in zip(self.features, self.mean, self.scale, self.coef):
            total += coef * (values.get(name, 0.0) - mean) / scale
        return total

    def probability(self, top: float, margin: float, sentence: float = 1.0) -> float:
        a, b, d, c = self.calibration
        z = a * top + b * margin + d * sentence + c
        return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))

    def threshold(self, gate: str) -> float:
        return float(self.thresholds.get(gate, self.thresholds["default"]))

    def to_json(self) -> dict:
        body = {"format": FORMAT, "version": VERSION, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept,
                "calibration": list(self.calibration), "thresholds": dict(self.thresholds),
                "trained_on": dict(self.trained_on)}
        return {**body, "sha256": _checksum(body)}


def _checksum(body: Mapping) -> str:
    return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def parse_model(data: object, source: str, expected_features: Sequence[str]) -> FactModel:
    """A FactModel from the JSON of a weights file; FactModelError when it is not a sound file of this version."""
    remedy = "rebuild it with `python -m eval train-facts`"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FactModelError(f"{source} is not a fact-weights file; {remedy}")
    if data.get("version") != VERSION:
        raise FactModelError(f"{source} has version {data.get('version')!r}, this code reads version {VERSION}; {remedy}")
    body = {key: value for key, value in data.items() if key != "sha256"}
    if data.get("sha256") != _checksum(body):
        raise FactModelError(f"{source} is damaged (its checksum does not match its content); {remedy}")
    try:
        features = tuple(str(name) for name in data["features"])
        columns = [tuple(float(v) for v in data[key]) for key in ("mean", "scale", "coef")]
        calibration = tuple(float(v) for v in data["calibration"])
        thresholds = {str(k): float(v) for k, v in data["thresholds"].items()}
        intercept = float(data["intercept"])
    except (KeyError, TypeError, ValueError) as error:
        raise FactModelError(f"{source} lacks a field or holds a wrong value ({error}); {remedy}") from None
    if any(len(column) != len(features) for column in columns) or len(calibration) != 4 \
            or "default" not in thresholds or any(scale <= 0 for scale in columns[1]):
        raise FactModelError(f"{source} is inconsistent (feature columns, calibration or thresholds); {remedy}")
    if set(features) != set(expected_features):
        missing, extra = sorted(set(expected_features) - set(features)), sorted(set(features) - set(expected_features))
        raise FactModelError(f"{source} was trained for other features (missing {missing}, unknown {extra}); {remedy}")
    return FactModel(features, *columns, intercept, calibration, thresholds, dict(data.get("trained_on", {})))


def read_model(path: Path, expected_features: Sequence[str]) -> FactModel:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FactModelError(f"fact weights {path} not found; rebuild them with `python -m eval train-facts`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FactModelError(f"fact weights {path} cannot be read ({error}); "
                             "rebuild them with `python -m eval train-facts`") from None
    return parse_model(data, str(path), expected_features)


@lru_cache(maxsize=4)
def load_model(path: Path = WEIGHTS_FILE) -> FactModel:
    """The fact weights (read once per process)."""
    from retrieval.answer.candidates import FEATURE_NAMES

    return read_model(path, FEATURE_NAMES)
