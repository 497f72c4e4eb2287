"""The seed corpus as the tests know it: where it is and the file name of each seed document."""
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SEED_000 = "永兴街道2021年工作规划.txt"
SEED_001 = "吴淞街道2021年工作要点.txt"
SEED_002 = "万里街道2021年工作计划.txt"
SEED_003 = "某街道2020年下半年工作计划.txt"
SEED_004 = "某开发区2020年工作总结和2021年工作思路.txt"
ALL_SEEDS = (SEED_000, SEED_001, SEED_002, SEED_003, SEED_004)


def read_seed(name: str) -> str:
    """The raw text of a seed document (read only; tests that write use a copy in tmp_path)."""
    return (CORPUS / name).read_text(encoding="utf-8")
