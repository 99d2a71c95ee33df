from ninja import Router

router = Router(tags=["队伍与包联"])
