from ninja import Router, Schema

from gridcity.accounts.models import Department

router = Router(tags=["部门与用户"])


class DepartmentOut(Schema):
    id: int
    code: str
    name: str
    parent_code: str | None
    kind: str


class MeOut(Schema):
    id: int
    username: str
    name: str
    role: str
    role_label: str
    department: str | None


@router.get("/departments", response=list[DepartmentOut], summary="部门列表")
def list_departments(request):
    return [
        DepartmentOut(
            id=d.pk,
            code=d.code,
            name=d.name,
            parent_code=d.parent.code if d.parent_id else None,
            kind=d.kind,
        )
        for d in Department.objects.filter(is_active=True).select_related("parent")
    ]


@router.get("/me", response=MeOut, summary="当前用户")
def me(request):
    u = request.user
    return MeOut(
        id=u.pk,
        username=u.username,
        name=str(u),
        role=u.role,
        role_label=u.get_role_display(),
        department=u.department.name if u.department_id else None,
    )
