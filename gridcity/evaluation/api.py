from ninja import Router

router = Router(tags=["综合评价"])
