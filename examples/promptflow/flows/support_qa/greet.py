from promptflow.core import tool


@tool
def greet(question: str) -> str:
    return "Hello! Ask me about plans, refunds or exports."
