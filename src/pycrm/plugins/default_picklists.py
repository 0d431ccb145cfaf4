"""Built-in picklists: the keys of pycrm's fixed fields with labels in zh_CN, en_US and
ja_JP, and the free lists (industry, customer level, region) every tenant fills in itself.
"""

from __future__ import annotations

from pycrm.core.configuration import Choice, Picklist
from pycrm.plugins.hookspecs import hookimpl


def _fixed(name: str, labels: dict[str, tuple[str, str, str]]) -> Picklist:
    """A list of fixed keys; ``labels`` gives each key's (zh_CN, en_US, ja_JP) labels."""
    choices = [
        Choice(key, {"zh_CN": zh, "en_US": en, "ja_JP": ja}) for key, (zh, en, ja) in labels.items()
    ]
    return Picklist(name, choices, fixed=True)


PICKLISTS = [
    _fixed(
        "source",
        {
            "visit": ("上门拜访", "Visit", "訪問"),
            "campaign": ("市场活动", "Campaign", "キャンペーン"),
            "referral": ("客户介绍", "Referral", "紹介"),
            "assigned": ("上级分配", "Assigned", "割り当て"),
            "self_developed": ("自行开发", "Self-developed", "自社開拓"),
            "web": ("网站", "Website", "ウェブサイト"),
            "other": ("其他", "Other", "その他"),
        },
    ),
    _fixed(
        "customer_type",
        {
            "existing": ("现有客户", "Existing", "既存顧客"),
            "target": ("目标客户", "Target", "ターゲット"),
            "potential": ("潜在客户", "Potential", "見込み客"),
            "partner": ("合作伙伴", "Partner", "パートナー"),
            "blacklist": ("黑名单", "Blacklist", "ブラックリスト"),
            "competitor": ("竞争对手", "Competitor", "競合"),
        },
    ),
    _fixed(
        "customer_status",
        {
            "active": ("活跃", "Active", "アクティブ"),
            "normal": ("普通", "Normal", "通常"),
            "archived": ("封存", "Archived", "アーカイブ"),
            "churned": ("已流失", "Churned", "離反"),
        },
    ),
    _fixed(
        "contact_role",
        {
            "key_contact": ("关键联系人", "Key contact", "キーパーソン"),
            "decision_maker": ("决策者", "Decision maker", "意思決定者"),
            "influencer": ("影响者", "Influencer", "影響者"),
            "user": ("使用者", "User", "利用者"),
            "other": ("其他", "Other", "その他"),
        },
    ),
    _fixed(
        "ticket_type",
        {
            "consultation": ("咨询", "Consultation", "問い合わせ"),
            "suggestion": ("建议", "Suggestion", "提案"),
            "complaint": ("投诉", "Complaint", "苦情"),
            "support": ("维修/支持", "Repair / support", "修理・サポート"),
        },
    ),
    _fixed(
        "ticket_channel",
        {
            "phone": ("电话", "Phone", "電話"),
            "email": ("邮件", "Email", "メール"),
            "chat": ("在线聊天", "Chat", "チャット"),
            "social": ("社交媒体", "Social media", "ソーシャル"),
            "visit": ("上门", "Visit", "訪問"),
            "web": ("网站", "Website", "ウェブサイト"),
        },
    ),
    _fixed(
        "activity_type",
        {
            "task": ("任务", "Task", "タスク"),
            "call": ("电话", "Call", "電話"),
            "visit": ("拜访", "Visit", "訪問"),
            "email": ("邮件", "Email", "メール"),
            "meeting": ("会议", "Meeting", "会議"),
        },
    ),
    # Labels of the reasons pipelines offer (each pipeline lists the reasons it accepts).
    Picklist(
        "lost_reason",
        [
            Choice(key, {"zh_CN": zh, "en_US": en, "ja_JP": ja})
            for key, (zh, en, ja) in {
                "price": ("价格", "Price", "価格"),
                "competitor": ("竞争对手", "Competitor", "競合"),
                "no_budget": ("没有预算", "No budget", "予算なし"),
                "no_decision": ("未做决定", "No decision", "意思決定なし"),
                "timing": ("时机不对", "Timing", "タイミング"),
                "other": ("其他", "Other", "その他"),
            }.items()
        ],
        strict=False,
    ),
    Picklist("industry"),
    Picklist("customer_level"),
    Picklist("region"),
]


@hookimpl
def pycrm_register_picklists() -> list[Picklist]:
    return list(PICKLISTS)
