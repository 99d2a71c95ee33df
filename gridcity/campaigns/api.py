from ninja import Router

router = Router(tags=["专项整治与督查"])
