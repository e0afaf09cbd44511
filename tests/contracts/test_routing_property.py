"""A property test of the routing state machine, on the real service and real signatures.

Hypothesis draws routing orders for three signers (sequential, parallel or mixed groups) and a
sequence of attempts to sign or decline by any of them. A small model says what must happen:
only the lowest group still waiting may sign, nobody signs twice, a decline ends the contract,
the contract completes exactly when every signer signed, and a refused attempt changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qianshu.contracts import service as contracts_service
from qianshu.contracts.errors import ContractState, NotYourTurn, SignerAlreadySigned
from qianshu.contracts.schemas import SignIn
from qianshu.core.runtime import Runtime
from tests.contracts.conftest import Sent
from tests.contracts.test_service import _contract, _signer

PHONES = ("13800138011", "13800138012", "13800138013")

Action = tuple[str, int]  # ("sign" | "decline", signer index)


class Model:
    """What the routing rules say, independent of the implementation."""

    def __init__(self, orders: list[int]) -> None:
        self.orders = orders
        self.status = ["waiting"] * len(orders)
        self.contract = "sent"

    def sign(self, i: int) -> type[Exception] | None:
        if self.status[i] == "signed":
            return SignerAlreadySigned
        if self.status[i] == "declined" or self.contract != "sent":
            return ContractState
        if self.orders[i] != min(o for o, s in zip(self.orders, self.status, strict=True) if s == "waiting"):
            return NotYourTurn
        self.status[i] = "signed"
        if all(s == "signed" for s in self.status):
            self.contract = "completed"
        return None

    def decline(self, i: int) -> type[Exception] | None:
        if self.status[i] != "waiting" or self.contract != "sent":
            return ContractState
        self.status[i], self.contract = "declined", "declined"
        return None


def test_routing_follows_the_model(runtime: Runtime, make_person: Callable[..., str], sent: Sent) -> None:
    owner = make_person("13900139011", verified=False)
    users = [make_person(phone) for phone in PHONES]

    # Each example signs for real (about half a second): 20 drawn plus the pinned ones stay under ~20 s.
    @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(
        orders=st.lists(st.integers(min_value=1, max_value=3), min_size=3, max_size=3),
        actions=st.lists(
            st.tuples(st.sampled_from(["sign", "sign", "decline"]), st.integers(0, 2)), min_size=1, max_size=6
        ),
    )
    # a parallel group before a single signer: the third waits for both, in either order
    @example(orders=[1, 1, 2], actions=[("sign", 2), ("sign", 1), ("sign", 2), ("sign", 0), ("sign", 2)])
    @example(orders=[2, 1, 1], actions=[("sign", 0), ("sign", 2), ("sign", 2), ("sign", 1), ("sign", 0)])
    # signing, or declining again, after someone declined is refused and changes nothing
    @example(orders=[1, 2, 3], actions=[("decline", 0), ("sign", 1), ("sign", 0), ("decline", 0)])
    @example(orders=[1, 1, 1], actions=[("sign", 0), ("decline", 1), ("sign", 2), ("sign", 0)])
    def run(orders: list[int], actions: list[Action]) -> None:
        pairs = enumerate(zip(PHONES, orders, strict=True))
        signers = [_signer(phone, order, 100 + 80 * i) for i, (phone, order) in pairs]
        contract_id, links = _contract(runtime, owner, signers)
        model = Model(orders)
        for kind, i in actions:
            expected = getattr(model, kind)(i)
            _attempt(runtime, sent, kind, links[PHONES[i]], PHONES[i], users[i], expected)
            with runtime.transaction() as s:
                now = contracts_service.get_contract_or_raise(session=s, contract_id=contract_id, owner_id=owner)
            assert now.status == model.contract
            by_phone = {r.contact_masked[-4:]: r.status for r in now.recipients}
            assert [by_phone[p[-4:]] for p in PHONES] == model.status
            assert now.signatures == model.status.count("signed")

    run()


def _attempt(
    runtime: Runtime, sent: Sent, kind: str, token: str, phone: str, user: str, expected: type[Exception] | None
) -> None:
    if kind == "decline":
        with runtime.transaction() as s:
            if expected is None:
                contracts_service.decline(session=s, clock=runtime.clock, token=token, reason="不同意", user_id=user)
            else:
                with pytest.raises(expected):
                    contracts_service.decline(
                        session=s, clock=runtime.clock, token=token, reason="不同意", user_id=user
                    )
        return
    if expected is not None:  # refused before any code is checked: nothing is consumed or sent
        with runtime.transaction() as s, pytest.raises(expected):
            contracts_service.sign(
                session=s, clock=runtime.clock, token=token, data=SignIn(code="000000"), user_id=user
            )
        return
    with runtime.transaction() as s:
        contracts_service.request_intent_code(session=s, clock=runtime.clock, token=token, user_id=user)
    code = sent.code(phone, "otp_contract_sign")
    with runtime.transaction() as s:
        contracts_service.sign(session=s, clock=runtime.clock, token=token, data=SignIn(code=code), user_id=user)
