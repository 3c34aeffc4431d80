"""A feedback loop: a savings account whose balance feeds back into itself, month by month.

    Calendar --deposit--> Account --balance--> save (FileWriter)
    Calendar --month-------------------------> save
                          Account.balance --> Account.balance_in   (the loop)

``initial_values={"balance_in": [1000.0]}`` gives the loop its first value (without it the
model is refused before it runs: nothing could ever start the cycle). The model ends by itself:
the Calendar closes after ``months`` steps, so the Account's ``deposit`` input closes, the
Account finishes, and the loop and the writer close behind it.

    python examples/loop/savings.py               # writes savings.csv next to this file
    python examples/loop/savings.py out.csv
"""

import asyncio
import sys
import typing as _t
from pathlib import Path

from tapeflow import IO, AsyncioConnector, Component, ComponentArgsDict, ConnectorSpec, LocalProcess
from tapeflow.engine.library import FileWriter


class Calendar(Component):
    """Emits month 1..months with the same deposit each month, then closes."""

    io = IO(outputs=["month", "deposit"])

    def __init__(self, months: int, deposit: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._months = months
        self._deposit = deposit

    async def init(self) -> None:
        self._month = 0

    async def step(self) -> None:
        if self._month == self._months:
            await self.io.close()
            return
        self._month += 1
        self.month = self._month
        self.deposit = self._deposit


class Account(Component):
    """New balance = last balance with a month's interest, plus this month's deposit."""

    io = IO(inputs=["deposit", "balance_in"], outputs=["balance"])

    def __init__(self, rate: float, **kwargs: _t.Unpack[ComponentArgsDict]) -> None:
        super().__init__(**kwargs)
        self._rate = rate

    async def step(self) -> None:
        self.balance = self.balance_in * (1 + self._rate) + self.deposit


MONTHS, DEPOSIT, RATE, OPENING = 24, 100.0, 0.01, 1000.0


def build(path: str | Path, months: int = MONTHS) -> LocalProcess:
    return LocalProcess(
        components=[
            Calendar(name="calendar", months=months, deposit=DEPOSIT),
            Account(name="account", rate=RATE, initial_values={"balance_in": [OPENING]}),
            FileWriter(name="save", path=path, field_names=["month", "balance"]),
        ],
        connectors=[
            AsyncioConnector(spec=ConnectorSpec(source="calendar.deposit", target="account.deposit")),
            AsyncioConnector(spec=ConnectorSpec(source="account.balance", target="account.balance_in")),
            AsyncioConnector(spec=ConnectorSpec(source="account.balance", target="save.balance")),
            AsyncioConnector(spec=ConnectorSpec(source="calendar.month", target="save.month")),
        ],
    )


def expected_balance(months: int = MONTHS) -> float:
    """The closed form, to check the loop against: an annuity on top of compound interest."""
    growth = (1 + RATE) ** months
    return OPENING * growth + DEPOSIT * (growth - 1) / RATE


async def main(path: str | Path) -> None:
    process = build(path)
    async with process:
        await process.run()
    print(process.components["save"].describe_output())  # type: ignore[attr-defined]
    print(f"closing balance should be {expected_balance():.2f}")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "savings.csv"
    asyncio.run(main(out))
