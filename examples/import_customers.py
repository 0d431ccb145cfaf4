"""Import customers from CSV: every bad row is reported by its line number, and a file with
any bad row imports nothing.

Run: python examples/import_customers.py
"""

from __future__ import annotations

import csv
import io

import pycrm

CSV = """name,industry,level,source,phone,email
北京联成互动软件技术有限公司,software,A,referral,010-8888 0001,info@liancheng.cn
上海新世纪广告有限公司,advertising,B,campaign,021-6666 0002,ad@xsj.cn
,food,C,web,0571-1234 5678,
杭州西湖食品有限公司,food,C,rumour,0571-1234 5678,sales@xihu
"""


def rows(text: str) -> list[dict[str, str | None]]:
    # Empty CSV cells mean "no value".
    return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


def main() -> None:
    crm = pycrm.CRM.connect("memory://")
    acme = crm.as_user(pycrm.SYSTEM_USER, tenant="acme")
    try:
        acme.customers.create_many(rows(CSV))
    except pycrm.ValidationError as error:
        for path, reason in error.errors:
            row, _, field = path.partition(".")
            print(f"line {int(row) + 2}: {field}: {reason}")  # +2: header line, 1-based
    print("customers after the failed import:", acme.customers.count())

    good = "\n".join(
        line for line in CSV.splitlines() if "rumour" not in line and ",food,C,web" not in line
    )
    created = acme.customers.create_many(rows(good))
    print("imported:", [c.name for c in created])
    assert acme.customers.count() == 2


if __name__ == "__main__":
    main()
