from django.core.management.base import BaseCommand

from gridcity.campaigns.actions import sweep_rebounds, tag_campaign
from gridcity.campaigns.models import Campaign


class Command(BaseCommand):
    help = "补标：把各专项整治范围内（类别、区域、时间）的案件纳入整治并生成台账；再检查反弹。"

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="只处理这个专项整治（ID）")

    def handle(self, *args, **o):
        qs = Campaign.objects.all()
        if o["campaign"]:
            qs = qs.filter(pk=o["campaign"])
        for c in qs:
            self.stdout.write(f"{c.name}：新纳入案件 {tag_campaign(c)}")
        self.stdout.write(f"新反弹预警 {sweep_rebounds()}")
