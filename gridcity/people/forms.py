"""Forms of the people pages: they parse and check types; the rules live in the actions, whose
errors the views put back on the field they name."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gridcity.accounts.models import Department, Role, User
from gridcity.grids.models import Area, AreaLevel
from gridcity.people.models import ActivityKind
from gridcity.people.naming import natural_key

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class AreaChoiceField(forms.ModelChoiceField):
    """An area by its name and code, in the reader's language."""

    def label_from_instance(self, obj: Area) -> str:
        return gettext("%(name)s（%(code)s）") % {"name": obj.name, "code": obj.code}


class ActionForm(forms.Form):
    def add_action_error(self, exc) -> None:
        """Show an action's error on the field it names, else above the form."""
        name = (exc.field or "").split("[")[0].split(".")[0]
        self.add_error(name if name in self.fields else None, exc.message)


def communities():
    return Area.objects.filter(level=AreaLevel.COMMUNITY, is_active=True).order_by("code")


class PairingForm(ActionForm):
    leader = forms.ModelChoiceField(
        label=_("包联领导"),
        required=False,
        queryset=User.objects.filter(
            is_active=True, role__in=[Role.LEADER, Role.DEPT_LEAD]
        ).order_by("role", "username"),
        help_text=_("领导或单位二选一"),
    )
    department = forms.ModelChoiceField(
        label=_("包联单位"), required=False, queryset=Department.objects.order_by("code")
    )
    community = AreaChoiceField(label=_("村(社区)"), queryset=communities())
    starts_on = forms.DateField(label=_("开始日期"), widget=DATE)
    ends_on = forms.DateField(label=_("结束日期"), required=False, widget=DATE)
    visits_per_month = forms.IntegerField(label=_("每月应走访次数"), initial=1)
    tasks = forms.CharField(
        label=_("包联任务"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一项"),
    )
    requirements = forms.CharField(
        label=_("工作要求"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class PairingUpdateForm(ActionForm):
    visits_per_month = forms.IntegerField(label=_("每月应走访次数"))
    ends_on = forms.DateField(label=_("计划结束日期"), required=False, widget=DATE)
    tasks = forms.CharField(
        label=_("包联任务"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一项"),
    )
    requirements = forms.CharField(
        label=_("工作要求"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class EndPairingForm(ActionForm):
    ends_on = forms.DateField(label=_("结束日期"), widget=DATE)
    reason = forms.CharField(label=_("结束原因"), max_length=300)


class ScoreSheetForm(ActionForm):
    name = forms.CharField(label=_("评分表名称"), max_length=100)
    items = forms.CharField(
        label=_("评分项"),
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": _("走访频次 30\n问题解决 40")}),
        help_text=_("每行一项：名称 空格 满分"),
    )

    def clean_items(self) -> list[tuple[str, str]]:
        rows = []
        for n, line in enumerate(self.cleaned_data["items"].splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            name, _sep, top = line.rpartition(" ")
            if not name.strip():
                raise forms.ValidationError(
                    _("第 %(n)d 行应为“名称 满分”，如“走访频次 30”"), params={"n": n}
                )
            rows.append((name.strip(), top))
        return rows


class SurveyForm(ActionForm):
    title = forms.CharField(label=_("调查名称"), max_length=200)
    awareness = forms.CharField(
        label=_("知晓程度题目"), max_length=200, required=False, help_text=_("留空用默认题目")
    )
    participation = forms.CharField(label=_("参与程度题目"), max_length=200, required=False)
    support = forms.CharField(label=_("支持程度题目"), max_length=200, required=False)
    scale_max = forms.IntegerField(label=_("量表最高分"), initial=5)
    positive_from = forms.IntegerField(label=_("计为肯定的最低分"), initial=4)


class ActivityForm(ActionForm):
    station = forms.CharField(label=_("新时代文明实践站"), max_length=100)
    community = AreaChoiceField(label=_("村(社区)"), required=False, queryset=communities())
    kind = forms.ChoiceField(label=_("类型"), choices=ActivityKind.choices)
    theme = forms.CharField(label=_("主题"), max_length=200)
    held_at = forms.DateTimeField(
        label=_("时间"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    place = forms.CharField(label=_("地点"), max_length=200)
    attendance = forms.IntegerField(label=_("参与人数"), required=False, min_value=0)
    photo = forms.FileField(
        label=_("照片"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        help_text=_("公开展示，保存时去除定位等元数据"),
    )


class TrainingForm(ActionForm):
    title = forms.CharField(label=_("培训主题"), max_length=200)
    held_on = forms.DateField(label=_("培训日期"), widget=DATE)
    place = forms.CharField(label=_("地点"), max_length=200, required=False)
    hours = forms.DecimalField(label=_("学时"), initial=2, max_digits=4, decimal_places=1)
    qualification = forms.CharField(
        label=_("结业取得资格"),
        max_length=200,
        required=False,
        help_text=_("如“网格员上岗资格”；参训人员签到后记入其资格"),
    )
    qualification_years = forms.IntegerField(label=_("资格有效期(年)"), required=False)


class AttendanceForm(ActionForm):
    attendees = forms.ModelMultipleChoiceField(
        label=_("参训网格员"),
        required=False,
        queryset=User.objects.filter(role=Role.INSPECTOR, is_active=True),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["attendees"]
        # 网格员2 before 网格员10: the list a clerk ticks is in the order of the sign-in sheet.
        field.choices = [
            (u.pk, str(u))
            for u in sorted(field.queryset, key=lambda u: natural_key(str(u), u.username))
        ]
