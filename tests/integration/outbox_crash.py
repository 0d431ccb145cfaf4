"""Run by test_outbox.py in a process of its own: commit a unit of work with events, then
die (SIGKILL) in the first event handler, after the commit and before any delivery."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys

import pycrm

START = dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC)


class Die:
    name = "die"

    @pycrm.hookimpl
    def pycrm_on_event(self, event: pycrm.Event) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    url, tenant, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    crm = pycrm.CRM.connect(
        url,
        settings=pycrm.Settings(auto_migrate=True),
        plugins=[Die()],
        clock=pycrm.FixedClock(START),
        load_entry_points=False,
    )
    with crm.unit_of_work(tenant=tenant, user=pycrm.SYSTEM_USER) as uow:
        uow.customers.create_many([{"name": f"C{i}"} for i in range(count)])
    raise SystemExit("the handler should have killed this process")
