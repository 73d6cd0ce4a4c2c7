from promptflow.core import tool


@tool
def grade(groundtruth: str, prediction: str) -> float:
    words = set(groundtruth.lower().replace(".", "").split())
    said = set(prediction.lower().replace(".", "").split())
    return 1.0 if words and len(words & said) / len(words) >= 0.6 else 0.0
