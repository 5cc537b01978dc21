"""Station settings that administrators change in the app, with defaults."""

import peewee
from flask_babel import lazy_gettext as _l

from db.base import BaseModel, utcnow

# key: (default, label, unit). Values are whole numbers.
DEFAULTS = {
    "search_notice_hours": (24, _l("入站后发布寻亲公告的期限"), _l("小时")),
    "dna_request_workdays": (7, _l("经公安申请DNA采样的期限"), _l("个工作日")),
    "long_stay_days": (10, _l("列为长期滞留并评估的天数"), _l("天")),
    "settlement_months": (3, _l("考虑落户安置的期限"), _l("个月")),
    "weight_sex": (6, _l("比对加减分：性别"), _l("分")),
    "weight_age": (6, _l("比对加减分：年龄"), _l("分")),
    "weight_dates": (4, _l("比对加减分：走失与发现时间先后"), _l("分")),
    "weight_place": (3, _l("比对加减分：地点与口音"), _l("分")),
    "weight_height": (3, _l("比对加减分：身高"), _l("分")),
    "weight_marks": (3, _l("比对加减分：体貌特征"), _l("分")),
    "verification_answer_workdays": (
        10,
        _l("身份核实请求的答复期限"),
        _l("个工作日"),
    ),
    "verification_baseline_year": (2023, _l("身份核实成效对比的基准年份"), _l("年")),
}


class Setting(BaseModel):
    key = peewee.CharField(max_length=50, unique=True)
    value = peewee.IntegerField()
    updated_at = peewee.DateTimeField(default=utcnow)

    @classmethod
    def get_value(cls, key):
        stored = cls.select(cls.value).where(cls.key == key).scalar()
        return DEFAULTS[key][0] if stored is None else stored

    @classmethod
    def all_values(cls):
        stored = {s.key: s.value for s in cls.select()}
        return {key: stored.get(key, default[0]) for key, default in DEFAULTS.items()}

    @classmethod
    def put(cls, key, value):
        if key not in DEFAULTS:
            raise KeyError(key)
        cls.insert(key=key, value=value, updated_at=utcnow()).on_conflict(
            conflict_target=[cls.key],
            update={cls.value: value, cls.updated_at: utcnow()},
        ).execute()
