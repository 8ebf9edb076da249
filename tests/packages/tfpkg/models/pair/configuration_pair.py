from dataclasses import dataclass


@dataclass
class PairConfig:
    width: int = 6
    depth: int = 3
