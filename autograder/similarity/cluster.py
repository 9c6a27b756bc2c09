"""Groups of students linked by flagged pairs (three students sharing one solution)."""
from __future__ import annotations


def clusters(members: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Connected components with two or more members, largest first, each sorted by name."""
    parent = {m: m for m in members}

    def root(m: str) -> str:
        while parent[m] != m:
            parent[m] = parent[parent[m]]  # path halving keeps the trees flat
            m = parent[m]
        return m

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for m in members:
        groups.setdefault(root(m), []).append(m)
    found = [sorted(g) for g in groups.values() if len(g) >= 2]
    return sorted(found, key=lambda g: (-len(g), g))
