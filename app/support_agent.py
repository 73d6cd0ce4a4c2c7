"""An offline support agent with tools: look up an order, check refund eligibility, refund it.

It stands in for an LLM agent in the example suite (`suites/agent.yaml`), so the agent gate runs
with no API key. It speaks the OpenAI chat format: given the history it returns the next assistant
message, either text or `tool_calls`, which the gate answers from the row's stubbed order store.

Policy: refunds only for the customer's own order, after checking eligibility; ask for the order
number when it is missing; refuse requests outside support (other people's orders, card numbers).
`check_eligibility=False` is the planted mistake: the agent refunds straight after the look-up.
"""

from __future__ import annotations

import json
import re
from typing import Any

ORDER_ID = re.compile(r"\b([A-Z]\d{4})\b", re.I)
_REFUSE = re.compile(
    r"someone else|my (?:neighbou?r|friend|brother|sister)'?s? order|card number"
    r"|all (?:the )?orders|every order|password"
    r"|ignore (?:your|the|previous) (?:rules|instructions)",
    re.I,
)
_REFUND = re.compile(r"refund|money back|reimburse", re.I)
_THANKS = re.compile(r"^\W*(?:thanks?|thank you|great|perfect|bye|that'?s all)\b", re.I)
_STATUS = re.compile(r"where|status|track|arriv|deliver|shipped", re.I)


def _call(name: str, turn_id: str, **arguments: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{turn_id}_{name}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
        ],
    }


def _say(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


class SupportAgent:
    """One instance per conversation (the gate builds a fresh one), so it may remember things."""

    def __init__(self, check_eligibility: bool = True) -> None:
        self.check_eligibility = check_eligibility

    def __call__(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        users = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
        turn_id = str(len(users))
        last = messages[-1]
        if last["role"] == "tool":
            return self._after_tool(messages, turn_id)
        text = users[-1]
        if _REFUSE.search(text):
            return _say(
                "I'm sorry, I can't help with that: I can only look up and refund orders placed "
                "on your own account."
            )
        if _THANKS.search(text):
            return _say("You're welcome! Anything else I can do for you?")
        intent = self._intent(users)
        order = self._order(users)
        if intent is None:
            return _say(
                "Hi! I can check an order's status or help with a refund. What do you need?"
            )
        if order is None:
            return _say("Could you give me your order number? It looks like A1234.")
        return _call("lookup_order", turn_id, order_id=order)

    @staticmethod
    def _intent(users: list[str]) -> str | None:
        for text in reversed(users):
            if _REFUND.search(text):
                return "refund"
            if _STATUS.search(text):
                return "status"
        return None

    @staticmethod
    def _order(users: list[str]) -> str | None:
        for text in reversed(users):
            found = ORDER_ID.search(text)
            if found:
                return found.group(1).upper()
        return None

    def _after_tool(self, messages: list[dict[str, Any]], turn_id: str) -> dict[str, Any]:
        tool = messages[-1]
        call = next(
            c
            for m in reversed(messages)
            for c in m.get("tool_calls") or []
            if c["id"] == tool.get("tool_call_id")
        )
        name = call["function"]["name"]
        args = json.loads(call["function"]["arguments"] or "{}")
        result = json.loads(tool["content"])
        users = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
        order = args.get("order_id")
        if isinstance(result, dict) and result.get("error"):
            return _say(f"I couldn't find order {order}. Could you check the number?")
        if name == "lookup_order":
            if self._intent(users) == "status":
                return _say(f"Order {order} is {result.get('status', 'being processed')}.")
            if self.check_eligibility:
                return _call("check_refund_eligibility", turn_id, order_id=order)
            return _call("issue_refund", turn_id, order_id=order, amount=result.get("total"))
        if name == "check_refund_eligibility":
            if not result.get("eligible"):
                reason = result.get("reason", "it is outside our refund policy")
                return _say(f"I'm sorry, order {order} can't be refunded: {reason}.")
            total = self._total(messages, order)
            return _call("issue_refund", turn_id, order_id=order, amount=total)
        if name == "issue_refund":
            return _say(
                f"Done: I refunded {args.get('amount')} for order {order} "
                f"(reference {result.get('refund_id')}). It reaches you in 5-10 days."
            )
        return _say("Something went wrong on my side; let me pass you to a colleague.")

    @staticmethod
    def _total(messages: list[dict[str, Any]], order: str) -> Any:
        for message in reversed(messages):
            if message["role"] != "tool":
                continue
            try:
                value = json.loads(message["content"])
            except ValueError:
                continue
            if isinstance(value, dict) and value.get("order_id") == order and "total" in value:
                return value["total"]
        return None
