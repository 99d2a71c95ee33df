from ninja import Router

router = Router(tags=["物联感知"])
