"""The header row of an indicator table: which column holds what, found by name."""

from __future__ import annotations

import re

COLUMNS: dict[str, tuple[str, ...]] = {
    "number": ("序号",),
    "level1": ("一级指标",),
    "level2": ("二级指标",),
    "level3": ("三级指标", "观测点", "评价要素"),
    "description": ("说明", "指标说明", "内涵", "指标内涵", "评价内容"),
    "scoring_rule": ("计分方法", "计分办法", "评分标准", "评分方法", "计分标准"),
    "self_score": ("自评得分", "自评分", "自评分数"),
    "catalog": ("佐证材料目录", "佐证材料", "支撑材料", "佐证材料清单", "佐证材料名称"),
    "department": ("责任部门", "牵头部门", "责任单位"),
    "owner": ("责任人",),
    "due_date": ("截止日期", "完成时限", "截止时间"),
    "remarks": ("备注",),
}
REQUIRED = ("level3",)
HEADER_MIN_MATCHES = 4


def norm_header(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def find_header(rows: list[list[str]]) -> tuple[int, dict[str, int]] | None:
    """The header row (index) and column positions, found by names wherever they are."""
    for i, row in enumerate(rows[:50]):
        columns: dict[str, int] = {}
        for j, cell in enumerate(row):
            name = norm_header(cell)
            for key, names in COLUMNS.items():
                if key not in columns and name in names:
                    columns[key] = j
                    break
        if len(columns) >= HEADER_MIN_MATCHES and all(k in columns for k in REQUIRED):
            return i, columns
    return None
